/// The ids of the messages received lately, to drop a message the server delivers again
/// (after a crash, or when an unacknowledged message is redelivered).
///
/// Bounded: it remembers at least the last `capacity` ids and at most twice that many, so a
/// session that runs for days holds a fixed amount of memory. Kept as two generations of
/// `capacity` ids each, the older dropped whole when the newer fills, rather than one set
/// that forgets its oldest id on every insert: removing from a hash set costs more than the
/// insert and the lookup together, and this runs for every message.
public struct ReceivedMessages: Sendable {
    /// How many ids are remembered at least.
    public let capacity: Int
    /// The newest ids, up to `capacity`.
    private var recent: Set<String>
    /// The generation before `recent`.
    private var older: Set<String> = []

    /// Remembers at least the last `capacity` ids (at least one).
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        recent = Self.generation(capacity: self.capacity)
    }

    /// An empty generation, with room for its first ids.
    private static func generation(capacity: Int) -> Set<String> {
        Set(minimumCapacity: min(capacity, 1_024))
    }

    /// Records `id`; false when it was already there (a duplicate).
    public mutating func insert(_ id: String) -> Bool {
        guard !older.contains(id), recent.insert(id).inserted else { return false }
        if recent.count == capacity {
            older = recent
            recent = Self.generation(capacity: capacity)
        }
        return true
    }

    /// True when `id` is remembered.
    public func contains(_ id: String) -> Bool {
        recent.contains(id) || older.contains(id)
    }

    /// How many ids are remembered now.
    public var count: Int { recent.count + older.count }
}

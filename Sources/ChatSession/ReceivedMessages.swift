/// The ids of the messages received lately, to drop a message the server delivers again
/// (after a crash, or when an unacknowledged message is redelivered).
///
/// Bounded: once `capacity` ids are held, each new one pushes out the oldest, so a session
/// that runs for days holds a fixed amount of memory.
public struct ReceivedMessages: Sendable {
    /// How many ids are remembered.
    public let capacity: Int
    private var ids: Set<String>
    /// The remembered ids in arrival order, as a ring: `oldest` is the next to go.
    private var order: [String]
    private var oldest = 0

    /// Remembers up to `capacity` ids (at least one).
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        ids = Set(minimumCapacity: min(self.capacity, 1_024))
        order = []
    }

    /// Records `id`; false when it was already there (a duplicate).
    public mutating func insert(_ id: String) -> Bool {
        guard ids.insert(id).inserted else { return false }
        if order.count < capacity {
            order.append(id)
        } else {
            ids.remove(order[oldest])
            order[oldest] = id
            oldest = (oldest + 1) % capacity
        }
        return true
    }

    /// True when `id` is remembered.
    public func contains(_ id: String) -> Bool {
        ids.contains(id)
    }

    /// How many ids are remembered now.
    public var count: Int { ids.count }
}

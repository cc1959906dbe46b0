import Foundation

/// One recipient's waiting messages in the order they were stored, with what the caps,
/// counts and expiry need, and no bodies.
///
/// The GDBM store's mirror and the in-memory twin keep their inboxes in this type; what
/// may go into one is decided by `InboxRules`.
struct InboxIndex: Sendable, Equatable {
    /// What the index knows about one message.
    struct Entry: Sendable, Equatable {
        let id: String
        let from: String
        /// `StoredMessage.storageSize`: what the message counts against the byte cap.
        let size: Int
        let sentAtMilliseconds: Int64

        init(id: String, from: String, size: Int, sentAtMilliseconds: Int64) {
            self.id = id
            self.from = from
            self.size = size
            self.sentAtMilliseconds = sentAtMilliseconds
        }

        init(_ message: StoredMessage) {
            self.init(
                id: message.id,
                from: message.from,
                size: message.storageSize,
                sentAtMilliseconds: message.sentAtMilliseconds
            )
        }
    }

    /// The messages, oldest (first stored) first, with a hole (nil) where one was removed.
    ///
    /// Holes, not `Array.remove`: acknowledgements remove messages one at a time, and
    /// closing the gap each time would make draining a K-message inbox cost O(K²).
    /// `compactIfSparse()` drops the holes once they outnumber the messages.
    private var slots: [Entry?] = []

    /// Where each message sits in `slots`, by id: `contains` and `remove` in O(1).
    private var positions: [String: Int] = [:]

    /// Sum of the entries' sizes.
    private(set) var totalBytes = 0

    /// What the inbox holds, for `InboxRules.refusal(adding:to:of:limits:)`.
    var usage: InboxUsage { InboxUsage(messages: count, bytes: totalBytes) }

    /// Creates an empty index.
    init() {}

    /// An index holding `entries` in the given order; a repeated id is kept once, at its
    /// first place.
    init(entries: [Entry]) {
        for entry in entries where !contains(id: entry.id) {
            append(entry)
        }
    }

    /// The messages, oldest (first stored) first.
    var entries: [Entry] { slots.compactMap { $0 } }

    /// How many messages there are.
    var count: Int { positions.count }

    var isEmpty: Bool { positions.isEmpty }

    /// Whether a message with `id` is in the index.
    func contains(id: String) -> Bool {
        positions[id] != nil
    }

    /// Equal when they hold the same entries in the same order, wherever the holes are.
    static func == (lhs: InboxIndex, rhs: InboxIndex) -> Bool {
        lhs.count == rhs.count && lhs.entries == rhs.entries
    }

    /// Adds `entry` as the newest message; its id must not be in the index yet.
    mutating func append(_ entry: Entry) {
        precondition(positions[entry.id] == nil, "an id is in an inbox at most once")
        positions[entry.id] = slots.count
        slots.append(entry)
        totalBytes += entry.size
    }

    /// Removes the messages whose ids are in `ids`; returns the entries removed, oldest first.
    @discardableResult
    mutating func remove(ids: Set<String>) -> [Entry] {
        var removed: [(position: Int, entry: Entry)] = []
        for id in ids {
            guard let position = positions.removeValue(forKey: id), let entry = slots[position] else {
                continue
            }
            slots[position] = nil
            removed.append((position, entry))
        }
        totalBytes -= removed.reduce(0) { $0 + $1.entry.size }
        compactIfSparse()
        return removed.sorted { $0.position < $1.position }.map(\.entry)
    }

    /// The entries, oldest first, only those from `sender` when given.
    func entries(from sender: String?) -> [Entry] {
        guard let sender else {
            return entries
        }
        return slots.compactMap { entry in entry?.from == sender ? entry : nil }
    }

    /// How many messages there are per sender.
    func counts() -> [String: Int] {
        slots.reduce(into: [:]) { counts, entry in
            if let entry {
                counts[entry.from, default: 0] += 1
            }
        }
    }

    /// The entries of messages expired at `cutoff` (`InboxRules.isExpired`), wherever
    /// they are in the order.
    func entries(sentBefore cutoff: Date) -> [Entry] {
        entries.filter { InboxRules.isExpired(sentAtMilliseconds: $0.sentAtMilliseconds, before: cutoff) }
    }

    /// Rebuilds `slots` without holes once there are more holes than messages, so the
    /// memory and the scans stay proportional to the messages (amortised O(1) per removal).
    private mutating func compactIfSparse() {
        let holes = slots.count - positions.count
        guard holes > 32, holes > positions.count else {
            return
        }
        let kept = entries
        slots = kept
        positions.removeAll(keepingCapacity: true)
        for (position, entry) in kept.enumerated() {
            positions[entry.id] = position
        }
    }
}

import Foundation

/// One recipient's waiting messages in the order they were stored, with what the caps,
/// counts and expiry need, and no bodies.
///
/// Both `InboxStore` implementations keep their inboxes in this type, so the rules
/// (order, caps, the "full" reasons, the expiry cutoff) are written once and cannot drift
/// between the GDBM store and its in-memory twin.
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

    /// The messages, oldest (first stored) first.
    private(set) var entries: [Entry] = []

    /// Sum of the entries' sizes.
    private(set) var totalBytes = 0

    /// Creates an empty index.
    init() {}

    /// An index holding `entries` in the given order.
    init(entries: [Entry]) {
        for entry in entries {
            append(entry)
        }
    }

    var isEmpty: Bool { entries.isEmpty }

    /// Whether a message with `id` is in the index.
    func contains(id: String) -> Bool {
        entries.contains { $0.id == id }
    }

    /// Why `entry` may not be added to `recipient`'s inbox under `limits`, or nil if it fits.
    ///
    /// The reason is fit to show the sender, e.g. "bob's inbox is full (1000 messages)".
    func refusal(adding entry: Entry, for recipient: String, limits: InboxLimits) -> String? {
        if entries.count >= limits.maximumMessages {
            let unit = limits.maximumMessages == 1 ? "message" : "messages"
            return "\(recipient)'s inbox is full (\(limits.maximumMessages) \(unit))"
        }
        if totalBytes + entry.size > limits.maximumBytes {
            return "\(recipient)'s inbox is full (\(Self.describe(bytes: limits.maximumBytes)))"
        }
        return nil
    }

    /// Adds `entry` as the newest message.
    mutating func append(_ entry: Entry) {
        entries.append(entry)
        totalBytes += entry.size
    }

    /// Removes the messages whose ids are in `ids`; returns the entries removed.
    @discardableResult
    mutating func remove(ids: Set<String>) -> [Entry] {
        var removed: [Entry] = []
        entries.removeAll { entry in
            guard ids.contains(entry.id) else {
                return false
            }
            removed.append(entry)
            return true
        }
        totalBytes -= removed.reduce(0) { $0 + $1.size }
        return removed
    }

    /// The entries, oldest first, only those from `sender` when given.
    func entries(from sender: String?) -> [Entry] {
        guard let sender else {
            return entries
        }
        return entries.filter { $0.from == sender }
    }

    /// How many messages there are per sender.
    func counts() -> [String: Int] {
        entries.reduce(into: [:]) { $0[$1.from, default: 0] += 1 }
    }

    /// The entries of messages sent before `cutoff`, wherever they are in the order.
    func entries(sentBefore cutoff: Date) -> [Entry] {
        // Whole milliseconds: m < c exactly when m < ceil(c), so a cutoff between two
        // milliseconds neither keeps nor drops a message it should not.
        let cutoffMilliseconds = (cutoff.timeIntervalSince1970 * 1000).rounded(.up)
        return entries.filter { Double($0.sentAtMilliseconds) < cutoffMilliseconds }
    }

    /// "1 MiB", "64 KiB" or "1000 bytes".
    static func describe(bytes: Int) -> String {
        if bytes > 0 && bytes % (1 << 20) == 0 {
            return "\(bytes >> 20) MiB"
        }
        if bytes > 0 && bytes % (1 << 10) == 0 {
            return "\(bytes >> 10) KiB"
        }
        return bytes == 1 ? "1 byte" : "\(bytes) bytes"
    }
}

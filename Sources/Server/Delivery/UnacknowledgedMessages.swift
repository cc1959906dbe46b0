/// The messages handed to one session and not yet acknowledged by its client, oldest
/// first, and the stored ones it acknowledged lately. A value: `SessionMailbox` keeps it
/// under its lock, together with whether the session is still open.
struct UnacknowledgedMessages: Sendable {
    /// A message handed to the session and not yet acknowledged.
    struct Entry: Sendable {
        let message: StoredMessage
        /// True when it is (still) in the inbox; false for a live message.
        let fromInbox: Bool
        /// The session that handed over a live message, for its "delivered" receipt
        /// without a presence lookup; nil for messages from the inbox.
        let sender: SessionMailbox?
    }

    /// How many acknowledged ids are remembered: far more than can be in flight at once.
    static var acknowledgedMemory: Int { 4_096 }

    /// What the live messages among them (not those from the inbox) would take in the
    /// inbox if the session ended now: the space reserved for them there.
    private(set) var liveUsage = InboxUsage()

    private var pending: [String: Entry] = [:]
    private var order: [String] = []
    /// Ids of stored messages this client acknowledged lately. A stored message can reach a
    /// session twice (once from the inbox read when the chat opens, once from the store that
    /// was still finishing); after the first was acknowledged, `pending` no longer knows it,
    /// so these catch the second. A live message is handed over once, so its id is not kept.
    private var acknowledged: Set<String> = []
    /// The same ids as a ring, to forget the oldest when it is full (no array shift).
    private var acknowledgedRing: [String] = []
    private var acknowledgedNext = 0

    /// True when a stored message with this id is already on its way or was shown.
    func knows(storedID id: String) -> Bool {
        pending[id] != nil || acknowledged.contains(id)
    }

    mutating func add(_ entry: Entry) {
        if !entry.fromInbox {
            liveUsage.messages += 1
            liveUsage.bytes += entry.message.storageSize
        }
        pending[entry.message.id] = entry
        order.append(entry.message.id)
    }

    /// The client acknowledged `id`: forget it and return what it was.
    mutating func acknowledge(_ id: String) -> Entry? {
        guard let entry = pending.removeValue(forKey: id) else { return nil }
        if !entry.fromInbox {
            liveUsage.messages -= 1
            liveUsage.bytes -= entry.message.storageSize
        }
        // `order` keeps acknowledged ids until it is mostly stale, then drops them all at
        // once: removing each one here would cost O(pending) per ack, which a 10,000
        // message drain pays 10,000 times.
        if order.count > 2 * pending.count + 64 {
            let live = pending
            order.removeAll { live[$0] == nil }
        }
        guard entry.fromInbox else { return entry }
        acknowledged.insert(id)
        if acknowledgedRing.count < Self.acknowledgedMemory {
            acknowledgedRing.append(id)
        } else {
            acknowledged.remove(acknowledgedRing[acknowledgedNext])
            acknowledgedRing[acknowledgedNext] = id
            acknowledgedNext = (acknowledgedNext + 1) % Self.acknowledgedMemory
        }
        return entry
    }

    /// Everything still unacknowledged, oldest first, and forgets it.
    mutating func removeAll() -> [Entry] {
        let entries = order.compactMap { pending[$0] }
        pending.removeAll()
        order.removeAll()
        liveUsage = InboxUsage()
        return entries
    }
}

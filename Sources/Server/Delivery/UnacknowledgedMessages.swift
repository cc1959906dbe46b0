/// The messages written to one session and not yet acknowledged by its client, in the order
/// of their `seq`, and the stored ones it acknowledged lately. A value: `SessionMailbox`
/// keeps it under its lock, together with whether the session is still open.
struct UnacknowledgedMessages: Sendable {
    /// A message written to the session and not yet acknowledged.
    struct Entry: Sendable {
        let message: StoredMessage
        /// Its `seq` on this connection.
        let seq: Int
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
    /// The `seq` the next message written gets.
    private(set) var nextSeq = 1

    /// Oldest first; `entries[head...]` are the pending ones. An acknowledged entry is moved
    /// out (`take()`), not copied and released later: an ack usually covers a burst, and each
    /// copy retains the message's strings and sender. The emptied prefix is dropped in one go.
    private var entries: [Entry?] = []
    private var head = 0
    /// Slots kept for the next burst once everything is acknowledged; beyond that an idle
    /// session gives the memory back.
    private static let keptCapacity = 64
    /// Ids of the pending stored messages, so one offered again is not written twice.
    private var pendingStored: Set<String> = []
    private var acknowledged: Set<String> = []
    private var acknowledgedRing: [String] = []
    private var acknowledgedNext = 0

    /// True when the stored message `id` is pending or was acknowledged lately.
    func knows(storedID id: String) -> Bool {
        pendingStored.contains(id) || acknowledged.contains(id)
    }

    /// Records `message` as written with the next `seq`, which it returns.
    mutating func add(_ message: StoredMessage, fromInbox: Bool, sender: SessionMailbox?) -> Int {
        let seq = nextSeq
        nextSeq += 1
        if fromInbox {
            pendingStored.insert(message.id)
        } else {
            liveUsage.messages += 1
            liveUsage.bytes += message.storageSize
        }
        entries.append(Entry(message: message, seq: seq, fromInbox: fromInbox, sender: sender))
        return seq
    }

    /// The client has shown everything up to `seq`: forget those and return them, oldest
    /// first. A `seq` already acknowledged, or not yet written, acknowledges nothing more.
    mutating func acknowledge(upTo seq: Int) -> [Entry] {
        var done: [Entry] = []
        // Seqs are consecutive: the last entry's is `nextSeq - 1`, so the oldest pending
        // one's is known without reading (copying) the entry.
        let firstPending = nextSeq - (entries.count - head)
        // A client's seq may be anything, Int.min included: compared before subtracting.
        guard seq >= firstPending else { return [] }
        let end = head + min(seq - firstPending + 1, entries.count - head)
        while head < end {
            let entry = entries[head].take()!
            head += 1
            if entry.fromInbox {
                pendingStored.remove(entry.message.id)
                remember(entry.message.id)
            } else {
                liveUsage.messages -= 1
                liveUsage.bytes -= entry.message.storageSize
            }
            if done.isEmpty { done.reserveCapacity(end - head + 1) }
            done.append(entry)
        }
        if head == entries.count {
            entries.removeAll(keepingCapacity: entries.capacity <= Self.keptCapacity)
            head = 0
        } else if head > Self.keptCapacity, head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
        return done
    }

    /// Everything still pending, oldest first; forgets it.
    mutating func removeAll() -> [Entry] {
        let pending = entries[head...].map { $0! }
        entries.removeAll()
        head = 0
        pendingStored.removeAll()
        liveUsage = InboxUsage()
        return pending
    }

    private mutating func remember(_ id: String) {
        acknowledged.insert(id)
        if acknowledgedRing.count < Self.acknowledgedMemory {
            acknowledgedRing.append(id)
        } else {
            acknowledged.remove(acknowledgedRing[acknowledgedNext])
            acknowledgedRing[acknowledgedNext] = id
            acknowledgedNext = (acknowledgedNext + 1) % Self.acknowledgedMemory
        }
    }
}

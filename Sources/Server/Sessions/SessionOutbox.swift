import NIOConcurrencyHelpers
import NIOCore
import Shared

/// The way into one logged-in session from anywhere in the server: messages and notices
/// for its user are offered here and written to its channel.
///
/// It also remembers every message delivered but not yet acknowledged. Offering and
/// closing share one lock, so a message is either accepted before the session closed (and
/// then handed back by `close()` to be stored) or refused (and the caller stores it):
/// there is no moment in which a message can fall between the two.
///
/// A client that stops reading must not make the server hold its messages without bound:
/// once its channel is over the write-buffer high mark, messages are refused (the caller
/// stores them in the inbox, so nothing is lost) until `resume()`, and the handler
/// disconnects the client if it does not catch up in time.
final class SessionOutbox: Sendable {
    /// A message handed to this session and not yet acknowledged by its client.
    struct Pending: Sendable {
        let message: StoredMessage
        /// True when it is (still) in the inbox; false for a live message.
        let fromInbox: Bool
        /// The sender's session that handed over a live message, for its "delivered"
        /// receipt without a registry lookup; nil for messages from the inbox.
        let sender: SessionOutbox?
    }

    /// Where this user's messages go, kept here by `PresenceRegistry` whenever a choice or
    /// a session changes, so sending reads one session's lock instead of the registry's
    /// (one lock shared by every event loop, taken per message).
    struct Route: Sendable {
        /// Whom the user has chosen to chat with.
        var choice: String?
        /// That user's session, when they have chosen this user back (a live pair).
        var partner: SessionOutbox?
    }

    private struct State {
        var closed = false
        var route = Route()
        /// Over the high mark: refusing messages until the client catches up.
        var stalled = false
        /// Ids of messages refused while stalled, per sender, for the "waiting" notice (a
        /// set: a stored message is offered again once its store finishes).
        var refusedWhileStalled: [String: Set<String>] = [:]
        var pending: [String: Pending] = [:]
        var order: [String] = []
        /// Ids of stored messages this client acknowledged lately. A stored message can
        /// reach a session twice (once from the inbox read when the chat opens, once from the
        /// store that was still finishing); after the first was acknowledged, `pending` no
        /// longer knows it, so these catch the second. A live message is handed over once,
        /// so its id is not kept.
        var acknowledged: Set<String> = []
        /// The same ids as a ring, to forget the oldest when it is full (no array shift).
        var acknowledgedRing: [String] = []
        var acknowledgedNext = 0
        /// Frames offered from other threads, waiting for the channel's event loop.
        var queued: [ByteBuffer] = []
        /// A task on the channel's event loop will write `queued` and flush.
        var flushScheduled = false
    }

    /// How many acknowledged ids are remembered: far more than can be in flight at once.
    private static let acknowledgedMemory = 4_096

    let username: String
    let sessionID: UInt64
    private let channel: Channel
    private let state = NIOLockedValueBox(State())

    init(username: String, sessionID: UInt64, channel: Channel) {
        self.username = username
        self.sessionID = sessionID
        self.channel = channel
    }

    /// Writes `message` to the client unless the session has closed. True when the
    /// session took it (it is then pending until acknowledged, or handed back by `close`).
    /// `sender` is the session a live message comes from.
    func deliver(_ message: StoredMessage, fromInbox: Bool, sender: SessionOutbox? = nil) -> Bool {
        let accepted = state.withLockedValue { state -> Bool? in
            guard !state.closed else { return false }
            // A stored message may already be on its way, or already shown; a live one is
            // new by construction.
            if fromInbox, state.pending[message.id] != nil || state.acknowledged.contains(message.id) { return nil }
            // `isWritable` is safe from any thread; a stalled client stays stalled until
            // its handler sees it writable again, so live order is never reshuffled.
            if state.stalled || !channel.isWritable {
                state.stalled = true
                state.refusedWhileStalled[message.from, default: []].insert(message.id)
                return false
            }
            state.pending[message.id] = Pending(message: message, fromInbox: fromInbox, sender: sender)
            state.order.append(message.id)
            return true
        }
        guard let accepted else { return true }
        if accepted {
            let frame = ServerFrame.message(
                ChatMessage(
                    id: message.id, from: message.from, body: message.body,
                    sentAtMilliseconds: message.sentAtMilliseconds, stored: fromInbox))
            write(frame)
        }
        return accepted
    }

    /// Sends a control frame (notice, receipt) if the session is still open; best effort.
    /// False when it has closed.
    @discardableResult
    func send(_ frame: ServerFrame) -> Bool {
        guard state.withLockedValue({ !$0.closed }) else { return false }
        write(frame)
        return true
    }

    /// Whom the user has chosen and, when paired, the partner's session.
    var route: Route {
        state.withLockedValue { $0.route }
    }

    /// Only `PresenceRegistry` calls this, under its own lock (the lock order is always
    /// registry, then session).
    func setRoute(_ route: Route) {
        state.withLockedValue { $0.route = route }
    }

    /// The client caught up (its channel is writable again): accept messages again and
    /// return how many were refused meanwhile, per sender (they are in the inbox).
    func resume() -> [String: Int] {
        state.withLockedValue { state in
            state.stalled = false
            defer { state.refusedWhileStalled.removeAll() }
            return state.refusedWhileStalled.mapValues(\.count)
        }
    }

    /// The client acknowledged `messageID`: forget it and return what it was.
    func acknowledge(_ messageID: String) -> Pending? {
        state.withLockedValue { state in
            guard let pending = state.pending.removeValue(forKey: messageID) else { return nil }
            // `order` keeps acknowledged ids until it is mostly stale, then drops them all at
            // once: removing each one here would cost O(pending) per ack, which a 10,000
            // message drain pays 10,000 times.
            if state.order.count > 2 * state.pending.count + 64 {
                let live = state.pending
                state.order.removeAll { live[$0] == nil }
            }
            guard pending.fromInbox else { return pending }
            state.acknowledged.insert(messageID)
            if state.acknowledgedRing.count < Self.acknowledgedMemory {
                state.acknowledgedRing.append(messageID)
            } else {
                state.acknowledged.remove(state.acknowledgedRing[state.acknowledgedNext])
                state.acknowledgedRing[state.acknowledgedNext] = messageID
                state.acknowledgedNext = (state.acknowledgedNext + 1) % Self.acknowledgedMemory
            }
            return pending
        }
    }

    /// Refuses everything from now on and returns what was delivered but never
    /// acknowledged, oldest first (live ones must go to the inbox).
    func close() -> [Pending] {
        state.withLockedValue { state in
            state.closed = true
            // No cycle through a partner's session outlives this one.
            state.route = Route()
            let pending = state.order.compactMap { state.pending[$0] }
            state.pending.removeAll()
            state.order.removeAll()
            return pending
        }
    }

    /// Asks the session's own handler to act (displaced, shutdown).
    func fire(_ event: SessionEvent) {
        channel.pipeline.fireUserInboundEventTriggered(event)
    }

    /// Writes `frame` to the channel; frames offered within one turn of its event loop share
    /// one flush (one TLS record batch, one syscall) instead of one each.
    ///
    /// On the channel's own loop the frame is written at once, so it keeps its place among the
    /// session's own replies (an opened chat's waiting messages go out before its `ok`). From
    /// another thread it is encoded there and queued, and one task per batch, not per frame,
    /// crosses to the loop. Either way frames from one thread keep their order, and frames
    /// queued from elsewhere are written before a later one from the loop.
    private func write(_ frame: ServerFrame) {
        let buffer = frame.encode(allocator: channel.allocator)
        let loop = channel.eventLoop
        if loop.inEventLoop {
            let (earlier, scheduleFlush) = state.withLockedValue { state in
                let earlier = state.queued
                if !earlier.isEmpty { state.queued.removeAll(keepingCapacity: true) }
                defer { state.flushScheduled = true }
                return (earlier, !state.flushScheduled)
            }
            for queued in earlier { channel.write(queued, promise: nil) }
            channel.write(buffer, promise: nil)
            if scheduleFlush { loop.execute { self.flushQueued() } }
        } else {
            let scheduleFlush = state.withLockedValue { state in
                state.queued.append(buffer)
                defer { state.flushScheduled = true }
                return !state.flushScheduled
            }
            if scheduleFlush { loop.execute { self.flushQueued() } }
        }
    }

    /// On the channel's loop: writes what other threads queued, then flushes everything.
    private func flushQueued() {
        let queued = state.withLockedValue { state in
            state.flushScheduled = false
            defer { state.queued.removeAll(keepingCapacity: true) }
            return state.queued
        }
        for buffer in queued { channel.write(buffer, promise: nil) }
        channel.flush()
    }
}

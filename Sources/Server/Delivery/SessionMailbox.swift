import NIOCore
import Shared

/// The way into one logged-in session from anywhere in the server: messages and notices
/// for its user are offered here and written to its channel.
///
/// It keeps, under one lock, what must change together: whether the session is still open,
/// the messages delivered but not acknowledged (`UnacknowledgedMessages`), the user's
/// route (set by `Presence`), and whether the client has stopped reading. So a message is
/// either accepted before the session closed (and then handed back by `close()` to be
/// stored) or refused (and the caller stores it): there is no moment in which a message can
/// fall between the two.
///
/// Live messages written but not yet acknowledged have space reserved in the inbox: at
/// most `liveWindow` of them (the inbox's own caps) are accepted live; past that the caller
/// takes the durable path, held to the inbox's caps, so whatever `close()` hands back fits
/// beside what was stored meanwhile, twice the caps at the very most, and is stored without
/// a second check (`InboxSpace.reserved`).
///
/// A client that stops reading must not make the server hold its messages without bound:
/// once its channel is over the write-buffer high mark, messages are refused (the caller
/// stores them in the inbox, so nothing is lost) until `resume()`, and the session handler
/// disconnects the client if it does not catch up in time.
final class SessionMailbox: PresentSession {
    private struct State {
        var closed = false
        var route = Route<SessionMailbox>()
        var unacknowledged = UnacknowledgedMessages()
        /// Over the high mark: refusing messages until the client catches up.
        var stalled = false
        /// Ids of messages refused while stalled, per sender, for the "N new messages"
        /// notice (a set: a stored message is offered again once its store finishes).
        var refusedWhileStalled: [String: Set<String>] = [:]
        /// Frames offered from other threads, waiting for the channel's event loop.
        var queued: [ServerFrame] = []
        /// A task on the channel's event loop will write `queued` and flush.
        var flushScheduled = false
    }

    let username: String
    let sessionID: UInt64
    /// How much may be written live and not yet acknowledged (see the type's documentation).
    let liveWindow: InboxLimits
    private let channel: Channel
    private let state = Locked(State())

    /// The session's event loop (where its channel's work runs).
    var eventLoop: EventLoop { channel.eventLoop }

    init(username: String, sessionID: UInt64, liveWindow: InboxLimits, channel: Channel) {
        self.username = username
        self.sessionID = sessionID
        self.liveWindow = liveWindow
        self.channel = channel
    }

    /// Writes `message` to the client unless the session has closed or stalled, or, for a
    /// live message, the live window is full. True when the session took it (it is then
    /// unacknowledged until the client says so, or handed back by `close`). `sender` is the
    /// session a live message comes from.
    func deliver(_ message: StoredMessage, fromInbox: Bool, sender: SessionMailbox? = nil) -> Bool {
        let accepted = state.withLock { state -> Bool? in
            guard !state.closed else { return false }
            if !fromInbox,
                InboxRules.refusal(
                    adding: message.storageSize, to: state.unacknowledged.liveUsage, of: message.to, limits: liveWindow)
                    != nil
            {
                return false
            }
            // A stored message may already be on its way, or already shown; a live one is
            // new by construction.
            if fromInbox, state.unacknowledged.knows(storedID: message.id) { return nil }
            // `isWritable` is safe from any thread; a stalled client stays stalled until
            // its handler sees it writable again, so live order is never reshuffled.
            if state.stalled || !channel.isWritable {
                state.stalled = true
                state.refusedWhileStalled[message.from, default: []].insert(message.id)
                return false
            }
            state.unacknowledged.add(.init(message: message, fromInbox: fromInbox, sender: sender))
            return true
        }
        guard let accepted else { return true }
        if accepted {
            write(
                .message(
                    ChatMessage(
                        id: message.id, from: message.from, body: message.body,
                        sentAtMilliseconds: message.sentAtMilliseconds, stored: fromInbox)))
        }
        return accepted
    }

    /// Sends a control frame (notice, receipt) if the session is still open; best effort.
    /// False when it has closed.
    @discardableResult
    func send(_ frame: ServerFrame) -> Bool {
        guard state.withLock({ !$0.closed }) else { return false }
        write(frame)
        return true
    }

    /// Whom the user has chosen and, when paired, the partner's session.
    var route: Route<SessionMailbox> {
        state.withLock { $0.route }
    }

    func setRoute(_ route: Route<SessionMailbox>) {
        state.withLock { $0.route = route }
    }

    /// The client caught up (its channel is writable again): accept messages again.
    func resume() {
        state.withLock { $0.stalled = false }
    }

    /// How many messages were refused while the client was not reading, per sender (they
    /// are in the inbox), since the last call; counted across stalls until then.
    func takeRefusedWhileStalled() -> [String: Int] {
        state.withLock { state in
            defer { state.refusedWhileStalled.removeAll() }
            return state.refusedWhileStalled.mapValues(\.count)
        }
    }

    /// The client acknowledged `messageID`: forget it and return what it was.
    func acknowledge(_ messageID: String) -> UnacknowledgedMessages.Entry? {
        state.withLock { $0.unacknowledged.acknowledge(messageID) }
    }

    /// Refuses everything from now on and returns what was delivered but never
    /// acknowledged, oldest first (live ones must go to the inbox).
    func close() -> [UnacknowledgedMessages.Entry] {
        state.withLock { state in
            state.closed = true
            // No cycle through a partner's session outlives this one.
            state.route = Route()
            return state.unacknowledged.removeAll()
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
    /// another thread it is queued, and one task per batch, not per frame, crosses to the
    /// loop. Either way frames from one thread keep their order, and frames queued from
    /// elsewhere are written before a later one from the loop.
    private func write(_ frame: ServerFrame) {
        let loop = channel.eventLoop
        if loop.inEventLoop {
            let (earlier, scheduleFlush) = state.withLock { state in
                let earlier = state.queued
                if !earlier.isEmpty { state.queued.removeAll(keepingCapacity: true) }
                defer { state.flushScheduled = true }
                return (earlier, !state.flushScheduled)
            }
            for queued in earlier { channel.write(queued, promise: nil) }
            channel.write(frame, promise: nil)
            if scheduleFlush { loop.execute { self.flushQueued() } }
        } else {
            let scheduleFlush = state.withLock { state in
                state.queued.append(frame)
                defer { state.flushScheduled = true }
                return !state.flushScheduled
            }
            if scheduleFlush { loop.execute { self.flushQueued() } }
        }
    }

    /// On the channel's loop: writes what other threads queued, then flushes everything.
    private func flushQueued() {
        let queued = state.withLock { state in
            state.flushScheduled = false
            defer { state.queued.removeAll(keepingCapacity: true) }
            return state.queued
        }
        for frame in queued { channel.write(frame, promise: nil) }
        channel.flush()
    }
}

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
        /// The partner's identity key as the last `chat` reported it, which `send` holds the
        /// partner's current key to.
        var reportedIdentity: ReportedIdentity?
        /// The `KeyDirectory.changeCount` at which `reportedIdentity` was last found to be
        /// the partner's current key; nil until `send` has checked it.
        var identityVerifiedAt: UInt64?
        var unacknowledged = UnacknowledgedMessages()
        /// Over the high mark: refusing messages until the client catches up.
        var stalled = false
        /// Ids of messages refused while stalled, per sender, for the "N new messages"
        /// notice (a set: a stored message is offered again once its store finishes).
        var refusedWhileStalled: [String: Set<String>] = [:]
        /// Frames offered from other threads, encoded as lines, waiting for the channel's
        /// event loop; nil when there are none.
        var queued: ByteBuffer?
        /// A task on the channel's event loop will write `queued` and flush.
        var flushScheduled = false
        /// Senders whose waiting messages a relay is reading from the inbox for this session
        /// (see `beginRelay`), and whether it was asked to read once more.
        var relays: [String: Bool] = [:]
        /// Live messages accepted while a relay from their sender ran, per sender, oldest
        /// first: written (and given their seq) when it ends, handed back by `close`.
        var parked: [String: [UnacknowledgedMessages.Entry]] = [:]
        /// What `parked` holds, counted against the live window like unacknowledged messages.
        var parkedUsage = InboxUsage()

        /// Live messages accepted and not acknowledged, written or parked.
        var liveUsage: InboxUsage {
            InboxUsage(
                messages: unacknowledged.liveUsage.messages + parkedUsage.messages,
                bytes: unacknowledged.liveUsage.bytes + parkedUsage.bytes)
        }
    }

    let username: String
    let sessionID: UInt64
    /// How much may be written live and not yet acknowledged (see the type's documentation).
    let liveWindow: InboxLimits
    private let channel: Channel
    /// The channel's own allocator, taken once: reading it from another thread takes a lock.
    private let allocator: ByteBufferAllocator
    private let state = Locked(State())
    /// This session's own messages on their way into the inbox, on the session's event loop
    /// only (see `DeliveryService.send`).
    let storing: NIOLoopBoundBox<StoresInOrder>

    /// The session's event loop (where its channel's work runs).
    var eventLoop: EventLoop { channel.eventLoop }

    init(username: String, sessionID: UInt64, liveWindow: InboxLimits, channel: Channel) {
        self.username = username
        self.sessionID = sessionID
        self.liveWindow = liveWindow
        self.channel = channel
        self.allocator = channel.allocator
        self.storing = .makeBoxSendingValue(StoresInOrder(), eventLoop: channel.eventLoop)
    }

    /// Writes `message` to the client unless the session has closed or stalled, or, for a
    /// live message, the live window is full. True when the session took it (it is then
    /// unacknowledged until the client says so, or handed back by `close`). `sender` is the
    /// session a live message comes from.
    ///
    /// While a relay from the inbox runs for the message's sender (`beginRelay`), a live
    /// message is parked (accepted, and written when the relay ends) and a stored one is
    /// left to the relay, which is asked to read once more (true: it will bring it): either
    /// would otherwise overtake messages the relay has yet to bring. `byRelay`: the relay's
    /// own.
    func deliver(_ message: StoredMessage, fromInbox: Bool, sender: SessionMailbox? = nil, byRelay: Bool = false) -> Bool {
        // The seq is taken and the frame queued under one lock, so frames leave in seq order
        // whichever threads deliver at once, and a cumulative ack never covers a message the
        // client has not had.
        let onLoop = channel.eventLoop.inEventLoop
        let outcome = state.withLock { state -> (accepted: Bool, offer: Offer?) in
            guard !state.closed else { return (false, nil) }
            if !byRelay, fromInbox, state.relays[message.from] != nil {
                state.relays[message.from] = true
                return (true, nil)
            }
            if !fromInbox, !hasLiveRoom(for: message, in: state) { return (false, nil) }
            // A stored message may already be on its way, or already shown; a live one is
            // new by construction.
            if fromInbox, state.unacknowledged.knows(storedID: message.id) { return (true, nil) }
            // `isWritable` is safe from any thread; a stalled client stays stalled until
            // its handler sees it writable again, so live order is never reshuffled.
            if state.stalled || !channel.isWritable {
                state.stalled = true
                state.refusedWhileStalled[message.from, default: []].insert(message.id)
                return (false, nil)
            }
            if !fromInbox, state.relays[message.from] != nil {
                state.parked[message.from, default: []].append(
                    UnacknowledgedMessages.Entry(message: message, seq: 0, fromInbox: false, sender: sender))
                state.parkedUsage.messages += 1
                state.parkedUsage.bytes += message.storageSize
                return (true, nil)
            }
            return (true, write(message, fromInbox: fromInbox, sender: sender, in: &state, onLoop: onLoop))
        }
        if let offer = outcome.offer { carryOut(offer) }
        return outcome.accepted
    }

    /// Whether `deliver` would take `message` live now (open, reading, room in the live
    /// window), without taking it. A hint for choosing a path: the answer may be stale by
    /// the time the message is offered.
    func wouldTakeLive(_ message: StoredMessage) -> Bool {
        state.withLock { state in
            !state.closed && !state.stalled && channel.isWritable && hasLiveRoom(for: message, in: state)
        }
    }

    /// Under the lock: whether the live window has room for `message` beside what is live
    /// and unacknowledged, written or parked.
    private func hasLiveRoom(for message: StoredMessage, in state: State) -> Bool {
        InboxRules.refusal(adding: message.storageSize, to: state.liveUsage, of: message.to, limits: liveWindow) == nil
    }

    /// Sends a control frame (notice, receipt) if the session is still open; best effort.
    /// False when it has closed.
    @discardableResult
    func send(_ frame: ServerFrame) -> Bool {
        let onLoop = channel.eventLoop.inEventLoop
        let offer = state.withLock { state -> Offer? in
            guard !state.closed else { return nil }
            return Self.offer(in: &state, onLoop: onLoop, allocator: allocator) { frame.encodeLine(into: &$0) }
        }
        guard let offer else { return false }
        carryOut(offer)
        return true
    }

    /// Whom the user has chosen and, when paired, the partner's session.
    var route: Route<SessionMailbox> {
        state.withLock { $0.route }
    }

    func setRoute(_ route: Route<SessionMailbox>) {
        state.withLock { $0.route = route }
    }

    /// The route, the identity key `chat` reported for the partner chosen, and when that
    /// key was last found current, read together: what `send` decides on.
    var sendingRoute: (route: Route<SessionMailbox>, reportedIdentity: ReportedIdentity?, verifiedAt: UInt64?) {
        state.withLock { ($0.route, $0.reportedIdentity, $0.identityVerifiedAt) }
    }

    /// `chat` is about to report `key` as `partner`'s identity key (nil: they have none).
    func reportIdentity(_ key: [UInt8]?, of partner: String) {
        state.withLock {
            $0.reportedIdentity = ReportedIdentity(partner: partner, key: key)
            $0.identityVerifiedAt = nil
        }
    }

    /// `send` found `identity` (still the one reported) current at the key directory's
    /// `changeCount` `changes`.
    func identityVerified(_ identity: ReportedIdentity, at changes: UInt64) {
        state.withLock {
            if $0.reportedIdentity == identity { $0.identityVerifiedAt = changes }
        }
    }

    /// Starts a relay of `sender`'s waiting messages to this session (see `deliver`): true
    /// when the caller must run it; false when one runs already, which will read once more.
    func beginRelay(from sender: String) -> Bool {
        state.withLock { state in
            guard state.relays[sender] == nil else {
                state.relays[sender] = true
                return false
            }
            state.relays[sender] = false
            return true
        }
    }

    /// The relay from `sender` has delivered what its read found: true when it must read
    /// once more (asked meanwhile); otherwise it has ended: the messages parked meanwhile
    /// are written, and messages from `sender` go straight to the client again.
    func relayReadDone(from sender: String) -> Bool {
        let onLoop = channel.eventLoop.inEventLoop
        let outcome = state.withLock { state -> (readAgain: Bool, offers: [Offer]) in
            if state.relays[sender] == true {
                state.relays[sender] = false
                return (true, [])
            }
            state.relays[sender] = nil
            guard let parked = state.parked.removeValue(forKey: sender) else { return (false, []) }
            var offers: [Offer] = []
            for entry in parked {
                state.parkedUsage.messages -= 1
                state.parkedUsage.bytes -= entry.message.storageSize
                // Accepted already: written even if the client has fallen behind since.
                offers.append(write(entry.message, fromInbox: false, sender: entry.sender, in: &state, onLoop: onLoop))
            }
            return (false, offers)
        }
        for offer in outcome.offers { carryOut(offer) }
        return outcome.readAgain
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

    /// The client has shown everything up to `seq`: forget those and return them.
    func acknowledge(upTo seq: Int) -> [UnacknowledgedMessages.Entry] {
        state.withLock { $0.unacknowledged.acknowledge(upTo: seq) }
    }

    /// Refuses everything from now on and returns what was delivered but never
    /// acknowledged, oldest first (live ones must go to the inbox).
    func close() -> [UnacknowledgedMessages.Entry] {
        state.withLock { state in
            state.closed = true
            // No cycle through a partner's session outlives this one.
            state.route = Route()
            let parked = state.parked.values.joined()
            state.parked.removeAll()
            state.parkedUsage = InboxUsage()
            return state.unacknowledged.removeAll() + parked
        }
    }

    /// Asks the session's own handler to act (displaced, shutdown).
    func fire(_ event: SessionEvent) {
        channel.pipeline.fireUserInboundEventTriggered(event)
    }

    /// Under the lock: gives `message` the next seq, records it as unacknowledged and
    /// encodes its `message` line (see `offer`).
    private func write(
        _ message: StoredMessage, fromInbox: Bool, sender: SessionMailbox?, in state: inout State, onLoop: Bool
    ) -> Offer {
        let seq = state.unacknowledged.add(message, fromInbox: fromInbox, sender: sender)
        return Self.offer(in: &state, onLoop: onLoop, allocator: allocator) { lines in
            ServerFrame.encodeMessageLine(
                id: message.id, from: message.from, body: message.body,
                sentAtMilliseconds: message.sentAtMilliseconds, stored: fromInbox, seq: seq, into: &lines)
        }
    }

    /// What to write now and whether to schedule the flush, decided under the lock.
    private struct Offer {
        /// On the channel's loop: lines other threads queued earlier (usually none), then
        /// the frame's own, to write at once. Off the loop nil: it was queued.
        var lines: ByteBuffer?
        var scheduleFlush: Bool
    }

    /// Encodes a frame (`encodeLine`) under the lock into the queued lines, so frames leave in the order
    /// they were offered whichever threads offer them: on the channel's loop the lines are
    /// taken to be written at once, after what other threads queued before; from elsewhere
    /// they wait for the loop. Encoded here, once, into the one buffer that will be written:
    /// the session handler takes it as it is.
    private static func offer(
        in state: inout State, onLoop: Bool, allocator: ByteBufferAllocator, _ encodeLine: (inout ByteBuffer) -> Void
    ) -> Offer {
        let scheduleFlush = !state.flushScheduled
        state.flushScheduled = true
        // Taken out while appending, so the buffer stays uniquely referenced (no copy). Room
        // for a burst (a few dozen frames) without regrowing: it lives only until the flush.
        var lines = state.queued ?? allocator.buffer(capacity: 4096)
        state.queued = nil
        encodeLine(&lines)
        guard onLoop else {
            state.queued = lines
            return Offer(scheduleFlush: scheduleFlush)
        }
        return Offer(lines: lines, scheduleFlush: scheduleFlush)
    }

    /// Writes what `offer` says; frames offered within one turn of the channel's event loop
    /// share one flush (one TLS record batch, one syscall) instead of one each. On the loop a
    /// frame is written at once, so it keeps its place among the session's own replies (an
    /// opened chat's waiting messages go out before its `ok`); from another thread one task
    /// per batch, not per frame, crosses to the loop.
    private func carryOut(_ offer: Offer) {
        if let lines = offer.lines { channel.write(lines, promise: nil) }
        if offer.scheduleFlush { channel.eventLoop.execute { self.flushQueued() } }
    }

    /// On the channel's loop: writes what other threads queued, then flushes everything.
    private func flushQueued() {
        let queued = state.withLock { state in
            state.flushScheduled = false
            defer { state.queued = nil }
            return state.queued
        }
        if let queued { channel.write(queued, promise: nil) }
        channel.flush()
    }
}

/// The identity key a session's `chat` reported for the partner it chose.
struct ReportedIdentity: Equatable, Sendable {
    let partner: String
    /// Nil when the partner had published none.
    let key: [UInt8]?
}

/// A session's messages on their way into the inbox, so that what follows each append
/// (the recipient told, the sender answered) happens in the order they were sent, and a
/// later message does not go live ahead of one still being stored.
struct StoresInOrder {
    /// Completes (never fails) once the last append started has been followed up; nil when
    /// every one has been, so none is pending.
    var last: EventLoopFuture<Void>?
    /// Messages waiting for the appends before them before they are routed
    /// (`DeliveryService.afterStores`).
    var waiting = 0
}

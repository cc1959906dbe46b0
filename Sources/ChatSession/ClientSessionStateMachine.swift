import Shared

/// The rules of one client session, without I/O: greeting, request ids and the replies
/// that answer them, keep-alive pings, acknowledgements and duplicate suppression. The
/// `ClientSessionHandler` feeds it what happens and carries out what it answers.
///
/// Generic over `Waiter`, whatever waits for a reply (a promise in the handler, a plain
/// value in tests), so the matching is tested without a channel.
public struct ClientSessionStateMachine<Waiter> {
    private enum State {
        /// Nothing sent yet.
        case idle
        /// `hello` sent, the server's not yet received.
        case greeting
        /// Greeted: requests may go out.
        case open
        /// The connection ended.
        case closed
    }

    /// Who waits for the reply to a request id.
    private enum Pending {
        case caller(Waiter)
        /// A keep-alive ping: its `ok` is swallowed.
        case keepAlive
    }

    /// What to do with a frame from the server.
    public enum FrameAction {
        /// The greeting is done; the server's agent.
        case greeted(agent: String)
        /// The server refused the greeting (an `error`, or another protocol version).
        case greetingFailed(SessionError)
        /// Hand `frame` to `waiter`: it answers that caller's request.
        case answer(Waiter, ServerFrame)
        /// Pass `event` on to the session's user.
        case emit(SessionEvent)
        /// Pass the message event on; then an ack is due (automatic acknowledgement).
        case emitThenAcknowledge(SessionEvent)
        /// A message already received: drop it, but an ack is due (the protocol asks for
        /// one, so the server stops resending it).
        case acknowledgeDuplicate
        /// Nothing to do.
        case ignore
    }

    private var state = State.idle
    private var nextID = 1
    private var pending: [Int: Pending] = [:]
    private var received: ReceivedMessages
    private let acknowledgement: AcknowledgementPolicy
    /// Every message up to this `seq` has been shown (or was a duplicate): what the next
    /// `ack` says. Acks are cumulative, so it only moves past a gap once the gap is shown.
    private var shownUpTo = 0
    /// Shown `seq`s past `shownUpTo`, waiting for the ones before them.
    private var shownAhead: Set<Int> = []
    /// The `seq` the last `ack` sent named.
    private var acknowledgedUpTo = 0

    /// A session that acknowledges by `acknowledgement` and remembers `rememberedMessages`
    /// message ids.
    public init(acknowledgement: AcknowledgementPolicy, rememberedMessages: Int) {
        self.acknowledgement = acknowledgement
        self.received = ReceivedMessages(capacity: rememberedMessages)
    }

    /// True once greeted and until the connection ends.
    public var isOpen: Bool {
        if case .open = state { return true }
        return false
    }

    /// Requests still waiting for their reply (keep-alive pings included).
    public var pendingCount: Int { pending.count }

    /// The `hello` is about to go out; false when the session is past that point.
    public mutating func sendingHello() -> Bool {
        guard case .idle = state else { return false }
        state = .greeting
        return true
    }

    /// A request is about to go out: its id. With a `waiter`, the reply is matched and
    /// handed to it; without, the reply is passed on as `SessionEvent.reply`.
    /// Nil when the connection has ended.
    public mutating func startRequest(waiter: Waiter?) -> Int? {
        if case .closed = state { return nil }
        let id = takeID()
        if let waiter { pending[id] = .caller(waiter) }
        return id
    }

    /// The keep-alive interval passed: the id of the `ping` to send, or nil when the
    /// session is not open.
    public mutating func keepAliveDue() -> Int? {
        guard isOpen else { return nil }
        let id = takeID()
        pending[id] = .keepAlive
        return id
    }

    /// The caller has shown the message with `seq` (`.afterShown` policy): true when an
    /// ack is now due.
    public mutating func shown(seq: Int) -> Bool {
        guard isOpen, acknowledgement == .afterShown else { return false }
        return markShown(seq)
    }

    /// Messages shown and not yet acknowledged (gaps aside).
    public var shownUnacknowledged: Int { shownUpTo - acknowledgedUpTo }

    /// The `seq` an `ack` should name now, or nil when everything shown is acknowledged;
    /// taken as sent.
    public mutating func acknowledgementDue() -> Int? {
        guard isOpen, shownUpTo > acknowledgedUpTo else { return nil }
        acknowledgedUpTo = shownUpTo
        return shownUpTo
    }

    /// Records `seq` as shown; true when that moved what the next ack covers.
    private mutating func markShown(_ seq: Int) -> Bool {
        guard seq > shownUpTo else { return false }
        shownAhead.insert(seq)
        let before = shownUpTo
        while shownAhead.remove(shownUpTo + 1) != nil { shownUpTo += 1 }
        return shownUpTo > before
    }

    /// A line from the server, decoded.
    public mutating func received(_ decoded: Result<ServerFrame, ProtocolError>) -> FrameAction {
        guard case .success(let frame) = decoded else {
            guard case .failure(let error) = decoded else { return .ignore }
            // A frame type this build does not know is skipped, as the protocol asks.
            return .emit(.badFrame(error))
        }
        switch state {
        case .idle, .closed:
            return .ignore
        case .greeting:
            return greeting(frame)
        case .open:
            return open(frame)
        }
    }

    /// The connection ended: every waiter still waiting (to be failed), and whether this
    /// is the first time (so `closed` is reported once).
    public mutating func closed() -> (waiters: [Waiter], first: Bool) {
        if case .closed = state { return ([], false) }
        state = .closed
        let waiters = pending.values.compactMap { pending -> Waiter? in
            if case .caller(let waiter) = pending { return waiter }
            return nil
        }
        pending.removeAll()
        return (waiters, true)
    }

    // MARK: - Frames by state

    private mutating func greeting(_ frame: ServerFrame) -> FrameAction {
        switch frame {
        case .hello(let version, let agent):
            guard version == ProtocolVersion.current else {
                return .greetingFailed(.versionMismatch(server: version))
            }
            state = .open
            return .greeted(agent: agent)
        case .error(let error) where error.id == nil:
            return .greetingFailed(.refused(error))
        default:
            // The answer to a request made before the greeting finished (the server
            // refuses it), or something unasked: as when open.
            return open(frame)
        }
    }

    private mutating func open(_ frame: ServerFrame) -> FrameAction {
        if let id = frame.id {
            switch pending.removeValue(forKey: id) {
            case .caller(let waiter): return .answer(waiter, frame)
            case .keepAlive: return .ignore
            case nil: return .emit(.reply(frame))
            }
        }
        switch frame {
        case .message(let message):
            guard received.insert(message.id) else {
                return markShown(message.seq) ? .acknowledgeDuplicate : .ignore
            }
            switch acknowledgement {
            case .automatic:
                _ = markShown(message.seq)
                return .emitThenAcknowledge(.message(message))
            case .afterShown: return .emit(.message(message))
            }
        case .receipt(_, let messageID, let status):
            return .emit(.receipt(messageID: messageID, status: status))
        case .delivered(let messageIDs):
            return .emit(.delivered(messageIDs: messageIDs))
        case .inbox(_, let counts, let expired):
            return .emit(.inboxSummary(counts: counts, expired: expired))
        case .notice(let code, let message):
            return .emit(.notice(code: code, message: message))
        case .error(let error):
            return .emit(.error(error))
        case .chunk(let file, let index, let data):
            return .emit(.fileChunk(file: file, index: index, data: data))
        case .fileOutcome(let file, let username, let outcome):
            return .emit(.fileOutcome(file: file, username: username, outcome: outcome))
        case .hello, .ok, .who, .keys, .upload:
            // A second hello, or a reply without an id: nothing a client can act on.
            return .ignore
        }
    }

    private mutating func takeID() -> Int {
        defer { nextID += 1 }
        return nextID
    }
}

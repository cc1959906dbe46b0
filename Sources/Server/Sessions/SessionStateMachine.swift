import NIOCore
import Shared

/// The protocol rules of one session, without I/O: which frame is allowed when, what to
/// answer, when bad input has gone on long enough, how fast messages may come, and which
/// frames wait while a slow request runs. `SessionHandler` feeds it frames and results and
/// carries out the actions it returns.
///
/// Requests are answered in order: while a register, login or chat request runs the session
/// is `busy`, and frames that arrive meanwhile are queued here; the handler takes them with
/// `nextQueuedAction()` once the request has finished.
///
/// `send` and `chunk` overlap instead: up to `overlapLimit` of them run at once, so a client
/// that keeps a window of them in flight has them stored together (one sync or one commit
/// for many), not one after another. Their answers still go out in request order (the
/// handler holds an early one back), and anything else waits until they have all been
/// answered. Their stores keep the order they were started in (see `DeliveryService.send`).
struct SessionStateMachine {
    enum State: Equatable {
        /// Connected; the client's `hello` has not arrived yet.
        case awaitingHello
        /// Hello exchanged; not logged in.
        case loggedOut
        /// Logged in as this (normalised) user.
        case loggedIn(String)
        /// Closing or closed: nothing more is answered.
        case closed
    }

    enum Action: Equatable {
        /// Send this frame.
        case send(ServerFrame)
        /// Send these frames, then close the connection.
        case sendAndClose([ServerFrame])
        /// Run a registration (slow: KDF and a synced write).
        case register(id: Int, username: String, password: String)
        /// Check a login (slow: KDF).
        case login(id: Int, username: String, password: String)
        /// Log out `username` and answer `ok`.
        case logout(id: Int, username: String)
        /// Open the chat with a user (slow: account check and inbox read).
        case openChat(id: Int, with: String)
        /// End the current 1-1 session, stay logged in (slow with shared presence).
        case leave(id: Int)
        /// Send a message to the chosen partner (slow when it goes to the inbox).
        case sendMessage(id: Int, body: String)
        /// The client confirmed a message.
        case acknowledge(upTo: Int)
        /// List who is online (slow with shared presence: a database read).
        case who(id: Int)
        /// Summarise the inbox (slow: store read).
        case inbox(id: Int)
        /// Change the logged-in user's password (slow: KDF twice and a synced write).
        case changePassword(id: Int, username: String, password: String, newPassword: String)
        /// Publish the logged-in user's keys (slow: a synced write).
        case publishKeys(id: Int, username: String, keys: PublishedKeys)
        /// Hand out a user's keys (slow: a synced removal of a one-time prekey).
        case fetchKeys(id: Int, username: String)
        /// Delete the logged-in user's account, keys and inbox (slow: KDF and synced writes).
        case deleteAccount(id: Int, username: String, password: String)
        /// Start or resume an upload (slow: an account check and a synced write).
        case uploadFile(id: Int, username: String, file: String, to: String, size: Int, chunks: Int)
        /// Store a chunk of an upload (slow: a synced write).
        case storeChunk(id: Int, username: String, file: String, index: Int, data: String)
        /// Stream chunks of a file to its recipient (slow: reads, and waits for the socket).
        case downloadFile(id: Int, username: String, file: String, from: Int, count: Int)
        /// The recipient is done with a file (slow: a synced delete).
        case finishFile(id: Int, username: String, file: String, received: Bool)
        /// The sender has seen a file's outcome (slow: a synced delete).
        case forgetFile(id: Int, username: String, file: String)
        /// Too many frames wait behind slow requests: stop reading until they are answered.
        case pauseReading
        /// Nothing to do.
        case none
    }

    private(set) var state: State = .awaitingHello
    /// Logged in with a one-time password from the operator: until `passwordChanged()`,
    /// every request but `passwd`, `logout` and `ping` is refused (`password_change_required`).
    private(set) var passwordChangeRequired = false
    /// A request is running; further frames wait in `queued` until it is answered, so that
    /// replies stay in request order.
    private(set) var busy = false
    /// Overlapping requests (`send`, `chunk`) running; see the type's documentation.
    private(set) var overlapping = 0
    /// A ring, so a frame is released as soon as it is taken: a client that keeps a few
    /// requests in flight (a file's chunks) never lets the queue drain empty, and an array
    /// emptied only then would hold every frame of the upload. Sparse: no storage while
    /// empty, which an idle session's queue always is.
    private var queued = SparseRing<Result<ClientFrame, ProtocolError>>()
    /// Reading was paused because the queue was full.
    private var readingPaused = false
    private var consecutiveBadFrames = 0
    private var messageBucket: TokenBucket
    /// Bad frames in a row after which the connection is closed.
    let maximumBadFrames: Int
    let serverAgent: String
    /// Frames queued behind a slow request at which reading pauses, so a client that floods
    /// cannot make the queue grow without bound.
    static let queueLimit = 64
    /// Overlapping requests that may run at once: enough for a client's window of messages
    /// or file chunks to share one sync; more only queue.
    static let overlapLimit = 32

    init(
        maximumBadFrames: Int = 5,
        messageRate: Double = 10,
        messageBurst: Int = 20,
        serverAgent: String = ProtocolVersion.agent("chat-server")
    ) {
        self.maximumBadFrames = maximumBadFrames
        self.serverAgent = serverAgent
        self.messageBucket = TokenBucket(rate: messageRate, burst: messageBurst)
    }

    var loggedInUser: String? {
        if case .loggedIn(let username) = state { return username }
        return nil
    }

    /// A frame (or a decoding failure) arrived. While it must wait (see the type's
    /// documentation) it is queued, and the answer is `.none`, or `.pauseReading` once the
    /// queue is full.
    mutating func frameReceived(_ decoded: consuming Result<ClientFrame, ProtocolError>, at now: NIODeadline = .now()) -> Action {
        guard state != .closed else { return .none }
        // Behind a frame already waiting it waits too, so frames are handled in order.
        if !queued.isEmpty || !mayStart(decoded) {
            queued.append(decoded)
            if queued.count >= Self.queueLimit, !readingPaused {
                readingPaused = true
                return .pauseReading
            }
            return .none
        }
        return handle(decoded, at: now)
    }

    /// The next queued frame's action, once no request runs; nil when there is nothing to
    /// take now (the queue is empty, a request is running again, or the session closed).
    mutating func nextQueuedAction(at now: NIODeadline = .now()) -> Action? {
        guard state != .closed, let next = queued.first, mayStart(next) else {
            return nil
        }
        return handle(queued.removeFirst(), at: now)
    }

    /// Whether `frame`, next in line, may be handled now: no request holds the session, and
    /// either nothing overlapping runs, or it may overlap too and there is room.
    private func mayStart(_ frame: borrowing Result<ClientFrame, ProtocolError>) -> Bool {
        guard !busy else { return false }
        guard overlapping > 0 else { return true }
        switch frame {
        case .success(.send), .success(.chunk):
            return overlapping < Self.overlapLimit
        case .success(.ack):
            // Answered by nothing, so it cannot overtake an answer.
            return true
        default:
            return false
        }
    }

    /// True once when reading was paused and the queue has drained: the handler reads again.
    mutating func readingMayResume() -> Bool {
        guard readingPaused, !busy, overlapping < Self.overlapLimit, queued.isEmpty || state == .closed else {
            return false
        }
        readingPaused = false
        return true
    }

    /// Any frame that is not a bad frame resets the count of bad frames in a row, whatever
    /// its answer (an ok, a state error such as `not_logged_in`, or none, like `ack`).
    private mutating func handle(_ decoded: consuming Result<ClientFrame, ProtocolError>, at now: NIODeadline) -> Action {
        let before = consecutiveBadFrames
        let action = decide(decoded, at: now)
        if consecutiveBadFrames == before { consecutiveBadFrames = 0 }
        return action
    }

    // Consuming along the way, so a frame's strings (a message body) are handed on, not
    // retained for each step and released after it.
    private mutating func decide(_ decoded: consuming Result<ClientFrame, ProtocolError>, at now: NIODeadline) -> Action {
        let frame: ClientFrame
        switch decoded {
        case .failure(let error):
            return refuse(error)
        case .success(let decodedFrame):
            frame = decodedFrame
        }
        if passwordChangeRequired, case .loggedIn = state, let refusal = Self.whilePasswordMustChange(frame) {
            return refusal
        }
        switch (state, frame) {
        case (.awaitingHello, .hello(let version, _)):
            let hello = ServerFrame.hello(version: ProtocolVersion.current, agent: serverAgent)
            guard version == ProtocolVersion.current else {
                state = .closed
                return .sendAndClose([hello, .error(.versionMismatch(got: version))])
            }
            state = .loggedOut
            return .send(hello)
        case (.awaitingHello, _):
            return refuse(ProtocolError(.helloRequired, id: frame.id))
        case (_, .hello):
            return refuse(ProtocolError(.alreadyHello))
        case (_, .ping(let id)):
            return .send(.ok(id: id))
        case (.loggedOut, .register(let id, let username, let password)):
            busy = true
            return .register(id: id, username: username, password: password)
        case (.loggedOut, .login(let id, let username, let password)):
            busy = true
            return .login(id: id, username: username, password: password)
        case (.loggedOut, .logout(let id)):
            return .send(.error(ProtocolError(.notLoggedIn, id: id)))
        case (.loggedIn, .register(let id, _, _)), (.loggedIn, .login(let id, _, _)):
            return .send(.error(ProtocolError(.alreadyLoggedIn, id: id)))
        case (.loggedIn(let username), .logout(let id)):
            state = .loggedOut
            passwordChangeRequired = false
            return .logout(id: id, username: username)
        case (.loggedIn, .chat(let id, let with)):
            busy = true
            return .openChat(id: id, with: with)
        case (.loggedIn, .leave(let id)):
            busy = true
            return .leave(id: id)
        case (.loggedIn, .send(let id, let body)):
            // Said, never silently dropped: the client shows "slow down".
            guard messageBucket.take(at: now) else {
                return .send(.error(ProtocolError(.rateLimited, id: id)))
            }
            overlapping += 1
            return .sendMessage(id: id, body: body)
        case (.loggedIn, .ack(let seq)):
            return .acknowledge(upTo: seq)
        case (.loggedIn, .who(let id)):
            busy = true
            return .who(id: id)
        case (.loggedIn, .inbox(let id)):
            busy = true
            return .inbox(id: id)
        case (.loggedIn(let username), .passwd(let id, let password, let newPassword)):
            busy = true
            return .changePassword(id: id, username: username, password: password, newPassword: newPassword)
        case (.loggedIn(let username), .publishKeys(let id, let keys)):
            busy = true
            return .publishKeys(id: id, username: username, keys: keys)
        case (.loggedIn, .fetchKeys(let id, let username)):
            busy = true
            return .fetchKeys(id: id, username: username)
        case (.loggedIn(let username), .deleteAccount(let id, let password)):
            busy = true
            return .deleteAccount(id: id, username: username, password: password)
        case (.loggedIn(let username), .upload(let id, let file, let to, let size, let chunks)):
            busy = true
            return .uploadFile(id: id, username: username, file: file, to: to, size: size, chunks: chunks)
        case (.loggedIn(let username), .chunk(let id, let file, let index, let data)):
            overlapping += 1
            return .storeChunk(id: id, username: username, file: file, index: index, data: data)
        case (.loggedIn(let username), .download(let id, let file, let from, let count)):
            busy = true
            return .downloadFile(id: id, username: username, file: file, from: from, count: count)
        case (.loggedIn(let username), .fileDone(let id, let file, let received)):
            busy = true
            return .finishFile(id: id, username: username, file: file, received: received)
        case (.loggedIn(let username), .fileForget(let id, let file)):
            busy = true
            return .forgetFile(id: id, username: username, file: file)
        case (.loggedOut, .ack):
            return .none
        case (.loggedOut, .chat(let id, _)), (.loggedOut, .leave(let id)), (.loggedOut, .send(let id, _)),
            (.loggedOut, .who(let id)), (.loggedOut, .inbox(let id)), (.loggedOut, .passwd(let id, _, _)),
            (.loggedOut, .publishKeys(let id, _)), (.loggedOut, .fetchKeys(let id, _)),
            (.loggedOut, .deleteAccount(let id, _)), (.loggedOut, .upload(let id, _, _, _, _)),
            (.loggedOut, .chunk(let id, _, _, _)), (.loggedOut, .download(let id, _, _, _)),
            (.loggedOut, .fileDone(let id, _, _)), (.loggedOut, .fileForget(let id, _)):
            return .send(.error(ProtocolError(.notLoggedIn, id: id)))
        case (.closed, _):
            return .none
        }
    }

    /// A registration finished (either way); the session stays logged out.
    mutating func registrationFinished() {
        busy = false
    }

    /// A slow request (open, inbox, passwd, the key frames, files but `chunk`) was
    /// answered; the next frame may be handled.
    mutating func requestFinished() {
        busy = false
    }

    /// An overlapping request (`send`, `chunk`) was answered.
    mutating func overlappingRequestFinished() {
        precondition(overlapping > 0, "an overlapping request finished that never started")
        overlapping -= 1
    }

    /// A login finished: with the user's name on success, nil on failure;
    /// `mustChangePassword` when the password was a one-time one from the operator.
    mutating func loginFinished(username: String?, mustChangePassword: Bool = false) {
        busy = false
        if let username, state == .loggedOut {
            state = .loggedIn(username)
            passwordChangeRequired = mustChangePassword
        }
    }

    /// A `passwd` succeeded: the session may do everything again.
    mutating func passwordChanged() {
        passwordChangeRequired = false
    }

    /// A `delete_account` succeeded: the session is logged out, its account gone.
    mutating func accountDeleted() {
        busy = false
        if case .loggedIn = state {
            state = .loggedOut
            passwordChangeRequired = false
        }
    }

    /// Another session took this user's name, or the operator locked or deleted the
    /// account. True when this session must say so and close.
    mutating func displaced() -> Bool {
        guard case .loggedIn = state else { return false }
        state = .closed
        return true
    }

    /// The server is stopping. True when a notice should still be sent.
    mutating func shutdown() -> Bool {
        guard state != .closed else { return false }
        state = .closed
        queued.removeAll()
        return true
    }

    /// The login or idle timer fired: say so and close.
    mutating func timedOut(_ error: ProtocolError) -> Action {
        guard state != .closed else { return .none }
        state = .closed
        return .sendAndClose([.error(error)])
    }

    /// The session cannot go on (its login could not be recorded as online): say why and
    /// close.
    mutating func failed(_ error: ProtocolError) -> Action {
        guard state != .closed else { return .none }
        state = .closed
        return .sendAndClose([.error(error)])
    }

    /// A fatal framing error from the decoder (oversize line).
    mutating func framingFailed(_ error: ProtocolError) -> Action {
        guard state != .closed else { return .none }
        state = .closed
        return .sendAndClose([.error(error)])
    }

    /// What a session that must change its password answers to `frame` instead of the
    /// usual; nil to handle it as usual (`passwd`, `logout`, `ping`, and `hello`, which is
    /// refused as always).
    private static func whilePasswordMustChange(_ frame: ClientFrame) -> Action? {
        switch frame {
        case .passwd, .logout, .ping, .hello:
            return nil
        case .ack:
            // Nothing can have been delivered: there is no chat to deliver in.
            return Action.none
        default:
            return .send(.error(ProtocolError(.passwordChangeRequired, id: frame.id)))
        }
    }

    private mutating func refuse(_ error: ProtocolError) -> Action {
        if error.code.closesConnection {
            state = .closed
            return .sendAndClose([.error(error)])
        }
        if error.code.countsAsBadFrame {
            consecutiveBadFrames += 1
            if consecutiveBadFrames >= maximumBadFrames {
                state = .closed
                return .sendAndClose([.error(error), .error(ProtocolError(.tooManyErrors))])
            }
        }
        return .send(.error(error))
    }
}

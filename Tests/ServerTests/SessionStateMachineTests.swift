import NIOCore
import Shared
import Testing
import TestSupport

@testable import Server

/// The session's protocol rules, fed decoded frames directly (no channel, no JSON).
@Suite("SessionStateMachine")
struct SessionStateMachineTests {
    typealias Machine = SessionStateMachine
    typealias Input = Result<ClientFrame, ProtocolError>

    static let agent = "chat-server/test"
    static let serverHello = ServerFrame.hello(version: ProtocolVersion.current, agent: agent)

    static func good(_ frame: ClientFrame) -> Input { .success(frame) }

    static var hello: Input { good(.hello(version: ProtocolVersion.current, agent: "chat-client/test")) }

    /// A decode failure of the kind the codec produces for garbage.
    static var garbage: Input { .failure(ProtocolError(.invalidJSON)) }

    /// A machine that has exchanged hellos.
    static func greeted(maximumBadFrames: Int = 5) -> Machine {
        var machine = Machine(maximumBadFrames: maximumBadFrames, serverAgent: agent)
        let action = machine.frameReceived(hello)
        precondition(action == .send(serverHello))
        return machine
    }

    /// `fresh` (by default, with the default limits) logged in as `username`.
    static func loggedIn(as username: String = "alice", _ fresh: Machine = Machine(serverAgent: agent)) -> Machine {
        var machine = fresh
        _ = machine.frameReceived(hello)
        _ = machine.frameReceived(good(.login(id: 1, username: username, password: "password1")))
        machine.loginFinished(username: username)
        return machine
    }

    // MARK: - Hello

    @Test("hello is answered with the server's hello and leads to logged out")
    func helloFirst() {
        var machine = Machine(serverAgent: Self.agent)
        #expect(machine.state == .awaitingHello)
        let action = machine.frameReceived(Self.hello)
        #expect(action == .send(Self.serverHello))
        #expect(machine.state == .loggedOut)
    }

    @Test(
        "any request before hello is refused with hello_required, echoing its id",
        arguments: [
            ClientFrame.ping(id: 7),
            .login(id: 7, username: "alice", password: "password1"),
            .register(id: 7, username: "alice", password: "password1"),
            .logout(id: 7),
        ]
    )
    func helloRequired(frame: ClientFrame) {
        var machine = Machine(serverAgent: Self.agent)
        let action = machine.frameReceived(Self.good(frame))
        #expect(action == .send(.error(ProtocolError(.helloRequired, id: 7))))
        #expect(machine.state == .awaitingHello)
        #expect(machine.busy == false)
    }

    @Test("hello_required counts as a bad frame")
    func helloRequiredCounts() {
        var machine = Machine(maximumBadFrames: 2, serverAgent: Self.agent)
        let first = machine.frameReceived(Self.good(.ping(id: 1)))
        let second = machine.frameReceived(Self.good(.ping(id: 2)))
        #expect(first == .send(.error(ProtocolError(.helloRequired, id: 1))))
        #expect(
            second
                == .sendAndClose([
                    .error(ProtocolError(.helloRequired, id: 2)), .error(ProtocolError(.tooManyErrors)),
                ]))
        #expect(machine.state == .closed)
    }

    @Test("a hello with another version gets our hello, then version_mismatch, then close")
    func versionMismatch() {
        var machine = Machine(serverAgent: Self.agent)
        let action = machine.frameReceived(Self.good(.hello(version: ProtocolVersion.current + 1, agent: "future")))
        #expect(
            action
                == .sendAndClose([
                    Self.serverHello, .error(.versionMismatch(got: ProtocolVersion.current + 1)),
                ]))
        #expect(machine.state == .closed)
        let after = machine.frameReceived(Self.hello)
        #expect(after == .none)
    }

    @Test("a second hello is refused with already_hello and the session goes on")
    func secondHello() {
        var machine = Self.greeted()
        let action = machine.frameReceived(Self.hello)
        #expect(action == .send(.error(ProtocolError(.alreadyHello))))
        #expect(machine.state == .loggedOut)

        var loggedIn = Self.loggedIn()
        let again = loggedIn.frameReceived(Self.hello)
        #expect(again == .send(.error(ProtocolError(.alreadyHello))))
        #expect(loggedIn.state == .loggedIn("alice"))
    }

    // MARK: - Register, login, logout

    @Test("register while logged out runs a registration and marks the session busy")
    func register() {
        var machine = Self.greeted()
        let action = machine.frameReceived(Self.good(.register(id: 3, username: "Alice", password: "password1")))
        #expect(action == .register(id: 3, username: "Alice", password: "password1"))
        #expect(machine.busy)
        machine.registrationFinished()
        #expect(machine.busy == false)
        #expect(machine.state == .loggedOut)
    }

    @Test("login while logged out runs a login; success moves to logged in")
    func loginSuccess() {
        var machine = Self.greeted()
        let action = machine.frameReceived(Self.good(.login(id: 4, username: "Alice", password: "password1")))
        #expect(action == .login(id: 4, username: "Alice", password: "password1"))
        #expect(machine.busy)
        #expect(machine.loggedInUser == nil)
        machine.loginFinished(username: "alice")
        #expect(machine.busy == false)
        #expect(machine.state == .loggedIn("alice"))
        #expect(machine.loggedInUser == "alice")
    }

    @Test("a failed login clears busy and stays logged out")
    func loginFailure() {
        var machine = Self.greeted()
        _ = machine.frameReceived(Self.good(.login(id: 4, username: "alice", password: "wrong password")))
        machine.loginFinished(username: nil)
        #expect(machine.busy == false)
        #expect(machine.state == .loggedOut)
    }

    @Test(
        "register and login while logged in are refused with already_logged_in",
        arguments: [
            ClientFrame.register(id: 9, username: "bob", password: "password1"),
            .login(id: 9, username: "bob", password: "password1"),
        ]
    )
    func alreadyLoggedIn(frame: ClientFrame) {
        var machine = Self.loggedIn()
        let action = machine.frameReceived(Self.good(frame))
        #expect(action == .send(.error(ProtocolError(.alreadyLoggedIn, id: 9))))
        #expect(machine.busy == false)
        #expect(machine.state == .loggedIn("alice"))
    }

    @Test("logout while logged in logs out that user")
    func logout() {
        var machine = Self.loggedIn(as: "alice")
        let action = machine.frameReceived(Self.good(.logout(id: 5)))
        #expect(action == .logout(id: 5, username: "alice"))
        #expect(machine.state == .loggedOut)
        #expect(machine.loggedInUser == nil)
    }

    @Test("logout while logged out is refused with not_logged_in")
    func logoutWhenLoggedOut() {
        var machine = Self.greeted()
        let action = machine.frameReceived(Self.good(.logout(id: 6)))
        #expect(action == .send(.error(ProtocolError(.notLoggedIn, id: 6))))
        #expect(machine.state == .loggedOut)
    }

    @Test("passwd needs a login, names the logged-in user, and holds the queue like any slow request")
    func passwd() {
        var loggedOut = Self.greeted()
        let refused = loggedOut.frameReceived(Self.good(.passwd(id: 7, password: "a", newPassword: "b")))
        #expect(refused == .send(.error(ProtocolError(.notLoggedIn, id: 7))))
        var machine = Self.loggedIn(as: "alice")
        let action = machine.frameReceived(Self.good(.passwd(id: 8, password: "old password", newPassword: "new password")))
        #expect(action == .changePassword(id: 8, username: "alice", password: "old password", newPassword: "new password"))
        #expect(machine.busy)
    }

    // MARK: - One-time passwords and account deletion

    /// A machine logged in with a one-time password.
    static func mustChangePassword(as username: String = "alice") -> Machine {
        var machine = greeted()
        _ = machine.frameReceived(good(.login(id: 1, username: username, password: "one-time")))
        machine.loginFinished(username: username, mustChangePassword: true)
        return machine
    }

    @Test(
        "after a one-time password every request but passwd, logout and ping is password_change_required",
        arguments: [
            ClientFrame.chat(id: 9, with: "bob"), .leave(id: 9), .send(id: 9, body: "hi"), .who(id: 9), .inbox(id: 9),
            .publishKeys(id: 9, keys: TestKeys.keys(preKeys: 1...2)), .fetchKeys(id: 9, username: "bob"),
            .deleteAccount(id: 9, password: "one-time"), .register(id: 9, username: "x", password: "password1"),
            .login(id: 9, username: "x", password: "password1"),
        ])
    func mustChangeGate(frame: ClientFrame) {
        var machine = Self.mustChangePassword()
        #expect(machine.passwordChangeRequired)
        let refused = machine.frameReceived(Self.good(frame))
        #expect(refused == .send(.error(ProtocolError(.passwordChangeRequired, id: 9))))
        #expect(!machine.busy)
        #expect(machine.state == .loggedIn("alice"))
    }

    @Test("the gate lets passwd, ping and logout through, ignores ack, and opens once passwd succeeded")
    func mustChangeOpens() {
        var machine = Self.mustChangePassword()
        let ping = machine.frameReceived(Self.good(.ping(id: 2)))
        #expect(ping == .send(.ok(id: 2)))
        let ack = machine.frameReceived(Self.good(.ack(seq: 1)))
        #expect(ack == .none)
        let change = machine.frameReceived(Self.good(.passwd(id: 3, password: "one-time", newPassword: "mine-now-1")))
        #expect(change == .changePassword(id: 3, username: "alice", password: "one-time", newPassword: "mine-now-1"))
        // A failed passwd leaves the gate shut.
        machine.requestFinished()
        let stillShut = machine.frameReceived(Self.good(.who(id: 4)))
        #expect(stillShut == .send(.error(ProtocolError(.passwordChangeRequired, id: 4))))
        _ = machine.frameReceived(Self.good(.passwd(id: 5, password: "one-time", newPassword: "mine-now-1")))
        machine.passwordChanged()
        machine.requestFinished()
        #expect(!machine.passwordChangeRequired)
        let opened = machine.frameReceived(Self.good(.who(id: 6)))
        #expect(opened == .who(id: 6))
    }

    @Test("logout clears the gate: the next login decides afresh")
    func mustChangeLogout() {
        var machine = Self.mustChangePassword()
        let logout = machine.frameReceived(Self.good(.logout(id: 2)))
        #expect(logout == .logout(id: 2, username: "alice"))
        #expect(!machine.passwordChangeRequired)
        _ = machine.frameReceived(Self.good(.login(id: 3, username: "alice", password: "mine-now-1")))
        machine.loginFinished(username: "alice")
        let afterLogin = machine.frameReceived(Self.good(.who(id: 4)))
        #expect(afterLogin == .who(id: 4))
    }

    @Test("delete_account needs a login, names the user, holds the queue, and ends logged out")
    func deleteAccount() {
        var loggedOut = Self.greeted()
        let refused = loggedOut.frameReceived(Self.good(.deleteAccount(id: 7, password: "p")))
        #expect(refused == .send(.error(ProtocolError(.notLoggedIn, id: 7))))
        var machine = Self.loggedIn(as: "alice")
        let action = machine.frameReceived(Self.good(.deleteAccount(id: 8, password: "password1")))
        #expect(action == .deleteAccount(id: 8, username: "alice", password: "password1"))
        #expect(machine.busy)
        let queued = machine.frameReceived(Self.good(.ping(id: 9)))
        #expect(queued == .none, "queued behind the deletion")
        machine.accountDeleted()
        #expect(!machine.busy)
        #expect(machine.state == .loggedOut)
        let queuedPing = machine.nextQueuedAction()
        #expect(queuedPing == .send(.ok(id: 9)))
        let afterwards = machine.frameReceived(Self.good(.who(id: 10)))
        #expect(afterwards == .send(.error(ProtocolError(.notLoggedIn, id: 10))))
    }

    @Test("a session closed by the operator answers nothing more")
    func closedByOperator() {
        var machine = Self.loggedIn(as: "alice")
        let closed = machine.displaced()
        #expect(closed)
        #expect(machine.state == .closed)
        let afterClose = machine.frameReceived(Self.good(.ping(id: 2)))
        #expect(afterClose == .none)
        var loggedOut = Self.greeted()
        let displacedLoggedOut = loggedOut.displaced()
        #expect(!displacedLoggedOut, "only a logged-in session is closed for its account")
    }

    @Test("the key frames need a login, name the logged-in publisher, and hold the queue like any slow request")
    func keyFrames() {
        let keys = PublishedKeys(
            registrationID: 1, identityKey: Array(repeating: 5, count: 33),
            signedPreKey: PublishedSignedPreKey(id: 1, publicKey: Array(repeating: 5, count: 33), signature: Array(repeating: 0, count: 64)),
            preKeys: [])
        var loggedOut = Self.greeted()
        #expect(loggedOut.frameReceived(Self.good(.publishKeys(id: 3, keys: keys))) == .send(.error(ProtocolError(.notLoggedIn, id: 3))))
        #expect(loggedOut.frameReceived(Self.good(.fetchKeys(id: 4, username: "bob"))) == .send(.error(ProtocolError(.notLoggedIn, id: 4))))
        #expect(!loggedOut.busy)

        var machine = Self.loggedIn(as: "alice")
        #expect(machine.frameReceived(Self.good(.publishKeys(id: 5, keys: keys))) == .publishKeys(id: 5, username: "alice", keys: keys))
        #expect(machine.busy)
        #expect(machine.frameReceived(Self.good(.fetchKeys(id: 6, username: "Bob"))) == .none, "queued behind the publish")
        machine.requestFinished()
        #expect(machine.nextQueuedAction() == .fetchKeys(id: 6, username: "Bob"))
        #expect(machine.busy)
        machine.requestFinished()
        #expect(machine.nextQueuedAction() == nil)
    }

    @Test("ping is answered ok in every state after hello")
    func ping() {
        var loggedOut = Self.greeted()
        let first = loggedOut.frameReceived(Self.good(.ping(id: 10)))
        #expect(first == .send(.ok(id: 10)))

        var loggedIn = Self.loggedIn()
        let second = loggedIn.frameReceived(Self.good(.ping(id: 11)))
        #expect(second == .send(.ok(id: 11)))
    }

    // MARK: - Bad frames

    @Test(
        "the fifth bad frame in a row is answered and followed by too_many_errors and close",
        arguments: [ErrorCode.invalidJSON, .unknownType, .invalidUTF8, .missingField, .invalidField]
    )
    func tooManyErrors(code: ErrorCode) {
        var machine = Self.greeted(maximumBadFrames: 5)
        let error = ProtocolError(code, id: 1)
        for _ in 1...4 {
            let action = machine.frameReceived(.failure(error))
            #expect(action == .send(.error(error)))
        }
        #expect(machine.state == .loggedOut)
        let fifth = machine.frameReceived(.failure(error))
        #expect(fifth == .sendAndClose([.error(error), .error(ProtocolError(.tooManyErrors))]))
        #expect(machine.state == .closed)
    }

    @Test("bad frames before hello count too")
    func badFramesBeforeHello() {
        var machine = Machine(maximumBadFrames: 5, serverAgent: Self.agent)
        var actions: [Machine.Action] = []
        for _ in 1...5 {
            actions.append(machine.frameReceived(Self.garbage))
        }
        #expect(actions.dropLast().allSatisfy { $0 == .send(.error(ProtocolError(.invalidJSON))) })
        #expect(actions.last == .sendAndClose([.error(ProtocolError(.invalidJSON)), .error(ProtocolError(.tooManyErrors))]))
    }

    @Test(
        "a good frame in between resets the count",
        arguments: [
            ClientFrame.ping(id: 2),
            .login(id: 2, username: "alice", password: "password1"),
            .register(id: 2, username: "alice", password: "password1"),
        ]
    )
    func goodFrameResets(frame: ClientFrame) {
        var machine = Self.greeted(maximumBadFrames: 5)
        for _ in 1...4 {
            _ = machine.frameReceived(Self.garbage)
        }
        _ = machine.frameReceived(Self.good(frame))
        machine.loginFinished(username: nil)
        machine.registrationFinished()
        for _ in 1...4 {
            let action = machine.frameReceived(Self.garbage)
            #expect(action == .send(.error(ProtocolError(.invalidJSON))))
        }
        #expect(machine.state == .loggedOut)
        let ninth = machine.frameReceived(Self.garbage)
        #expect(ninth == .sendAndClose([.error(ProtocolError(.invalidJSON)), .error(ProtocolError(.tooManyErrors))]))
    }

    @Test("login failures and state errors do not count as bad frames")
    func loginFailuresDoNotCount() {
        var machine = Self.greeted(maximumBadFrames: 2)
        _ = machine.frameReceived(Self.garbage)
        // A wrong password ten times over: the session is throttled elsewhere, not closed here.
        // The login itself is a good frame, so the count starts again after it.
        for id in 1...10 {
            _ = machine.frameReceived(Self.good(.login(id: id, username: "alice", password: "wrong password")))
            machine.loginFinished(username: nil)
        }
        let notLoggedIn = machine.frameReceived(Self.good(.logout(id: 20)))
        #expect(notLoggedIn == .send(.error(ProtocolError(.notLoggedIn, id: 20))))
        let notLoggedInAgain = machine.frameReceived(Self.good(.logout(id: 21)))
        #expect(notLoggedInAgain == .send(.error(ProtocolError(.notLoggedIn, id: 21))))
        // One bad frame is still allowed before the limit of two.
        let bad = machine.frameReceived(Self.garbage)
        #expect(bad == .send(.error(ProtocolError(.invalidJSON))))
        #expect(machine.state == .loggedOut)
    }

    @Test("already_logged_in does not count as a bad frame")
    func alreadyLoggedInDoesNotCount() {
        var machine = Self.loggedIn()
        for id in 1...10 {
            let action = machine.frameReceived(Self.good(.login(id: id, username: "bob", password: "password1")))
            #expect(action == .send(.error(ProtocolError(.alreadyLoggedIn, id: id))))
        }
        #expect(machine.state == .loggedIn("alice"))
    }

    // MARK: - Closing

    @Test("an oversize line closes with its error, in any open state")
    func framingFailed() {
        let error = ProtocolError.frameTooLarge(limit: 64)
        var fresh = Machine(serverAgent: Self.agent)
        let first = fresh.framingFailed(error)
        #expect(first == .sendAndClose([.error(error)]))
        #expect(fresh.state == .closed)

        var loggedIn = Self.loggedIn()
        let second = loggedIn.framingFailed(error)
        #expect(second == .sendAndClose([.error(error)]))
        #expect(loggedIn.state == .closed)

        let again = loggedIn.framingFailed(error)
        #expect(again == .none)
    }

    @Test("displaced() is true only when logged in, and closes the session")
    func displaced() {
        var fresh = Machine(serverAgent: Self.agent)
        let beforeHello = fresh.displaced()
        #expect(beforeHello == false)
        #expect(fresh.state == .awaitingHello)

        var loggedOut = Self.greeted()
        let whileLoggedOut = loggedOut.displaced()
        #expect(whileLoggedOut == false)
        #expect(loggedOut.state == .loggedOut)

        var loggedIn = Self.loggedIn()
        let first = loggedIn.displaced()
        #expect(first)
        #expect(loggedIn.state == .closed)
        let second = loggedIn.displaced()
        #expect(second == false)
    }

    @Test("shutdown() is true once, for any open session")
    func shutdown() {
        var machine = Self.greeted()
        let first = machine.shutdown()
        #expect(first)
        #expect(machine.state == .closed)
        let second = machine.shutdown()
        #expect(second == false)
    }

    @Test("a login that finishes after the session closed does not log it in")
    func loginFinishesAfterClose() {
        var machine = Self.greeted()
        _ = machine.frameReceived(Self.good(.login(id: 1, username: "alice", password: "password1")))
        _ = machine.shutdown()
        machine.loginFinished(username: "alice")
        #expect(machine.state == .closed)
        #expect(machine.busy == false)
    }

    @Test(
        "after close every frame, good or bad, is ignored",
        arguments: [
            Input.success(.hello(version: ProtocolVersion.current, agent: "x")),
            .success(.ping(id: 1)),
            .success(.login(id: 1, username: "alice", password: "password1")),
            .success(.register(id: 1, username: "alice", password: "password1")),
            .success(.logout(id: 1)),
            .failure(ProtocolError(.invalidJSON)),
        ]
    )
    func closedIgnoresFrames(input: Input) {
        var machine = Self.loggedIn()
        _ = machine.shutdown()
        let action = machine.frameReceived(input)
        #expect(action == .none)
        #expect(machine.busy == false)
    }

    // MARK: - The request queue

    @Test("frames behind a running request wait; a full queue pauses reading until it drains")
    func queuePausesAndResumes() {
        var machine = Self.loggedIn()
        #expect(machine.frameReceived(Self.good(.chat(id: 1, with: "bob"))) == .openChat(id: 1, with: "bob"))
        for id in 2..<(1 + Machine.queueLimit) {
            #expect(machine.frameReceived(Self.good(.ping(id: id))) == .none)
        }
        #expect(machine.frameReceived(Self.good(.ping(id: 1 + Machine.queueLimit))) == .pauseReading)
        #expect(machine.frameReceived(Self.good(.ping(id: 2 + Machine.queueLimit))) == .none, "paused once")
        let early = machine.nextQueuedAction()
        #expect(early == nil, "nothing while the request runs")
        let resumesEarly = machine.readingMayResume()
        #expect(resumesEarly == false)
        machine.requestFinished()
        var answered: [Int] = []
        while let action = machine.nextQueuedAction() {
            if case .send(.ok(let id, nil, nil, nil, false)) = action { answered.append(id) }
        }
        #expect(answered == Array(2...(2 + Machine.queueLimit)))
        let resumes = machine.readingMayResume()
        let resumesAgain = machine.readingMayResume()
        #expect(resumes)
        #expect(resumesAgain == false, "resumed once")
    }

    @Test("a queued request makes the session busy again; the rest waits for it")
    func queuedRequestBlocksTheRest() {
        var machine = Self.loggedIn()
        _ = machine.frameReceived(Self.good(.inbox(id: 1)))
        _ = machine.frameReceived(Self.good(.chat(id: 2, with: "bob")))
        _ = machine.frameReceived(Self.good(.ping(id: 3)))
        machine.requestFinished()
        let chat = machine.nextQueuedAction()
        let blocked = machine.nextQueuedAction()
        #expect(chat == .openChat(id: 2, with: "bob"))
        #expect(blocked == nil)
        machine.requestFinished()
        let ping = machine.nextQueuedAction()
        let empty = machine.nextQueuedAction()
        #expect(ping == .send(.ok(id: 3)))
        #expect(empty == nil)
    }

    @Test("sends past the burst are refused rate_limited without making the session busy")
    func rateLimit() {
        var machine = Self.loggedIn(Machine(messageRate: 1, messageBurst: 2, serverAgent: Self.agent))
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        #expect(machine.frameReceived(Self.good(.send(id: 2, body: "a")), at: start) == .sendMessage(id: 2, body: "a"))
        machine.overlappingRequestFinished()
        #expect(machine.frameReceived(Self.good(.send(id: 3, body: "b")), at: start) == .sendMessage(id: 3, body: "b"))
        machine.overlappingRequestFinished()
        #expect(
            machine.frameReceived(Self.good(.send(id: 4, body: "c")), at: start)
                == .send(.error(ProtocolError(.rateLimited, id: 4))))
        #expect(machine.busy == false)
        #expect(
            machine.frameReceived(Self.good(.send(id: 5, body: "d")), at: start + .seconds(1))
                == .sendMessage(id: 5, body: "d"), "a token back after a second")
    }

    @Test("sends and chunks overlap up to the limit; the next waits for room, not for all of them")
    func sendsOverlap() {
        var machine = Self.loggedIn(Machine(messageRate: 1000, messageBurst: 1000, serverAgent: Self.agent))
        for id in 0..<Machine.overlapLimit {
            let frame: ClientFrame = id.isMultiple(of: 2)
                ? .send(id: id, body: "m\(id)") : .chunk(id: id, file: "f", index: id, data: "AAAA")
            let action = machine.frameReceived(Self.good(frame))
            #expect(action != .none, "frame \(id) started at once")
        }
        #expect(machine.overlapping == Machine.overlapLimit)
        #expect(!machine.busy)
        #expect(machine.frameReceived(Self.good(.send(id: 100, body: "over"))) == .none, "no room: queued")
        #expect(machine.frameReceived(Self.good(.ack(seq: 4))) == .none, "queued behind the waiting send, in order")
        let early = machine.nextQueuedAction()
        #expect(early == nil)
        machine.overlappingRequestFinished()
        let next = machine.nextQueuedAction()
        let ack = machine.nextQueuedAction()
        let nothing = machine.nextQueuedAction()
        #expect(next == .sendMessage(id: 100, body: "over"))
        #expect(ack == .acknowledge(upTo: 4))
        #expect(nothing == nil)
        #expect(machine.overlapping == Machine.overlapLimit)
    }

    @Test("a request that does not overlap waits until every running send is answered, and holds what follows")
    func requestWaitsForSends() {
        var machine = Self.loggedIn()
        #expect(machine.frameReceived(Self.good(.send(id: 2, body: "a"))) == .sendMessage(id: 2, body: "a"))
        #expect(machine.frameReceived(Self.good(.ack(seq: 1))) == .acknowledge(upTo: 1), "an ack answers nothing: at once")
        #expect(machine.frameReceived(Self.good(.send(id: 3, body: "b"))) == .sendMessage(id: 3, body: "b"))
        #expect(machine.frameReceived(Self.good(.ping(id: 4))) == .none, "its ok would overtake the receipts")
        #expect(machine.frameReceived(Self.good(.send(id: 5, body: "c"))) == .none, "behind the ping")
        machine.overlappingRequestFinished()
        let stillWaiting = machine.nextQueuedAction()
        #expect(stillWaiting == nil)
        machine.overlappingRequestFinished()
        let ping = machine.nextQueuedAction()
        let send = machine.nextQueuedAction()
        #expect(ping == .send(.ok(id: 4)))
        #expect(send == .sendMessage(id: 5, body: "c"))
        #expect(machine.frameReceived(Self.good(.who(id: 6))) == .none)
        machine.overlappingRequestFinished()
        let who = machine.nextQueuedAction()
        #expect(who == .who(id: 6))
        #expect(machine.busy)
        #expect(machine.frameReceived(Self.good(.send(id: 7, body: "d"))) == .none, "behind the running who")
    }

    @Test(
        "before login, who, logout and ack are not bad frames and reset the count",
        arguments: [ClientFrame.who(id: 9), .logout(id: 9), .ack(seq: 1)])
    func stateErrorsReset(frame: ClientFrame) {
        var machine = Self.greeted(maximumBadFrames: 5)
        for _ in 1...4 {
            _ = machine.frameReceived(Self.garbage)
        }
        _ = machine.frameReceived(Self.good(frame))
        let bad = machine.frameReceived(Self.garbage)
        #expect(bad == .send(.error(ProtocolError(.invalidJSON))), "one bad frame after a reset does not close")
        #expect(machine.state == .loggedOut)
    }
}

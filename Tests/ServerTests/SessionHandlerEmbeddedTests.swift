import Logging
import NIOCore
import NIOEmbedded
import Shared
import Testing

@testable import Server

/// `SessionHandler` on an `EmbeddedChannel` with in-memory services that answer when the
/// test says so: frames in and out as lines, no threads, no timing. Each test ends
/// with `finish().isClean`: nothing left unread, nothing written that was not expected.
@Suite("SessionHandler, embedded")
struct SessionHandlerEmbeddedTests {
    /// Accounts in a dictionary; logins wait for the test to complete them when asked to.
    final class Accounts: SessionAccounts, @unchecked Sendable {
        // @unchecked: used only from the EmbeddedChannel's thread (the test's own).
        var passwords: [String: String] = [:]
        var holdLogins = false
        var heldLogins: [(name: String, promise: EventLoopPromise<LoginGrant>)] = []
        /// Users whose login says the password must be changed.
        var mustChange: Set<String> = []

        func register(id: Int, username: String, password: String, on loop: EventLoop) -> EventLoopFuture<String> {
            let name = username.lowercased()
            guard passwords[name] == nil else { return loop.makeFailedFuture(ProtocolError(.usernameTaken, id: id)) }
            passwords[name] = password
            return loop.makeSucceededFuture(name)
        }

        func login(id: Int, username: String, password: String, address: String, on loop: EventLoop)
            -> EventLoopFuture<LoginGrant>
        {
            let name = username.lowercased()
            guard passwords[name] == password else {
                return loop.makeFailedFuture(ProtocolError(.badCredentials, id: id))
            }
            let grant = LoginGrant(username: name, mustChangePassword: mustChange.contains(name))
            guard holdLogins else { return loop.makeSucceededFuture(grant) }
            let promise = loop.makePromise(of: LoginGrant.self)
            heldLogins.append((name, promise))
            return promise.futureResult
        }

        func changePassword(
            id: Int, username: String, password: String, newPassword: String, address: String, on loop: EventLoop
        ) -> EventLoopFuture<Void> {
            guard passwords[username] == password else {
                return loop.makeFailedFuture(ProtocolError(.badCredentials, id: id))
            }
            passwords[username] = newPassword
            mustChange.remove(username)
            return loop.makeSucceededVoidFuture()
        }

        func deleteAccount(id: Int, username: String, password: String, address: String, on loop: EventLoop)
            -> EventLoopFuture<Void>
        {
            guard passwords[username] == password else {
                return loop.makeFailedFuture(ProtocolError(.badCredentials, id: id))
            }
            passwords[username] = nil
            return loop.makeSucceededVoidFuture()
        }
    }

    /// Delivery that records what the session asked for and answers from canned frames.
    final class Delivery: SessionDelivery, @unchecked Sendable {
        // @unchecked: used only from the EmbeddedChannel's thread (the test's own).
        var calls: [String] = []
        var heldChats: [EventLoopPromise<ServerFrame>] = []
        var storeSends = false
        /// Sends wait for the test to answer them (as stored sends wait for the disk).
        var holdSends = false
        var heldSends: [EventLoopPromise<ServerFrame>] = []

        func mailbox(username: String, sessionID: UInt64, channel: Channel) -> SessionMailbox {
            SessionMailbox(username: username, sessionID: sessionID, liveWindow: InboxLimits(), channel: channel)
        }

        func sessionStarted(_ mailbox: SessionMailbox, on loop: EventLoop) -> EventLoopFuture<[ServerFrame]> {
            calls.append("started \(mailbox.username)")
            return loop.makeSucceededFuture([.inbox(id: nil, counts: [:], expired: 0)])
        }

        func sessionEnded(_ mailbox: SessionMailbox, disconnected: Bool) {
            calls.append("ended \(mailbox.username)\(disconnected ? " (disconnected)" : "")")
        }

        func openChat(partner: String, requestID: Int, mailbox: SessionMailbox, on loop: EventLoop)
            -> EventLoopFuture<ServerFrame>
        {
            calls.append("chat \(partner)")
            let promise = loop.makePromise(of: ServerFrame.self)
            heldChats.append(promise)
            return promise.futureResult
        }

        func leave(_ mailbox: SessionMailbox, requestID: Int, on loop: EventLoop) -> EventLoopFuture<ServerFrame> {
            calls.append("leave")
            return loop.makeSucceededFuture(.ok(id: requestID))
        }

        func send(from mailbox: SessionMailbox, body: String, requestID: Int, on loop: EventLoop) -> SendAnswer {
            calls.append("send \(body)")
            if holdSends {
                let promise = loop.makePromise(of: ServerFrame.self)
                heldSends.append(promise)
                return .later(promise.futureResult)
            }
            let receipt = ServerFrame.receipt(id: requestID, messageID: "m\(requestID)", status: storeSends ? .stored : .sent)
            return storeSends ? .later(loop.makeSucceededFuture(receipt)) : .now(receipt)
        }

        func acknowledge(upTo seq: Int, mailbox: SessionMailbox) { calls.append("ack \(seq)") }

        func summary(for user: String, requestID: Int?, on loop: EventLoop) -> EventLoopFuture<ServerFrame> {
            loop.makeSucceededFuture(.inbox(id: requestID, counts: ["bob": 2], expired: 0))
        }

        func who(except user: String, requestID: Int, on loop: EventLoop) -> EventLoopFuture<ServerFrame> {
            loop.makeSucceededFuture(.who(id: requestID, users: [PresenceEntry(username: "bob", status: .free)]))
        }
    }

    /// Keys that record what the session asked for; publishes wait for the test to answer
    /// them when asked to.
    final class Keys: SessionKeys, @unchecked Sendable {
        // @unchecked: used only from the EmbeddedChannel's thread (the test's own).
        var calls: [String] = []
        var own = OwnKeys.none
        var holdPublishes = false
        var heldPublishes: [EventLoopPromise<ServerFrame>] = []

        func publish(_ keys: PublishedKeys, username: String, requestID: Int, on loop: EventLoop)
            -> EventLoopFuture<ServerFrame>
        {
            calls.append("publish \(username) \(keys.preKeys.count)")
            guard holdPublishes else { return loop.makeSucceededFuture(.ok(id: requestID, preKeys: keys.preKeys.count)) }
            let promise = loop.makePromise(of: ServerFrame.self)
            heldPublishes.append(promise)
            return promise.futureResult
        }

        func fetch(_ target: String, requestID: Int, on loop: EventLoop) -> EventLoopFuture<ServerFrame> {
            calls.append("fetch \(target)")
            return loop.makeSucceededFuture(.error(ProtocolError(.noKeys, id: requestID)))
        }

        func ownKeys(username: String, requestID: Int, on loop: EventLoop) -> EventLoopFuture<OwnKeys> {
            calls.append("own \(username)")
            return loop.makeSucceededFuture(own)
        }
    }

    /// Files that record what the session asked for and answer at once; a download sends
    /// `chunksPerDownload` chunks through the session's writer first.
    final class Files: SessionFiles, @unchecked Sendable {
        // @unchecked: used only from the EmbeddedChannel's thread (the test's own).
        var calls: [String] = []
        var outcomes: [ServerFrame] = []
        var chunksPerDownload = 2
        /// Chunks wait for the test to answer them.
        var holdChunks = false
        var heldChunks: [EventLoopPromise<ServerFrame>] = []

        func upload(
            from sender: String, file: String, to recipient: String, size: Int, chunks: Int, requestID: Int,
            on loop: EventLoop
        ) -> EventLoopFuture<ServerFrame> {
            calls.append("upload \(sender) \(recipient) \(size)")
            return loop.makeSucceededFuture(.upload(id: requestID, file: file, stored: 0))
        }

        func chunk(from sender: String, file: String, index: Int, data: String, requestID: Int, on loop: EventLoop)
            -> EventLoopFuture<ServerFrame>
        {
            calls.append("chunk \(index)")
            guard holdChunks else { return loop.makeSucceededFuture(.ok(id: requestID)) }
            let promise = loop.makePromise(of: ServerFrame.self)
            heldChunks.append(promise)
            return promise.futureResult
        }

        func download(
            by user: String, file: String, from: Int, count: Int, requestID: Int, on loop: EventLoop,
            write: @escaping @Sendable (ServerFrame) -> EventLoopFuture<Void>
        ) -> EventLoopFuture<ServerFrame> {
            calls.append("download \(from) \(count)")
            let writes = (from..<from + min(count, chunksPerDownload)).map { index in
                write(.chunk(file: file, index: index, data: "AAAA"))
            }
            return EventLoopFuture.andAllSucceed(writes, on: loop).map { .ok(id: requestID) }
        }

        func done(by user: String, file: String, received: Bool, requestID: Int, on loop: EventLoop)
            -> EventLoopFuture<ServerFrame>
        {
            calls.append("done \(received)")
            return loop.makeSucceededFuture(.ok(id: requestID))
        }

        func forget(by user: String, file: String, requestID: Int, on loop: EventLoop) -> EventLoopFuture<ServerFrame> {
            calls.append("forget")
            return loop.makeSucceededFuture(.ok(id: requestID))
        }

        func pendingOutcomes(for user: String, on loop: EventLoop) -> EventLoopFuture<[ServerFrame]> {
            loop.makeSucceededFuture(outcomes)
        }
    }

    let accounts = Accounts()
    let delivery = Delivery()
    let keys = Keys()
    let files = Files()
    let channel: EmbeddedChannel

    init(limits: SessionLimits = SessionLimits()) throws {
        let services = SessionServices(accounts: accounts, delivery: delivery, keys: keys, files: files, limits: limits)
        let handler = SessionHandler(
            services: services, sessionID: 1, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            maximumFrameLength: 1024)
        channel = EmbeddedChannel(handlers: [LinePerBuffer(), handler])
        try channel.connect(to: SocketAddress(ipAddress: "192.0.2.1", port: 4000)).wait()
    }

    static let serverHello = ServerFrame.hello(version: ProtocolVersion.current, agent: ProtocolVersion.agent("chat-server"))

    func receive(_ frames: ClientFrame...) throws {
        for frame in frames {
            var line = frame.encode(allocator: channel.allocator)
            line.writeString("\n")
            try channel.writeInbound(line)
        }
    }

    /// Everything the session has written so far.
    func written() throws -> [ServerFrame] {
        var frames: [ServerFrame] = []
        while let line = try channel.readOutbound(as: ByteBuffer.self) { frames.append(try ServerFrame.decode(line).get()) }
        return frames
    }

    func loggedIn() throws {
        try receive(
            .hello(version: ProtocolVersion.current, agent: "test"),
            .register(id: 1, username: "alice", password: "password1"),
            .login(id: 2, username: "alice", password: "password1"))
        #expect(
            try written() == [
                Self.serverHello, .ok(id: 1, username: "alice"), .ok(id: 2, username: "alice"),
                .inbox(id: nil, counts: [:], expired: 0),
            ])
    }

    @Test("hello, register, login: answered in order, the login followed by the summary")
    func loginFlow() throws {
        try loggedIn()
        #expect(delivery.calls == ["started alice"])
        try receive(.logout(id: 3))
        #expect(try written() == [.ok(id: 3)])
        #expect(delivery.calls == ["started alice", "ended alice"])
        #expect(try channel.finish().isClean)
    }

    @Test("the login's ok reports the user's own keys, read before it is sent")
    func loginReportsOwnKeys() throws {
        keys.own = OwnKeys(identityKey: Array(repeating: 5, count: 33), preKeyCount: 7)
        try receive(
            .hello(version: ProtocolVersion.current, agent: "test"),
            .register(id: 1, username: "alice", password: "password1"),
            .login(id: 2, username: "alice", password: "password1"))
        #expect(
            try written() == [
                Self.serverHello, .ok(id: 1, username: "alice"),
                .ok(id: 2, username: "alice", identityKey: Array(repeating: 5, count: 33), preKeys: 7),
                .inbox(id: nil, counts: [:], expired: 0),
            ])
        #expect(keys.calls == ["own alice"])
        #expect(try channel.finish().isClean)
    }

    @Test("publish_keys holds the queue until answered; fetch_keys after it is answered in order")
    func keyFramesInOrder() throws {
        try loggedIn()
        keys.holdPublishes = true
        let published = PublishedKeys(
            registrationID: 1, identityKey: Array(repeating: 5, count: 33),
            signedPreKey: PublishedSignedPreKey(id: 1, publicKey: Array(repeating: 5, count: 33), signature: Array(repeating: 0, count: 64)),
            preKeys: [PublishedPreKey(id: 1, publicKey: Array(repeating: 5, count: 33))])
        try receive(.publishKeys(id: 3, keys: published), .fetchKeys(id: 4, username: "bob"), .ping(id: 5))
        #expect(try written().isEmpty, "nothing past the publish until it is answered")
        #expect(keys.calls == ["own alice", "publish alice 1"])
        keys.heldPublishes[0].succeed(.ok(id: 3, preKeys: 1))
        #expect(try written() == [.ok(id: 3, preKeys: 1), .error(ProtocolError(.noKeys, id: 4)), .ok(id: 5)])
        #expect(keys.calls == ["own alice", "publish alice 1", "fetch bob"])
        #expect(try channel.finish().isClean)
    }

    @Test("frames behind a running login wait, then are answered in order")
    func queuedBehindLogin() throws {
        accounts.holdLogins = true
        accounts.passwords["alice"] = "password1"
        try receive(
            .hello(version: ProtocolVersion.current, agent: "test"),
            .login(id: 1, username: "alice", password: "password1"),
            .ping(id: 2), .who(id: 3))
        #expect(try written() == [Self.serverHello], "nothing past the login until it is answered")
        accounts.heldLogins[0].promise.succeed(LoginGrant(username: "alice"))
        #expect(
            try written() == [
                .ok(id: 1, username: "alice"), .ok(id: 2),
                .who(id: 3, users: [PresenceEntry(username: "bob", status: .free)]),
                .inbox(id: nil, counts: [:], expired: 0),
            ])
        #expect(try channel.finish().isClean)
    }

    @Test("frames behind a slow chat request are all answered, in order, once it is")
    func queuedBehindChat() throws {
        try loggedIn()
        try receive(.chat(id: 10, with: "bob"))
        for id in 11..<(11 + SessionStateMachine.queueLimit) {
            try receive(.ping(id: id))
        }
        #expect(try written().isEmpty)
        delivery.heldChats[0].succeed(.ok(id: 10, username: "bob"))
        let frames = try written()
        #expect(frames.first == .ok(id: 10, username: "bob"))
        #expect(frames.dropFirst().map(\.id) == (11..<(11 + SessionStateMachine.queueLimit)).map { $0 })
        #expect(try channel.finish().isClean)
    }

    @Test("sends beyond the burst are refused rate_limited, never passed on")
    func rateLimited() throws {
        var limits = SessionLimits()
        limits.messageBurst = 2
        limits.messageRate = 0.001
        let session = try SessionHandlerEmbeddedTests(limits: limits)
        try session.loggedIn()
        try session.receive(.send(id: 5, body: "a"), .send(id: 6, body: "b"), .send(id: 7, body: "c"))
        #expect(
            try session.written() == [
                .receipt(id: 5, messageID: "m5", status: .sent), .receipt(id: 6, messageID: "m6", status: .sent),
                .error(ProtocolError(.rateLimited, id: 7)),
            ])
        #expect(session.delivery.calls == ["started alice", "send a", "send b"])
        #expect(try session.channel.finish().isClean)
    }

    @Test("a stored send is answered when its future completes; acks and leave reach delivery")
    func storedSendAckLeave() throws {
        try loggedIn()
        delivery.storeSends = true
        try receive(.send(id: 5, body: "later"), .ack(seq: 4), .leave(id: 6), .inbox(id: 7))
        #expect(
            try written() == [
                .receipt(id: 5, messageID: "m5", status: .stored), .ok(id: 6),
                .inbox(id: 7, counts: ["bob": 2], expired: 0),
            ])
        #expect(delivery.calls == ["started alice", "send later", "ack 4", "leave"])
        #expect(try channel.finish().isClean)
    }

    @Test("sends and chunks run together; their answers go out in request order, whichever finishes first")
    func overlappingAnswersInOrder() throws {
        try loggedIn()
        delivery.holdSends = true
        files.holdChunks = true
        try receive(
            .send(id: 5, body: "a"), .chunk(id: 6, file: "f", index: 0, data: "AAAA"), .send(id: 7, body: "b"), .ack(seq: 1),
            .ping(id: 8), .send(id: 9, body: "c"))
        #expect(delivery.calls == ["started alice", "send a", "send b", "ack 1"], "all started, the ack taken at once")
        #expect(files.calls == ["chunk 0"])
        #expect(try written().isEmpty)
        delivery.heldSends[1].succeed(.receipt(id: 7, messageID: "m7", status: .stored))
        files.heldChunks[0].succeed(.ok(id: 6))
        #expect(try written().isEmpty, "ready, but behind the answer to 5")
        delivery.heldSends[0].succeed(.receipt(id: 5, messageID: "m5", status: .stored))
        #expect(
            try written() == [
                .receipt(id: 5, messageID: "m5", status: .stored), .ok(id: 6),
                .receipt(id: 7, messageID: "m7", status: .stored), .ok(id: 8),
            ], "then the ping, which waited for them all")
        #expect(delivery.calls.last == "send c", "and the send behind the ping")
        delivery.heldSends[2].succeed(.receipt(id: 9, messageID: "m9", status: .stored))
        #expect(try written() == [.receipt(id: 9, messageID: "m9", status: .stored)])
        #expect(try channel.finish().isClean)
    }

    @Test("a dropped connection ends the session as disconnected")
    func dropped() throws {
        try loggedIn()
        channel.pipeline.fireChannelInactive()
        #expect(delivery.calls == ["started alice", "ended alice (disconnected)"])
        #expect(try channel.finish(acceptAlreadyClosed: true).isClean)
    }

    @Test("an oversize line is answered frame_too_large and the connection closes")
    func oversize() throws {
        try receive(.hello(version: ProtocolVersion.current, agent: "test"))
        try channel.writeInbound(ByteBuffer(string: String(repeating: "x", count: 1025) + "\n"))
        #expect(try written() == [Self.serverHello, .error(.frameTooLarge(limit: 1024))])
        #expect(!channel.isActive)
        #expect(try channel.finish(acceptAlreadyClosed: true).isClean)
    }

    @Test("displaced: one notice, then the connection closes")
    func displaced() throws {
        try loggedIn()
        channel.pipeline.fireUserInboundEventTriggered(SessionEvent.displaced)
        #expect(try written() == [.notice(.displaced)])
        #expect(!channel.isActive)
        #expect(delivery.calls == ["started alice", "ended alice (disconnected)"])
        #expect(try channel.finish(acceptAlreadyClosed: true).isClean)
    }

    @Test("closed by the operator: the notice it names, then the connection closes", arguments: [NoticeCode.accountLocked, .accountDeleted, .passwordReset])
    func closedByOperator(_ code: NoticeCode) throws {
        try loggedIn()
        channel.pipeline.fireUserInboundEventTriggered(SessionEvent.closedByOperator(code))
        #expect(try written() == [.notice(code)])
        #expect(!channel.isActive)
        #expect(delivery.calls == ["started alice", "ended alice (disconnected)"])
        #expect(try channel.finish(acceptAlreadyClosed: true).isClean)
    }

    @Test("a one-time password: the ok says so, nothing but passwd gets through until it succeeds")
    func oneTimePassword() throws {
        accounts.passwords["alice"] = "one-time-1"
        accounts.mustChange = ["alice"]
        try receive(.hello(version: ProtocolVersion.current, agent: "test"), .login(id: 1, username: "alice", password: "one-time-1"))
        #expect(
            try written() == [
                Self.serverHello, .ok(id: 1, username: "alice", mustChangePassword: true),
                .inbox(id: nil, counts: [:], expired: 0),
            ])
        try receive(
            .chat(id: 2, with: "bob"), .passwd(id: 3, password: "wrong", newPassword: "mine-now-1"), .who(id: 4),
            .passwd(id: 5, password: "one-time-1", newPassword: "mine-now-1"), .who(id: 6))
        #expect(
            try written() == [
                .error(ProtocolError(.passwordChangeRequired, id: 2)), .error(ProtocolError(.badCredentials, id: 3)),
                .error(ProtocolError(.passwordChangeRequired, id: 4)), .ok(id: 5),
                .who(id: 6, users: [PresenceEntry(username: "bob", status: .free)]),
            ])
        #expect(delivery.calls == ["started alice"], "the chat was never asked for")
        #expect(try channel.finish().isClean)
    }

    @Test("delete_account: ok, the session ends as at logout, and the connection stays, logged out")
    func deleteAccount() throws {
        try loggedIn()
        try receive(.deleteAccount(id: 3, password: "wrong"), .deleteAccount(id: 4, password: "password1"), .who(id: 5))
        #expect(
            try written() == [
                .error(ProtocolError(.badCredentials, id: 3)), .ok(id: 4), .error(ProtocolError(.notLoggedIn, id: 5)),
            ])
        #expect(accounts.passwords["alice"] == nil)
        #expect(delivery.calls == ["started alice", "ended alice"])
        #expect(channel.isActive)
        #expect(try channel.finish().isClean)
    }
}

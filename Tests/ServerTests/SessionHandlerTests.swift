import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import Shared
import Testing
import TestSupport

@testable import Server

/// `SessionHandler` alone in a channel: plaintext in (what the TLS handler would pass up),
/// lines out, one per outbound buffer (`LinePerBuffer` splits what the handler gathers).
///
/// `NIOAsyncTestingChannel` rather than `EmbeddedChannel`, because registrations and logins
/// complete on a real `NIOThreadPool`, and only the async testing loop accepts work from
/// other threads.
@Suite("SessionHandler", .timeLimit(.minutes(TestTimeouts.minutes(1))))
struct SessionHandlerTests {
    static let hasher = try! PasswordHasher(parameters: .fastForTests)
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Runs `body` with fresh services (in-memory accounts, a started thread pool) and shuts
    /// the pool down afterwards.
    /// `liveWindow`: what a session may hold live and unacknowledged; `inbox`: the inbox
    /// store (a fresh in-memory one unless given).
    static func withServices(
        maximumBadFrames: Int = 5,
        liveWindow: InboxLimits = InboxLimits(),
        inbox: (any InboxStore)? = nil,
        _ body: (TestServices) async throws -> Void
    ) async throws {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let accountStore = InMemoryAccountStore()
        let inboxStore = inbox ?? InMemoryInboxStore()
        let keyDirectory = KeyDirectory(store: InMemoryKeyStore())
        let accounts = AccountService(
            store: accountStore, inbox: inboxStore, files: InMemoryFileStore(),
            deleteKeys: { try await keyDirectory.deleteKeys(username: $0) },
            hasher: hasher, throttle: LoginThrottle(), threadPool: pool,
            logger: logger)
        let registry = InProcessPresence<SessionMailbox>()
        let messages = DeliveryService(
            inbox: inboxStore, accounts: accountStore, keys: keyDirectory, registry: registry,
            expiry: 3_600, liveWindow: liveWindow, logger: logger)
        let keys = KeyService(
            directory: keyDirectory, accounts: accountStore,
            notify: { username, frame in registry.reach(username)?.send(frame) }, logger: logger)
        let files = FileService(
            store: InMemoryFileStore(), accounts: accountStore, limits: FileLimits(),
            notify: { username, frame in registry.reach(username)?.send(frame) }, logger: logger)
        let services = TestServices(
            sessionServices: SessionServices(
                accounts: accounts, delivery: messages, keys: keys, files: files,
                limits: SessionLimits(maximumBadFrames: maximumBadFrames)),
            registry: registry, delivery: messages, keys: keyDirectory)
        let result: Result<Void, any Error>
        do {
            try await body(services)
            result = .success(())
        } catch {
            result = .failure(error)
        }
        try await pool.shutdownGracefully()
        try result.get()
    }

    /// A connected (active) channel holding one `SessionHandler`.
    static func makeChannel(
        _ services: TestServices, sessionID: UInt64 = 1, maximumFrameLength: Int = LineFrameDecoder.defaultMaxFrameLength
    ) async throws -> NIOAsyncTestingChannel {
        let channel = try await NIOAsyncTestingChannel { channel in
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(LinePerBuffer())
            try sync.addHandler(
                SessionHandler(
                    services: services.sessionServices, sessionID: sessionID, logger: logger,
                    maximumFrameLength: maximumFrameLength))
        }
        try await channel.connect(to: SocketAddress(ipAddress: "192.0.2.1", port: 4000)).get()
        return channel
    }

    static func send(_ frame: ClientFrame, to channel: NIOAsyncTestingChannel) async throws {
        var line = frame.encode(allocator: channel.allocator)
        line.writeString("\n")
        try await channel.writeInbound(line)
    }

    static func send(line: String, to channel: NIOAsyncTestingChannel) async throws {
        try await channel.writeInbound(ByteBuffer(string: line + "\n"))
    }

    struct TimedOut: Error, CustomStringConvertible {
        let waitingFor: String
        var description: String { "timed out waiting for \(waitingFor)" }
    }

    /// Polls until `poll` returns a value, throwing `TimedOut` after `timeout`.
    ///
    /// Polling rather than `waitForOutboundWrite` or `closeFuture.get()`: those ignore task
    /// cancellation, so a session that never answers would hang the run instead of failing
    /// the test (`.timeLimit` cannot interrupt them).
    static func eventually<T>(
        _ waitingFor: String, timeout: Duration = .seconds(10), _ poll: () async throws -> T?
    ) async throws -> T {
        let deadline = ContinuousClock.now + timeout * TestTimeouts.scale
        while true {
            if let value = try await poll() {
                return value
            }
            guard ContinuousClock.now < deadline else {
                throw TimedOut(waitingFor: waitingFor)
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// The next frame the session writes, waiting for it if a request is still running.
    /// The next frame, skipping the unsolicited inbox summary that follows every login
    /// (`loginIsFollowedByTheInboxSummary` checks that one).
    static func nextFrame(_ channel: NIOAsyncTestingChannel) async throws -> ServerFrame {
        while true {
            let frame = try await nextRawFrame(channel)
            if case .inbox(nil, _, _) = frame { continue }
            return frame
        }
    }

    static func nextRawFrame(_ channel: NIOAsyncTestingChannel) async throws -> ServerFrame {
        // A `sent` receipt waits up to `receiptDelay` for company, in virtual time here.
        if let buffer = try await channel.readOutbound(as: ByteBuffer.self) {
            return try ServerFrame.decode(buffer).get()
        }
        // A `sent` receipt written after a first advance (its send answered from another
        // thread, late on a loaded machine) waits for another: virtual time moves on with the
        // polling, a receipt delay at a time, a few times (never near a session's timers).
        var advances = 0
        let buffer = try await eventually("a frame") { () async throws -> ByteBuffer? in
            if advances < 50 {
                advances += 1
                await channel.testingEventLoop.advanceTime(by: SessionHandler.receiptDelay)
            }
            return try await channel.readOutbound(as: ByteBuffer.self)
        }
        return try ServerFrame.decode(buffer).get()
    }

    /// Returns once the session has closed its channel.
    static func closed(_ channel: NIOAsyncTestingChannel) async throws {
        try await eventually("the channel to close") { channel.isActive ? nil : () }
    }

    static let clientHello = ClientFrame.hello(version: ProtocolVersion.current, agent: "chat-client/test")
    static let serverHello = ServerFrame.hello(version: ProtocolVersion.current, agent: ProtocolVersion.agent("chat-server"))

    /// A channel past hello.
    static func greetedChannel(
        _ services: TestServices, sessionID: UInt64 = 1, maximumFrameLength: Int = LineFrameDecoder.defaultMaxFrameLength
    ) async throws -> NIOAsyncTestingChannel {
        let channel = try await makeChannel(services, sessionID: sessionID, maximumFrameLength: maximumFrameLength)
        try await send(clientHello, to: channel)
        #expect(try await nextFrame(channel) == serverHello)
        return channel
    }

    /// Registers `username` (through any session) and logs `channel` in as that user.
    static func logIn(_ channel: NIOAsyncTestingChannel, as username: String, register: Bool = true) async throws {
        if register {
            try await send(.register(id: 1, username: username, password: "password1"), to: channel)
            #expect(try await nextFrame(channel) == .ok(id: 1, username: username))
        }
        try await send(.login(id: 2, username: username, password: "password1"), to: channel)
        #expect(try await nextFrame(channel) == .ok(id: 2, username: username))
        try await inboxSummary(channel)
    }

    /// `first` and `second` logged in (registered unless told) and chatting with each other.
    static func pair(
        _ services: TestServices, _ first: (String, UInt64), _ second: (String, UInt64), register: Bool = true
    ) async throws -> (NIOAsyncTestingChannel, NIOAsyncTestingChannel) {
        let a = try await greetedChannel(services, sessionID: first.1)
        try await logIn(a, as: first.0, register: register)
        let b = try await greetedChannel(services, sessionID: second.1)
        try await logIn(b, as: second.0, register: register)
        try await send(.chat(id: 3, with: second.0), to: a)
        try await send(.chat(id: 3, with: first.0), to: b)
        for channel in [a, b] {
            while true {
                if case .ok(3, _, _, _, _) = try await nextFrame(channel) { break }
            }
        }
        return (a, b)
    }

    /// Skips frames until one satisfies `match` (notices such as "paired" come and go).
    static func next(_ channel: NIOAsyncTestingChannel, _ match: (ServerFrame) -> Bool) async throws -> ServerFrame {
        while true {
            let frame = try await nextFrame(channel)
            if match(frame) { return frame }
        }
    }

    /// Waits for the summary a login is followed by, so it cannot be left unread.
    static func inboxSummary(_ channel: NIOAsyncTestingChannel) async throws {
        while true {
            if case .inbox(nil, _, _) = try await nextRawFrame(channel) { return }
        }
    }

    // MARK: - Without the thread pool

    @Test("hello is answered with the server's hello")
    func hello() async throws {
        try await Self.withServices { services in
            let channel = try await Self.makeChannel(services)
            try await Self.send(Self.clientHello, to: channel)
            let frame = try await Self.nextFrame(channel)
            #expect(frame == Self.serverHello)
            #expect(channel.isActive)
            #expect(try await channel.finish().isClean)
        }
    }

    @Test("an unknown frame type is answered with an error and the session goes on")
    func unknownType() async throws {
        try await Self.withServices { services in
            let channel = try await Self.greetedChannel(services)
            try await Self.send(line: #"{"type":"teleport","id":3}"#, to: channel)
            let error = try await Self.nextFrame(channel)
            #expect(error == .error(.unknownType("teleport", id: 3)))
            #expect(channel.isActive)

            try await Self.send(.ping(id: 4), to: channel)
            #expect(try await Self.nextFrame(channel) == .ok(id: 4))
            #expect(try await channel.finish().isClean)
        }
    }

    @Test("five bad lines in a row: the fifth error, too_many_errors, then close")
    func tooManyErrors() async throws {
        try await Self.withServices(maximumBadFrames: 5) { services in
            let channel = try await Self.greetedChannel(services)
            for _ in 1...5 {
                try await Self.send(line: "not json", to: channel)
            }
            var codes: [ErrorCode] = []
            while let buffer = try await channel.readOutbound(as: ByteBuffer.self) {
                if case .error(let error) = try ServerFrame.decode(buffer).get() {
                    codes.append(error.code)
                }
            }
            #expect(codes == Array(repeating: .invalidJSON, count: 5) + [.tooManyErrors])
            try await Self.closed(channel)
            #expect(try await channel.finish(acceptAlreadyClosed: true).isClean)
        }
    }

    @Test("displaced on a logged-out session does nothing")
    func displacedWhileLoggedOut() async throws {
        try await Self.withServices { services in
            let channel = try await Self.greetedChannel(services)
            channel.pipeline.fireUserInboundEventTriggered(SessionEvent.displaced)
            try await Self.send(.ping(id: 5), to: channel)
            // The ping's answer is the next thing written: no notice came before it.
            #expect(try await Self.nextFrame(channel) == .ok(id: 5))
            #expect(channel.isActive)
            #expect(try await channel.finish().isClean)
        }
    }

    @Test("an oversize line is answered, then the connection closes; the frames before it in the same read are answered first")
    func frameTooLarge() async throws {
        try await Self.withServices { services in
            let channel = try await Self.greetedChannel(services, maximumFrameLength: 64)
            let ping = String(buffer: ClientFrame.ping(id: 7).encode(allocator: channel.allocator))
            try await Self.send(line: ping + "\n" + String(repeating: "x", count: 65) + "\n" + ping, to: channel)
            #expect(try await Self.nextFrame(channel) == .ok(id: 7))
            #expect(try await Self.nextFrame(channel) == .error(.frameTooLarge(limit: 64)))
            try await Self.closed(channel)
            #expect(try await channel.readOutbound(as: ByteBuffer.self) == nil, "nothing after the long line is answered")
            #expect(try await channel.finish(acceptAlreadyClosed: true).isClean)
        }
    }

    @Test("server shutdown sends a notice, then closes")
    func serverShutdown() async throws {
        try await Self.withServices { services in
            let channel = try await Self.greetedChannel(services)
            channel.pipeline.fireUserInboundEventTriggered(SessionEvent.serverShutdown)
            #expect(try await Self.nextFrame(channel) == .notice(.shutdown))
            try await Self.closed(channel)
            #expect(try await channel.finish(acceptAlreadyClosed: true).isClean)
        }
    }

    @Test("the replies to every frame of one read leave in one flush")
    func oneFlushPerRead() async throws {
        try await Self.withServices { services in
            let counter = FlushCounter()
            let channel = try await NIOAsyncTestingChannel { channel in
                try channel.pipeline.syncOperations.addHandler(counter)
                try channel.pipeline.syncOperations.addHandler(LinePerBuffer())
                try channel.pipeline.syncOperations.addHandler(
                    SessionHandler(services: services.sessionServices, sessionID: 1, logger: Self.logger))
            }
            try await channel.connect(to: SocketAddress(ipAddress: "192.0.2.1", port: 4000)).get()
            let flushesBefore = counter.flushes
            let lines = [Self.clientHello, .ping(id: 1), .ping(id: 2)].map { $0.encode(allocator: channel.allocator) }
            // Three frames from one socket read, in two pieces (TLS records) as TCP may cut them.
            var bytes = ByteBuffer()
            for var line in lines {
                bytes.writeBuffer(&line)
                bytes.writeString("\n")
            }
            let pieces = [bytes.getSlice(at: 0, length: 30)!, bytes.getSlice(at: 30, length: bytes.readableBytes - 30)!]
            let flushedMidRead = try await channel.testingEventLoop.executeInContext {
                for piece in pieces { channel.pipeline.fireChannelRead(piece) }
                let flushedMidRead = counter.flushes - flushesBefore
                channel.pipeline.fireChannelReadComplete()
                return flushedMidRead
            }
            #expect(flushedMidRead == 0, "nothing is flushed before the read completes")
            #expect(counter.flushes - flushesBefore == 1)
            #expect(try await Self.nextFrame(channel) == Self.serverHello)
            #expect(try await Self.nextFrame(channel) == .ok(id: 1))
            #expect(try await Self.nextFrame(channel) == .ok(id: 2))
            #expect(try await channel.finish().isClean)
        }
    }

    // MARK: - With the thread pool

    @Test("register, login and logout, with the registry following along")
    func registerLoginLogout() async throws {
        try await Self.withServices { services in
            let channel = try await Self.greetedChannel(services)
            try await Self.send(.register(id: 1, username: "Alice", password: "password1"), to: channel)
            #expect(try await Self.nextFrame(channel) == .ok(id: 1, username: "alice"))
            #expect(services.registry.isOnline("alice") == false)

            try await Self.send(.login(id: 2, username: "ALICE", password: "password1"), to: channel)
            #expect(try await Self.nextFrame(channel) == .ok(id: 2, username: "alice"))
            #expect(services.registry.isOnline("alice"))
            try await Self.inboxSummary(channel)

            try await Self.send(.logout(id: 3), to: channel)
            #expect(try await Self.nextFrame(channel) == .ok(id: 3))
            #expect(services.registry.isOnline("alice") == false)
            #expect(try await channel.finish().isClean)
        }
    }

    @Test("a wrong password is an error frame and the session goes on")
    func wrongPassword() async throws {
        try await Self.withServices { services in
            let channel = try await Self.greetedChannel(services)
            try await Self.send(.register(id: 1, username: "alice", password: "password1"), to: channel)
            #expect(try await Self.nextFrame(channel) == .ok(id: 1, username: "alice"))
            try await Self.send(.login(id: 2, username: "alice", password: "password2"), to: channel)
            #expect(try await Self.nextFrame(channel) == .error(ProtocolError(.badCredentials, id: 2)))
            #expect(channel.isActive)
            #expect(services.registry.isOnline("alice") == false)
            #expect(try await channel.finish().isClean)
        }
    }

    @Test("frames that arrive while a login runs are answered after it, in order")
    func requestOrder() async throws {
        try await Self.withServices { services in
            let channel = try await Self.greetedChannel(services)
            try await Self.send(.register(id: 1, username: "alice", password: "password1"), to: channel)
            try await Self.send(.login(id: 2, username: "alice", password: "password1"), to: channel)
            try await Self.send(.ping(id: 3), to: channel)
            try await Self.send(.logout(id: 4), to: channel)
            var frames: [ServerFrame] = []
            for _ in 1...4 {
                frames.append(try await Self.nextFrame(channel))
            }
            #expect(
                frames == [.ok(id: 1, username: "alice"), .ok(id: 2, username: "alice"), .ok(id: 3), .ok(id: 4)])
            #expect(try await channel.finish().isClean)
        }
    }

    @Test("a second login as the same user displaces the first session, which closes")
    func displacement() async throws {
        try await Self.withServices { services in
            let first = try await Self.greetedChannel(services, sessionID: 1)
            try await Self.logIn(first, as: "alice")
            let second = try await Self.greetedChannel(services, sessionID: 2)
            try await Self.logIn(second, as: "alice", register: false)

            #expect(try await Self.nextFrame(first) == .notice(.displaced))
            try await Self.closed(first)
            // The displaced session's goodbye must not log out its successor.
            #expect(services.registry.isOnline("alice"))
            #expect(second.isActive)

            #expect(try await first.finish(acceptAlreadyClosed: true).isClean)
            #expect(try await second.finish().isClean)
            #expect(services.registry.isOnline("alice") == false)
        }
    }

    @Test("a logged-in client that disconnects goes offline")
    func disconnectGoesOffline() async throws {
        try await Self.withServices { services in
            let channel = try await Self.greetedChannel(services)
            try await Self.logIn(channel, as: "alice")
            #expect(services.registry.isOnline("alice"))
            #expect(try await channel.finish().isClean)
            #expect(services.registry.isOnline("alice") == false)
        }
    }

    @Test("a logged-in session closed for too many bad frames goes offline")
    func closedForBadFramesGoesOffline() async throws {
        try await Self.withServices(maximumBadFrames: 2) { services in
            let channel = try await Self.greetedChannel(services)
            try await Self.logIn(channel, as: "alice")
            try await Self.send(line: "not json", to: channel)
            try await Self.send(line: "not json", to: channel)
            try await Self.closed(channel)
            #expect(services.registry.isOnline("alice") == false)
            while try await channel.readOutbound(as: ByteBuffer.self) != nil {}
            #expect(try await channel.finish(acceptAlreadyClosed: true).isClean)
        }
    }

    @Test("a logged-in session closed for an oversize line goes offline")
    func closedForOversizeGoesOffline() async throws {
        try await Self.withServices { services in
            let channel = try await Self.greetedChannel(services, maximumFrameLength: 256)
            try await Self.logIn(channel, as: "alice")
            try await Self.send(line: String(repeating: "x", count: 257), to: channel)
            try await Self.closed(channel)
            #expect(services.registry.isOnline("alice") == false)
            while try await channel.readOutbound(as: ByteBuffer.self) != nil {}
            #expect(try await channel.finish(acceptAlreadyClosed: true).isClean)
        }
    }

    @Test("a logged-in session closed for server shutdown goes offline")
    func closedForShutdownGoesOffline() async throws {
        try await Self.withServices { services in
            let channel = try await Self.greetedChannel(services)
            try await Self.logIn(channel, as: "alice")
            channel.pipeline.fireUserInboundEventTriggered(SessionEvent.serverShutdown)
            #expect(try await Self.nextFrame(channel) == .notice(.shutdown))
            try await Self.closed(channel)
            #expect(services.registry.isOnline("alice") == false)
            #expect(try await channel.finish(acceptAlreadyClosed: true).isClean)
        }
    }

    @Test("a login is answered ok, then with the inbox summary")
    func loginIsFollowedByTheInboxSummary() async throws {
        try await Self.withServices { services in
            let channel = try await Self.makeChannel(services)
            try await Self.send(Self.clientHello, to: channel)
            #expect(try await Self.nextRawFrame(channel) == Self.serverHello)
            try await Self.send(.register(id: 1, username: "alice", password: "password123"), to: channel)
            #expect(try await Self.nextRawFrame(channel) == .ok(id: 1, username: "alice"))
            try await Self.send(.login(id: 2, username: "alice", password: "password123"), to: channel)
            #expect(try await Self.nextRawFrame(channel) == .ok(id: 2, username: "alice"))
            #expect(try await Self.nextRawFrame(channel) == .inbox(id: nil, counts: [:], expired: 0))
            _ = try await channel.finish(acceptAlreadyClosed: true)
        }
    }

    @Test("a user chosen while offline is invited when they log in, after the summary")
    func invitedAtLogin() async throws {
        try await Self.withServices { services in
            let alice = try await Self.greetedChannel(services, sessionID: 1)
            try await Self.logIn(alice, as: "alice")
            let bob = try await Self.greetedChannel(services, sessionID: 2)
            try await Self.send(.register(id: 1, username: "bob", password: "password1"), to: bob)
            #expect(try await Self.nextFrame(bob) == .ok(id: 1, username: "bob"))
            try await Self.send(.chat(id: 3, with: "bob"), to: alice)
            while true {
                if case .ok(3, _, _, _, _) = try await Self.nextFrame(alice) { break }
            }
            try await Self.send(.login(id: 2, username: "bob", password: "password1"), to: bob)
            #expect(try await Self.nextRawFrame(bob) == .ok(id: 2, username: "bob"))
            #expect(try await Self.nextRawFrame(bob) == .inbox(id: nil, counts: [:], expired: 0))
            #expect(
                try await Self.nextRawFrame(bob)
                    == .notice(code: .invited, message: "alice wants to chat - /chat alice to answer"))
            _ = try await alice.finish(acceptAlreadyClosed: true)
            _ = try await bob.finish(acceptAlreadyClosed: true)
        }
    }

    @Test("send is held to the identity key chat reported: refused identity_changed once the partner publishes another, until chat again")
    func identityChanged() async throws {
        try await Self.withServices { services in
            let alice = try await Self.greetedChannel(services, sessionID: 1)
            try await Self.logIn(alice, as: "alice")
            let bob = try await Self.greetedChannel(services, sessionID: 2)
            try await Self.logIn(bob, as: "bob")
            /// Bodies of the messages a session was given, in order.
            var received: [ObjectIdentifier: [String]] = [:]
            /// The next frame answering request `id`, noting messages and skipping notices.
            func answer(_ id: Int, on channel: NIOAsyncTestingChannel) async throws -> ServerFrame {
                while true {
                    let frame = try await Self.nextFrame(channel)
                    if case .message(let message) = frame { received[ObjectIdentifier(channel), default: []].append(message.body) }
                    if frame.id == id { return frame }
                }
            }

            // bob has no keys when alice opens the chat, then publishes some: that is a change.
            try await Self.send(.chat(id: 3, with: "bob"), to: alice)
            #expect(try await answer(3, on: alice) == .ok(id: 3, username: "bob"))
            let first = TestKeys.keys(identity: 1, preKeys: 1...2)
            try await Self.send(.publishKeys(id: 3, keys: first), to: bob)
            #expect(try await answer(3, on: bob) == .ok(id: 3, preKeys: 2))
            try await Self.send(.send(id: 4, body: "for no key"), to: alice)
            #expect(
                try await answer(4, on: alice)
                    == .error(ProtocolError(.identityChanged, message: "bob's identity key changed; open the chat again", id: 4)))

            try await Self.send(.chat(id: 5, with: "bob"), to: alice)
            #expect(try await answer(5, on: alice) == .ok(id: 5, username: "bob", identityKey: first.identityKey))
            try await Self.send(.chat(id: 4, with: "alice"), to: bob)
            #expect(try await answer(4, on: bob) == .ok(id: 4, username: "alice"))
            try await Self.send(.send(id: 6, body: "to the first key"), to: alice)
            guard case .receipt(6, _, .sent) = try await answer(6, on: alice) else {
                Issue.record("the send under the reported key goes live")
                return
            }
            // Checked once, then held until the directory's copy changes.
            try await Self.send(.send(id: 10, body: "to the first key, again"), to: alice)
            guard case .receipt(10, _, .sent) = try await answer(10, on: alice) else {
                Issue.record("a second send under the same key goes live")
                return
            }

            // bob reinstalls mid-chat: a new identity.
            let second = TestKeys.keys(identity: 2, preKeys: [1])
            try await Self.send(.publishKeys(id: 5, keys: second), to: bob)
            #expect(try await answer(5, on: bob) == .ok(id: 5, preKeys: 1))
            try await Self.send(.send(id: 7, body: "to the old key"), to: alice)
            #expect(try await answer(7, on: alice) == .error(ProtocolError(.identityChanged, message: "bob's identity key changed; open the chat again", id: 7)))
            try await Self.send(.chat(id: 8, with: "bob"), to: alice)
            #expect(try await answer(8, on: alice) == .ok(id: 8, username: "bob", identityKey: second.identityKey))
            try await Self.send(.send(id: 9, body: "to the new key"), to: alice)
            guard case .receipt(9, _, .sent) = try await answer(9, on: alice) else {
                Issue.record("accepted again after chat")
                return
            }

            // bob saw the two accepted messages and nothing of the refused ones.
            try await Self.send(.ping(id: 6), to: bob)
            _ = try await answer(6, on: bob)
            #expect(received[ObjectIdentifier(bob)] == ["to the first key", "to the first key, again", "to the new key"])
            _ = try await alice.finish(acceptAlreadyClosed: true)
            _ = try await bob.finish(acceptAlreadyClosed: true)
        }
    }
}

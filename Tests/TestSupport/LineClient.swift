import Foundation
import NIOCore
import NIOPosix
import Shared

/// A raw protocol client over real TLS: sends lines exactly as given and collects the
/// server's lines, for tests that must send what `chat-client` never would.
public final class LineClient {
    private let channel: Channel
    private let inbox: LineInbox

    private init(channel: Channel, inbox: LineInbox) {
        self.channel = channel
        self.inbox = inbox
    }

    /// Connects and finishes the TLS handshake (no protocol hello is sent).
    public static func connect(port: Int, caFile: String, host: String = "127.0.0.1") async throws -> LineClient {
        let context = try TLSContext.client(caFile: caFile)
        let inbox = LineInbox()
        let (channel, _) = try await TLSClientConnector.connect(host: host, port: port, context: context) { channel in
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(ByteToMessageHandler(LineFrameDecoder(maxFrameLength: 1 << 20)))
            try sync.addHandler(LineFrameEncoder())
            try sync.addHandler(LineCollector(inbox: inbox))
            return channel
        }
        return LineClient(channel: channel, inbox: inbox)
    }

    /// Connects and does the hello exchange.
    public static func connectAndGreet(port: Int, caFile: String) async throws -> LineClient {
        let client = try await connect(port: port, caFile: caFile)
        try await client.send(#"{"type":"hello","version":1,"agent":"test/1"}"#)
        guard let hello = try await client.receive(), hello.contains(#""type":"hello""#) else {
            throw FixtureError("no hello from the server")
        }
        return client
    }

    /// Sends one line (the newline is added).
    public func send(_ line: String) async throws {
        try await sendBytes(Array(line.utf8))
    }

    /// Sends raw bytes as one line (the newline is added), for invalid UTF-8 and the like.
    public func sendBytes(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// Sends an empty line (the protocol's keep-alive) every `interval`, from the channel's
    /// event loop rather than from a task: on a loaded two-core machine the test's own
    /// tasks can wait seconds for a thread, and a keep-alive must not.
    public func keepAlive(every interval: TimeAmount) -> RepeatedTask {
        let channel = self.channel
        return channel.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: interval) { _ in
            channel.writeAndFlush(ByteBuffer(), promise: nil)
        }
    }

    /// The next line from the server, or nil once the connection has closed. Throws if
    /// nothing arrives within `timeout` seconds.
    public func receive(timeout: Double = 10) async throws -> String? {
        let deadline = Date().addingTimeInterval(TestTimeouts.scaled(timeout))
        while Date() < deadline {
            switch inbox.take() {
            case .line(let line): return line
            case .closed: return nil
            case .empty: try await Task.sleep(nanoseconds: 10_000_000)
            }
        }
        // One last look: a starved task may wake past the deadline with the line waiting.
        switch inbox.take() {
        case .line(let line): return line
        case .closed: return nil
        case .empty: break
        }
        throw FixtureError("no line from the server within \(timeout) s")
    }

    /// The next line decoded as a JSON object.
    public func receiveJSON(timeout: Double = 10) async throws -> [String: Any]? {
        guard let line = try await receive(timeout: timeout) else { return nil }
        return try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
    }

    /// Reads frames until the one answering request `id` and returns it; the frames before
    /// it are dropped. Throws if the connection closes first.
    @discardableResult
    public func reply(to id: Int, timeout: Double = 10) async throws -> [String: Any] {
        while let frame = try await receiveJSON(timeout: timeout) {
            if frame["id"] as? Int == id { return frame }
        }
        throw FixtureError("the connection closed before the reply to \(id)")
    }

    /// Reads frames until a chat message with `body`: true when it came, false when the
    /// connection closed first.
    public func waitForMessage(body: String, timeout: Double = 10) async throws -> Bool {
        while let frame = try await receiveJSON(timeout: timeout) {
            if frame["type"] as? String == "message", frame["body"] as? String == body { return true }
        }
        return false
    }

    /// Connects, says hello, registers `username` when asked, and logs in; returns once
    /// the login is answered `ok` (throws otherwise).
    public static func loggedIn(
        _ username: String, port: Int, caFile: String, register: Bool, password: String = "password123"
    ) async throws -> LineClient {
        let client = try await connectAndGreet(port: port, caFile: caFile)
        if register {
            try await client.send(#"{"type":"register","id":1,"username":"\#(username)","password":"\#(password)"}"#)
        }
        try await client.send(#"{"type":"login","id":2,"username":"\#(username)","password":"\#(password)"}"#)
        let answer = try await client.reply(to: 2)
        guard answer["type"] as? String == "ok" else { throw FixtureError("\(username) could not log in: \(answer)") }
        return client
    }

    /// Chooses `partner` and waits for the `ok` (frames before it, such as waiting
    /// messages, are dropped).
    public func chat(with partner: String) async throws {
        try await send(#"{"type":"chat","id":3,"with":"\#(partner)"}"#)
        let answer = try await reply(to: 3)
        guard answer["type"] as? String == "ok" else { throw FixtureError("chat with \(partner) refused: \(answer)") }
    }

    /// True once the server has closed the connection.
    public var isClosed: Bool { !channel.isActive }

    public func close() async {
        try? await channel.close()
    }

    /// Stops reading from the socket, as a stuck client would: the kernel's receive buffer
    /// fills, the TCP window closes, and the server's writes back up. `receiveBuffer`
    /// shrinks the socket's receive buffer so that happens sooner.
    public func stopReading(receiveBuffer: Int = 8_192) async throws {
        try await channel.setOption(ChannelOptions.socketOption(.so_rcvbuf), value: receiveBuffer).get()
        try await channel.setOption(ChannelOptions.autoRead, value: false).get()
    }

    /// Drops the connection with a TCP reset (SO_LINGER 0): no close_notify, no FIN, as a
    /// crashed middlebox or a killed peer's kernel may do.
    public func reset() async {
        try? await (channel as? SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        // Below TLS: close the socket without the TLS handler's close_notify.
        try? await channel.pipeline.context(handlerType: TLSHandler.self).flatMap { context in
            context.close()
        }.get()
    }
}

/// Lines received so far, filled on the event loop, drained by the test.
final class LineInbox: Sendable {
    enum Next {
        case line(String)
        case closed
        case empty
    }

    private let state = Locked<(lines: [String], closed: Bool)>(([], false))

    func append(_ line: String) { state.withLock { $0.lines.append(line) } }
    func close() { state.withLock { $0.closed = true } }

    func take() -> Next {
        state.withLock { state in
            if !state.lines.isEmpty { return .line(state.lines.removeFirst()) }
            return state.closed ? .closed : .empty
        }
    }
}

final class LineCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let inbox: LineInbox

    init(inbox: LineInbox) { self.inbox = inbox }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inbox.append(String(buffer: unwrapInboundIn(data)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        inbox.close()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

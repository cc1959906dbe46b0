import ChatSession
import NIOCore
import Shared

/// Opens connections to the server under test through the client session library: TCP,
/// TLS verified against the CA file (as a real client must), the codecs and a
/// `ClientSessionHandler`.
///
/// The server's address is looked up once, by `pinningAddress()`, and every connection
/// after that dials it directly: a lookup and a Happy Eyeballs race per connection cost
/// the bench about a twentieth of a handshake's CPU (measured), and a client that talks
/// to one server all day looks it up once too.
struct BenchConnector: Sendable {
    let sessions: SessionConnector

    /// The session settings of every bench connection: messages are acknowledged as they
    /// arrive (nobody reads them), and few ids are remembered for duplicates, since a bench
    /// connection never reopens a chat and hundreds of them relay at once.
    static func configuration(host: String, port: Int) -> SessionConfiguration {
        SessionConfiguration(
            host: host, port: port, agent: ProtocolVersion.agent("chat-bench"),
            acknowledgement: .automatic, rememberedMessages: 1_024)
    }

    init(host: String, port: Int, tls: TLSContext, group: EventLoopGroup) {
        sessions = SessionConnector(configuration: Self.configuration(host: host, port: port), tls: tls, group: group)
    }

    private init(sessions: SessionConnector) {
        self.sessions = sessions
    }

    var group: EventLoopGroup { sessions.group }

    /// This connector with the server's address pinned (see `SessionConnector`).
    func pinningAddress() async throws -> BenchConnector {
        BenchConnector(sessions: try await sessions.pinningAddress())
    }

    /// This connector, connecting from `source`.
    func connecting(from source: SocketAddress) -> BenchConnector {
        BenchConnector(sessions: sessions.connecting(from: source))
    }

    /// The password of every bench account.
    static let password = "bench-password-1"

    /// Connects on `loop` (the group's next one when nil) and completes once the TLS
    /// handshake has verified the server; no `hello` yet.
    func connect(on loop: EventLoop? = nil) -> EventLoopFuture<BenchConnection> {
        sessions.open(on: loop).map { BenchConnection(session: $0) }
    }

    /// Connects on `loop` with TLS alone above TCP (a `HandshakeWatcher`, no codec, no
    /// session handler) and completes with the channel once the handshake has verified
    /// the server: the whole of a `handshakes` cycle, which never sends a frame.
    func handshake(on loop: EventLoop) -> EventLoopFuture<Channel> {
        let verified = loop.makePromise(of: Void.self)
        let connected = sessions.dial(on: loop) { _, sync in
            try sync.addHandler(HandshakeWatcher(promise: verified))
        }
        connected.whenFailure { verified.fail($0) }  // no effect once the watcher completed it
        return connected.flatMap { channel in
            verified.futureResult.map { channel }.flatMapErrorThrowing { error in
                channel.close(promise: nil)
                throw error
            }
        }
    }

    /// A connection that has said `hello` and is not logged in.
    func connectAndHello(on loop: EventLoop? = nil) -> EventLoopFuture<BenchConnection> {
        connect(on: loop).flatMap { connection in
            connection.hello().map { connection }.flatMapErrorThrowing { error in
                connection.channel.close(promise: nil)
                throw error
            }
        }
    }

    /// A connection logged in as `username`.
    func session(username: String, on loop: EventLoop? = nil) -> EventLoopFuture<BenchConnection> {
        connectAndHello(on: loop).flatMap { connection in
            connection.login(username: username, password: Self.password).map { connection }
                .flatMapErrorThrowing { error in
                    connection.channel.close(promise: nil)
                    throw error
                }
        }
    }
}

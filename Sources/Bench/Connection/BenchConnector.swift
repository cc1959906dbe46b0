import NIOCore
import NIOPosix
import Shared

/// Opens connections to the server under test: TCP, then TLS (verified against the CA
/// file, as a real client must), then the line codec and a `BenchClientHandler`.
///
/// The server's address is looked up once, by `pinningAddress()`, and every connection
/// after that dials it directly: a lookup and a Happy Eyeballs race per connection cost
/// the bench about a twentieth of a handshake's CPU (measured), and a client that talks
/// to one server all day looks it up once too. `host` is still what the certificate is
/// checked against.
struct BenchConnector: Sendable {
    let host: String
    let port: Int
    let tls: TLSContext
    let group: EventLoopGroup
    /// Where `host` was reached; nil until `pinningAddress()`, when each connection looks
    /// `host` up itself.
    private(set) var address: SocketAddress?

    init(host: String, port: Int, tls: TLSContext, group: EventLoopGroup) {
        self.host = host
        self.port = port
        self.tls = tls
        self.group = group
    }

    /// This connector with the server's address pinned: the address one real connection
    /// (resolved and raced as usual, TLS-verified, then closed) reached. Pinning what
    /// actually answered, not the resolver's first answer, keeps a name such as
    /// "localhost" working whichever of its addresses the server listens on.
    func pinningAddress() async throws -> BenchConnector {
        let connection = try await connect().get()
        let address = connection.channel.remoteAddress
        try? await connection.close().get()
        guard let address else { throw BenchError.server("no peer address for \(host):\(port)") }
        var pinned = self
        pinned.address = address
        return pinned
    }

    /// The password of every bench account.
    static let password = "bench-password-1"

    /// Connects on `loop` (the group's next one when nil) and completes once the TLS
    /// handshake has verified the server.
    func connect(on loop: EventLoop? = nil) -> EventLoopFuture<BenchConnection> {
        let connected = dial(on: loop ?? group.next()) { channel, sync in
            try sync.addHandler(ByteToMessageHandler(LineFrameDecoder()))
            try sync.addHandler(LineFrameEncoder())
            try sync.addHandler(BenchClientHandler(eventLoop: channel.eventLoop))
        }
        return connected.flatMap { channel in
            // The connect future completes on the channel's own loop: sync access is safe.
            let handler: BenchClientHandler
            do {
                handler = try channel.pipeline.syncOperations.handler(type: BenchClientHandler.self)
            } catch {
                channel.close(promise: nil)
                return channel.eventLoop.makeFailedFuture(error)
            }
            let bound = NIOLoopBound(handler, eventLoop: channel.eventLoop)
            return handler.handshakeCompleted.map {
                BenchConnection(channel: channel, handler: bound)
            }.flatMapErrorThrowing { error in
                channel.close(promise: nil)
                throw error
            }
        }
    }

    /// Connects on `loop` with TLS alone above TCP (a `HandshakeWatcher`, no line codec, no
    /// `BenchClientHandler`) and completes with the channel once the handshake has verified
    /// the server: the whole of a `handshakes` cycle, which never sends a frame.
    func handshake(on loop: EventLoop) -> EventLoopFuture<Channel> {
        let verified = loop.makePromise(of: Void.self)
        let connected = dial(on: loop) { _, sync in
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

    /// Connects on `loop` (to the pinned address when there is one) with TLS, verified
    /// against `host`, at the bottom of the pipeline and `handlers` added above it.
    private func dial(
        on loop: EventLoop,
        handlers: @escaping @Sendable (Channel, ChannelPipeline.SynchronousOperations) throws -> Void
    ) -> EventLoopFuture<Channel> {
        let host = self.host
        let tls = self.tls
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.seconds(10))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(TLSHandler(context: tls, serverHostname: host))
                    try handlers(channel, sync)
                }
            }
        return address.map { bootstrap.connect(to: $0) } ?? bootstrap.connect(host: host, port: port)
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

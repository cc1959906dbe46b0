import NIOCore
import NIOPosix
import Shared

/// Opens connections to the server under test: TCP, then TLS (verified against the CA
/// file, as a real client must), then the line codec and a `BenchClientHandler`.
struct BenchConnector: Sendable {
    let host: String
    let port: Int
    let tls: TLSContext
    let group: EventLoopGroup

    /// The password of every bench account.
    static let password = "bench-password-1"

    /// Connects on `loop` (the group's next one when nil) and completes once the TLS
    /// handshake has verified the server.
    func connect(on loop: EventLoop? = nil) -> EventLoopFuture<BenchConnection> {
        let loop = loop ?? group.next()
        let host = self.host
        let tls = self.tls
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.seconds(10))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(TLSHandler(context: tls, serverHostname: host))
                    try sync.addHandler(ByteToMessageHandler(LineFrameDecoder()))
                    try sync.addHandler(LineFrameEncoder())
                    try sync.addHandler(BenchClientHandler(eventLoop: channel.eventLoop))
                }
            }
        return bootstrap.connect(host: host, port: port).flatMap { channel in
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

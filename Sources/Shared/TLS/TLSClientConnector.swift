import NIOCore
import NIOPosix

/// Dials a TLS server and waits until the handshake (and so certificate verification)
/// has finished, for the chat client, the benchmark and the tests alike.
public enum TLSClientConnector {
    /// A bootstrap on `loop` whose channels start with a `TLSHandler` verifying the server
    /// against `context` and `host`, with `handlers` added above it: the one way this package
    /// dials TLS.
    public static func bootstrap(
        on loop: EventLoop,
        host: String,
        context: TLSContext,
        timeout: TimeAmount,
        handlers: @escaping @Sendable (Channel, ChannelPipeline.SynchronousOperations) throws -> Void
    ) -> ClientBootstrap {
        ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(TLSHandler(context: context, serverHostname: host, handshakeTimeout: timeout))
                    try handlers(channel, sync)
                }
            }
    }

    /// Connects to `host:port`, verifies the server against `context`, then lets
    /// `configure` add the application's handlers (it runs on the channel's event loop).
    ///
    /// Throws `TLSError` when the handshake fails (untrusted, wrong host, expired...) and
    /// NIO's connection errors when TCP fails.
    public static func connect<Output: Sendable>(
        host: String,
        port: Int,
        context: TLSContext,
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        timeout: TimeAmount = .seconds(10),
        configure: @escaping @Sendable (Channel) throws -> Output
    ) async throws -> (output: Output, handshake: TLSHandshakeCompleted) {
        let loop = group.next()
        let handshake = loop.makePromise(of: TLSHandshakeCompleted.self)
        let bootstrap = bootstrap(on: loop, host: host, context: context, timeout: timeout) { _, sync in
            try sync.addHandler(HandshakeWaiter(promise: handshake))
        }
        let channel: Channel
        do {
            channel = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            handshake.fail(error)
            throw error
        }
        do {
            let info = try await handshake.futureResult.get()
            let output = try await channel.eventLoop.submit { try configure(channel) }.get()
            return (output, info)
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }
}

/// Completes a promise with the handshake's outcome, then stays out of the way.
final class HandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var promise: EventLoopPromise<TLSHandshakeCompleted>?

    init(promise: EventLoopPromise<TLSHandshakeCompleted>) {
        self.promise = promise
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let done = event as? TLSHandshakeCompleted, let promise {
            self.promise = nil
            promise.succeed(done)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let promise {
            self.promise = nil
            promise.fail(error)
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let promise {
            self.promise = nil
            promise.fail(TLSError.handshakeFailed("connection closed during handshake"))
        }
        context.fireChannelInactive()
    }
}

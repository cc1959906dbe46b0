import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Shared

/// The TLS listener: loads the certificate once, accepts connections, and gives each one
/// its own pipeline (TLS, then the session logic, then error containment).
final class ChatServer: Sendable {
    private let configuration: ServerConfiguration
    private let logger: Logger
    private let group: EventLoopGroup
    private let tlsContext: TLSContext
    private let serverChannel = NIOLockedValueBox<Channel?>(nil)
    private let connectionCounter = NIOLockedValueBox<UInt64>(0)

    /// Loads the certificate and key; throws a `TLSError` naming the file before any
    /// socket is opened.
    init(configuration: ServerConfiguration, logger: Logger, group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        self.configuration = configuration
        self.logger = logger
        self.group = group
        self.tlsContext = try TLSContext.server(
            certificateChainFile: configuration.certificateFile,
            privateKeyFile: configuration.privateKeyFile)
    }

    /// Binds and starts accepting; returns the bound address (the real port when 0 was asked).
    func start() async throws -> SocketAddress {
        let tlsContext = self.tlsContext
        let handshakeTimeout = configuration.handshakeTimeout
        let logger = self.logger
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    var connectionLogger = logger
                    connectionLogger[metadataKey: "connection.id"] = "\(self.nextConnectionID())"
                    if let remote = channel.remoteAddress {
                        connectionLogger[metadataKey: "peer"] = "\(remote.ipAddress ?? "?"):\(remote.port ?? 0)"
                    }
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(TLSHandler(context: tlsContext, handshakeTimeout: handshakeTimeout))
                    try sync.addHandler(EchoHandler())
                    try sync.addHandler(ConnectionErrorHandler(logger: connectionLogger))
                }
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        serverChannel.withLockedValue { $0 = channel }
        guard let address = channel.localAddress else {
            throw ChannelError.unknownLocalAddress
        }
        return address
    }

    /// Returns when the listening socket has closed.
    func waitUntilClosed() async throws {
        guard let channel = serverChannel.withLockedValue({ $0 }) else { return }
        try await channel.closeFuture.get()
    }

    /// Stops accepting new connections.
    func stop() async {
        guard let channel = serverChannel.withLockedValue({ $0 }) else { return }
        try? await channel.close()
    }

    private func nextConnectionID() -> UInt64 {
        connectionCounter.withLockedValue { counter in
            counter += 1
            return counter
        }
    }
}

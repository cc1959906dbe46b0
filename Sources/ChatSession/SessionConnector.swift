import NIOCore
import NIOPosix
import Shared

/// Opens client sessions: TCP, then TLS verified against the configured CA (there is no
/// way to skip that), the line decoder, a `ClientSessionHandler`, and the `hello`
/// exchange.
///
/// The server's address can be pinned (`pinningAddress()`): every connection after that
/// dials it directly instead of looking the host up and racing its addresses, which a
/// program opening thousands of connections (the bench) cannot afford. `host` is still
/// what the certificate is checked against.
public struct SessionConnector: Sendable {
    /// What every session from this connector is set up with.
    public let configuration: SessionConfiguration
    /// The client TLS context (the CA to verify against), loaded once.
    public let tls: TLSContext
    /// Where the connections' event loops come from.
    public let group: EventLoopGroup
    /// Where the server was reached; nil until `pinningAddress()`.
    public private(set) var address: SocketAddress?
    /// The local address connections are made from; nil lets the system choose.
    public private(set) var sourceAddress: SocketAddress?

    /// A connector with `tls` loaded already.
    public init(configuration: SessionConfiguration, tls: TLSContext, group: EventLoopGroup) {
        self.configuration = configuration
        self.tls = tls
        self.group = group
    }

    /// A connector that loads the configuration's CA file (throws `TLSError` when it
    /// cannot be read).
    public init(
        configuration: SessionConfiguration, group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        self.init(configuration: configuration, tls: try TLSContext.client(caFile: configuration.caFile), group: group)
    }

    /// This connector with the server's address pinned: the address one real connection
    /// (resolved and raced as usual, TLS-verified, then closed) reached. Pinning what
    /// answered, not the resolver's first answer, keeps "localhost" working whichever of
    /// its addresses the server listens on.
    public func pinningAddress() async throws -> SessionConnector {
        let session = try await open(on: group.next()).get()
        let address = session.channel.remoteAddress
        try? await session.close().get()
        guard let address else { throw SessionError.connectionClosed }
        var pinned = self
        pinned.address = address
        return pinned
    }

    /// This connector, making its connections from `source` (a load generator spreading
    /// many connections over several local addresses: one has about 28,000 ports).
    public func connecting(from source: SocketAddress) -> SessionConnector {
        var bound = self
        bound.sourceAddress = source
        return bound
    }

    /// This connector dialling `address` (one of the host's) for every connection; the
    /// certificate is still checked against the configured host name.
    public func connecting(to address: SocketAddress) -> SessionConnector {
        var pinned = self
        pinned.address = address
        return pinned
    }

    /// Connects on `loop` (the group's next one when nil), verifies the server, says
    /// `hello` and returns the open session. Events go to `connection.events`.
    public func connect(on loop: EventLoop? = nil) async throws -> ChatConnection {
        let (events, continuation) = AsyncStream.makeStream(of: SessionEvent.self)
        return try await connect(on: loop, events: events) { event in
            continuation.yield(event)
            if case .closed = event { continuation.finish() }
        }
    }

    /// Like `connect(on:)`, but every event goes to `onEvent` (on the event loop, in
    /// order) and `connection.events` is empty: for a caller that merges events into a
    /// stream of its own. `ChatConnection.request(_:onAnswer:)` puts answers in their
    /// place in that order.
    public func connect(
        on loop: EventLoop? = nil, onEvent: @escaping @Sendable (SessionEvent) -> Void
    ) async throws -> ChatConnection {
        let (events, continuation) = AsyncStream.makeStream(of: SessionEvent.self)
        continuation.finish()
        return try await connect(on: loop, events: events, onEvent: onEvent)
    }

    /// A verified TLS connection carrying a `ClientSessionHandler` that has not said `hello`
    /// yet, on `loop`. The future completes on the channel's loop.
    public func open(on loop: EventLoop? = nil) -> EventLoopFuture<SessionChannel> {
        let configuration = self.configuration
        let eventLoop = loop ?? group.next()
        // Kept from the initializer rather than looked up in the pipeline afterwards: a
        // handshake that fails at once (an untrusted certificate) closes the channel and
        // empties the pipeline, and the lookup's "not found" would hide why.
        let added = NIOLoopBoundBox.makeEmptyBox(valueType: ClientSessionHandler.self, eventLoop: eventLoop)
        let connected = dial(on: eventLoop) { channel, sync in
            try sync.addHandler(ByteToMessageHandler(LineFrameDecoder(maxFrameLength: configuration.maximumFrameLength)))
            let handler = ClientSessionHandler(configuration: configuration, eventLoop: channel.eventLoop)
            try sync.addHandler(handler)
            added.value = handler
        }
        return connected.flatMap { channel in
            // The connect future completes on the channel's own loop, as the initializer ran.
            guard let handler = added.value else {
                channel.close(promise: nil)
                return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
            }
            let bound = NIOLoopBound(handler, eventLoop: channel.eventLoop)
            return handler.handshakeCompleted.map { handshake in
                SessionChannel(channel: channel, handler: bound, handshake: handshake)
            }.flatMapErrorThrowing { error in
                channel.close(promise: nil)
                throw error
            }
        }
    }

    /// Connects on `loop` (to the pinned address when there is one) with TLS, verified
    /// against the configured host, at the bottom of the pipeline and `handlers` above it.
    /// For connections that carry no session, such as a bare handshake.
    public func dial(
        on loop: EventLoop,
        handlers: @escaping @Sendable (Channel, ChannelPipeline.SynchronousOperations) throws -> Void
    ) -> EventLoopFuture<Channel> {
        let host = configuration.host
        let tls = self.tls
        let timeout = configuration.connectTimeout
        var bootstrap = TLSClientConnector.bootstrap(
            on: loop, host: host, context: tls, timeout: timeout, handlers: handlers)
        if let sourceAddress { bootstrap = bootstrap.bind(to: sourceAddress) }
        return address.map { bootstrap.connect(to: $0) } ?? bootstrap.connect(host: host, port: configuration.port)
    }

    private func connect(
        on loop: EventLoop?, events: AsyncStream<SessionEvent>, onEvent: @escaping @Sendable (SessionEvent) -> Void
    ) async throws -> ChatConnection {
        let session = try await open(on: loop).get()
        let agent = try await session.channel.eventLoop.flatSubmit {
            let handler = session.handler.value
            handler.onEvent = onEvent
            return handler.hello()
        }.get()
        return ChatConnection(session: session, serverAgent: agent, events: events)
    }
}

/// A connection with a session handler on it, TLS verified, before or after `hello`: the
/// form the bench drives on the event loop directly.
public struct SessionChannel: Sendable {
    /// The connection.
    public let channel: Channel
    /// Its session handler, usable on `channel.eventLoop` only.
    public let handler: NIOLoopBound<ClientSessionHandler>
    /// The negotiated TLS version and suite.
    public let handshake: TLSHandshakeCompleted

    /// The channel's event loop.
    public var eventLoop: EventLoop { channel.eventLoop }

    /// Runs `body` with the handler on its event loop (at once when already there).
    public func withHandler<T: Sendable>(
        _ body: @escaping @Sendable (ClientSessionHandler) -> EventLoopFuture<T>
    ) -> EventLoopFuture<T> {
        let handler = self.handler
        if eventLoop.inEventLoop { return body(handler.value) }
        return eventLoop.flatSubmit { body(handler.value) }
    }

    /// Runs `body` with the handler on its event loop, later when called from elsewhere.
    public func execute(_ body: @escaping @Sendable (ClientSessionHandler) -> Void) {
        let handler = self.handler
        if eventLoop.inEventLoop {
            body(handler.value)
        } else {
            eventLoop.execute { body(handler.value) }
        }
    }

    /// Closes with close_notify; completes when the socket is closed.
    public func close() -> EventLoopFuture<Void> {
        withHandler { handler in
            handler.close()
            return self.channel.closeFuture
        }
    }
}

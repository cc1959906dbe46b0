import Foundation
import Logging
import NIOCore
import NIOPosix
import Shared

/// The server: loads the certificate, opens the stores, accepts connections and gives each
/// its own pipeline (TLS, line codec, session, error containment).
///
/// Start-up order matters: the certificate and key are checked first and the stores opened
/// (for GDBM, the data directory locked) second, both before a socket is opened, so a
/// misconfigured server fails with one clear line and never half-starts.
final class ChatServer: Sendable {
    private let configuration: ServerConfiguration
    private let logger: Logger
    private let group: EventLoopGroup
    private let tlsContext: TLSContext
    private let stores: Stores
    /// Registrations and logins (scrypt) only, at background priority.
    private let accountPool: NIOThreadPool
    private let services: SessionServices
    private let messages: DeliveryService
    /// Files on their way; expired ones are swept by `fileExpiry`.
    private let files: FileService
    private let fileExpiry = Locked<RepeatedTask?>(nil)
    /// The operator's requests through the admin socket.
    private let admin: AdminService
    private let adminSocket = Locked<AdminSocket?>(nil)
    /// Presence shared with the other servers on the database; nil for a server on its own.
    private let cluster: ClusterPresence<SessionMailbox>?
    /// What the cluster's messages reach: delivery and the key directory.
    private let clusterHooks: ClusterHooks<SessionMailbox>
    /// This node's name, once known (it may need the port bound), for every connection's log.
    private let nodeLabel = Locked<String?>(nil)
    private let lifecycle = Locked(Lifecycle.idle)
    private let connections: Locked<ConnectionTable>

    /// Where the server is in its life; each step happens once, in this order.
    private enum Lifecycle {
        /// Built, not listening yet.
        case idle
        /// Listening on this channel.
        case running(Channel)
        /// The listener is closed or closing; sessions are being told and closed.
        case stopping
        /// Everything is closed, the stores too.
        case stopped
    }

    /// Open connections, and how many each source address holds (for the caps).
    private struct ConnectionTable {
        var nextID: UInt64 = 0
        var open: [UInt64: Channel] = [:]
        var perAddress: [String: Int] = [:]
    }

    /// Why a new connection was refused.
    private enum Refusal: Error, CustomStringConvertible {
        case addressCap(String, Int)
        case totalCap(Int)
        var description: String {
            switch self {
            case .addressCap(let address, let cap): "\(address) already has \(cap) connections"
            case .totalCap(let cap): "the server already has \(cap) connections"
            }
        }
    }

    init(
        configuration: ServerConfiguration,
        logger: Logger,
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws {
        self.configuration = configuration
        self.logger = logger
        self.group = group
        self.tlsContext = try TLSContext.server(
            certificateChainFile: configuration.certificateFile,
            privateKeyFile: configuration.privateKeyFile)
        let hasher = try PasswordHasher(parameters: ScryptParameters(logN: configuration.scryptLogN, r: 8, p: 1))
        self.stores = try await StorageBackend.open(
            configuration.storage, inboxLimits: configuration.inboxLimits, logger: logger)
        // A pool of its own for the KDF, whose threads AccountService lowers to background
        // priority, so a login storm cannot starve the event loops or the stores' threads.
        self.accountPool = NIOThreadPool(numberOfThreads: max(2, System.coreCount))
        accountPool.start()
        let registry: any Presence<SessionMailbox>
        let cluster: ClusterPresence<SessionMailbox>?
        if let directory = stores.presence {
            let shared = ClusterPresence<SessionMailbox>(
                directory: directory, timing: configuration.clusterTiming, logger: logger)
            cluster = shared
            registry = shared
        } else {
            cluster = nil
            registry = InProcessPresence<SessionMailbox>()
        }
        self.cluster = cluster
        let keyDirectory = KeyDirectory(store: stores.keys) { username, identity in
            cluster?.announceKeysChanged(username, identity: identity)
        }
        // Through the directory, so its copy of identity keys follows a deletion.
        let deleteKeys: @Sendable (String) async throws -> Bool = { try await keyDirectory.deleteKeys(username: $0) }
        let throttle = LoginThrottle(baseDelay: configuration.throttleBaseDelay, ledger: stores.loginFailures)
        let accounts = AccountService(
            store: stores.accounts,
            inbox: stores.inbox,
            files: stores.files,
            deleteKeys: deleteKeys,
            hasher: hasher,
            throttle: throttle,
            threadPool: accountPool,
            logger: logger)
        let keys = KeyService(
            directory: keyDirectory,
            accounts: stores.accounts,
            notify: { username, frame in registry.reach(username)?.send(frame) },
            logger: logger)
        let messages = DeliveryService(
            inbox: stores.inbox,
            accounts: stores.accounts,
            keys: keyDirectory,
            registry: registry,
            expiry: configuration.messageExpiry,
            liveWindow: configuration.inboxLimits,
            logger: logger)
        self.messages = messages
        self.clusterHooks = ClusterHooks(
            storedElsewhere: { recipient, sender in messages.storedElsewhere(for: recipient, from: sender) },
            keysChanged: { username, identity in keyDirectory.changedElsewhere(username, identity: identity) },
            keysMayHaveChanged: { keyDirectory.forgetAll() })
        let files = FileService(
            store: stores.files, accounts: stores.accounts, limits: configuration.fileLimits,
            notify: { username, frame in registry.reach(username)?.send(frame) }, logger: logger)
        self.files = files
        self.services = SessionServices(
            accounts: accounts, delivery: messages, keys: keys, files: files, limits: configuration.sessionLimits)
        let connections = Locked(ConnectionTable())
        self.connections = connections
        let sessions = RunningServerSessions(
            presence: registry, throttle: throttle, channel: { id in connections.withLock { $0.open[id] } },
            otherNodes: stores.presence.map { ClusterSessions(directory: $0, throttle: throttle) })
        self.admin = AdminService(
            accounts: stores.accounts, inbox: stores.inbox, files: stores.files, deleteKeys: deleteKeys,
            footprint: stores.footprint, sessions: .live(sessions), hasher: hasher, logger: logger)
    }

    /// Opens the admin socket (if configured), binds and starts accepting; returns the bound
    /// address (the real port when 0 was asked).
    ///
    /// A server sharing its database joins the cluster first, under its node id (by default
    /// the host name and the port bound): connections wait in the backlog until it has, as
    /// no login can be recorded before.
    func start() async throws -> SocketAddress {
        try await openAdminSocket()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.autoRead, value: cluster == nil)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // Lets the kernel notice dead peers too; the idle timeout is the real bound.
            .childChannelOption(.socketOption(.so_keepalive), value: 1)
            // Each channel keeps its receive buffer between reads, idle ones included: start
            // at 512 bytes (a frame's record fits) rather than NIO's 2 KiB; a burst that fills
            // it makes the next reads bigger, up to NIO's usual 64 KiB.
            .childChannelOption(
                .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536))
            // Bounds what one client that stops reading can make us hold: past the high mark
            // the channel turns unwritable and SessionMailbox sends its messages to the inbox.
            .childChannelOption(
                .writeBufferWaterMark,
                value: .init(low: configuration.maximumOutboundBytes / 2, high: configuration.maximumOutboundBytes))
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try self.configurePipeline(channel)
                }
            }
        let channel: Channel
        do {
            channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        } catch {
            await closeAdminSocket()
            throw error
        }
        let started = lifecycle.withLock { state in
            guard case .idle = state else { return false }
            state = .running(channel)
            return true
        }
        guard started else {
            try? await channel.close()
            throw ChannelError.alreadyClosed
        }
        guard let address = channel.localAddress else {
            throw ChannelError.unknownLocalAddress
        }
        startFileExpiry()
        if let cluster {
            let label = configuration.nodeID ?? "\(Self.hostName()):\(address.port ?? configuration.port)"
            nodeLabel.withLock { $0 = label }
            do {
                try await cluster.start(label: label, hooks: clusterHooks)
            } catch {
                try? await channel.close()
                await closeAdminSocket()
                throw error
            }
            try await channel.setOption(.autoRead, value: true).get()
        }
        return address
    }

    /// Opens the admin socket, if the configuration has one. A default path too long for a
    /// Unix socket is warned about (the server runs without it); a chosen one that cannot
    /// be opened stops the start.
    private func openAdminSocket() async throws {
        guard let path = configuration.adminSocketPath else { return }
        if configuration.adminSocket == nil && path.utf8.count > AdminSocketAddress.maximumLength {
            logger.warning("no admin socket: \(AdminSocketAddress.tooLong(path))")
            return
        }
        let socket = try await AdminSocket.open(path: path, service: admin, group: group, logger: logger)
        adminSocket.withLock { $0 = socket }
        logger.info("admin socket at \(path)")
    }

    private func closeAdminSocket() async {
        let socket = adminSocket.withLock { socket in
            defer { socket = nil }
            return socket
        }
        await socket?.close()
    }

    /// Sweeps expired files now and then, so their room is freed and their senders told even
    /// when nobody opens them: every minute, or more often when files expire sooner.
    private func startFileExpiry() {
        let expiry = configuration.messageExpiry
        let interval = TimeAmount.milliseconds(Int64(min(60, max(1, expiry / 4)) * 1000))
        let files = self.files
        let loop = group.next()
        let task = loop.scheduleRepeatedAsyncTask(initialDelay: .seconds(1), delay: interval) { _ in
            loop.makeFutureWithTask { await files.expireOldFiles(olderThan: expiry) }
        }
        fileExpiry.withLock { $0 = task }
    }

    /// This machine's name, without asking DNS.
    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Returns when the listening socket has closed.
    func waitUntilClosed() async throws {
        guard case .running(let channel) = lifecycle.withLock({ $0 }) else { return }
        try await channel.closeFuture.get()
    }

    /// Closes the listening socket; `waitUntilClosed` then returns and the caller runs
    /// `shutdown()`. Safe to call from a signal handler's queue.
    func stopAccepting() {
        if case .running(let channel) = lifecycle.withLock({ $0 }) {
            channel.close(promise: nil)
        }
    }

    /// Stops accepting, tells every session the server is shutting down, waits (up to the
    /// grace period) for them to close, then closes the stores. Does its work once.
    func shutdown() async {
        let listener: Channel? = lifecycle.withLock { state in
            switch state {
            case .running(let channel):
                state = .stopping
                return channel
            case .idle:
                state = .stopping
                return nil
            case .stopping, .stopped:
                return nil
            }
        }
        guard case .stopping = lifecycle.withLock({ $0 }) else { return }
        try? await listener?.close()
        await closeAdminSocket()
        fileExpiry.withLock { task in
            task?.cancel()
            task = nil
        }
        let open = connections.withLock { Array($0.open.values) }
        for channel in open {
            channel.pipeline.fireUserInboundEventTriggered(SessionEvent.serverShutdown)
        }
        // Each session says goodbye and closes; the ones still open after the grace period
        // are closed hard.
        let loop = group.next()
        let allClosed = EventLoopFuture.andAllComplete(open.map(\.closeFuture), on: loop)
        let graceOver = loop.makePromise(of: Void.self)
        let timer = loop.scheduleTask(in: configuration.shutdownGracePeriod) { graceOver.succeed(()) }
        allClosed.cascade(to: graceOver)
        try? await graceOver.futureResult.get()
        timer.cancel()
        let stragglers = connections.withLock { Array($0.open.values) }
        for channel in stragglers {
            try? await channel.close()
        }
        // Closing sessions move unacknowledged live messages to the inbox; let them land.
        await messages.waitForStores(upTo: .seconds(5))
        // Every session has ended (and asked to be taken out of presence): leave the cluster.
        await cluster?.leave()
        try? await accountPool.shutdownGracefully()
        await stores.close()
        lifecycle.withLock { $0 = .stopped }
    }

    private func configurePipeline(_ channel: Channel) throws {
        let address = channel.remoteAddress?.ipAddress ?? "unknown"
        let perAddressCap = configuration.maximumConnectionsPerAddress
        let totalCap = configuration.maximumConnections
        let admitted = connections.withLock { state -> Result<UInt64, Refusal> in
            if state.open.count >= totalCap { return .failure(.totalCap(totalCap)) }
            if state.perAddress[address, default: 0] >= perAddressCap {
                return .failure(.addressCap(address, perAddressCap))
            }
            state.nextID += 1
            state.open[state.nextID] = channel
            state.perAddress[address, default: 0] += 1
            return .success(state.nextID)
        }
        let id: UInt64
        switch admitted {
        case .success(let admittedID):
            id = admittedID
        case .failure(let refusal):
            // Closed before any TLS work, so a flood of connections costs almost nothing.
            // (Throwing here would leave the socket open: NIO has not registered it yet.)
            logger.notice("refused connection: \(refusal)")
            try channel.pipeline.syncOperations.addHandler(CloseOnActive())
            return
        }
        channel.closeFuture.whenComplete { [connections] _ in
            connections.withLock { state in
                _ = state.open.removeValue(forKey: id)
                state.perAddress[address, default: 1] -= 1
                if state.perAddress[address] == 0 { state.perAddress.removeValue(forKey: address) }
            }
        }
        var connectionLogger = logger
        if let label = nodeLabel.withLock({ $0 }) {
            connectionLogger[metadataKey: "node"] = "\(label)"
        }
        // The connection's id and peer go into each line it logs (`ConnectionLabel`).
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(
            TLSHandler(
                context: tlsContext, handshakeTimeout: configuration.handshakeTimeout,
                shutdownTimeout: configuration.closeNotifyTimeout))
        // Above TLS, below the session's line splitting: any bytes from the client count as
        // activity, a bare newline (the protocol's keep-alive) included.
        try sync.addHandler(IdleStateHandler(readTimeout: configuration.idleTimeout))
        try sync.addHandler(
            SessionHandler(
                services: services, sessionID: id, logger: connectionLogger,
                maximumFrameLength: configuration.maximumFrameLength))
        try sync.addHandler(
            ConnectionErrorHandler(logger: connectionLogger, label: ConnectionLabel(id: id, remote: channel.remoteAddress)))
    }
}

/// The whole pipeline of a refused connection: closes it the moment it is active.
private final class CloseOnActive: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { context.close(promise: nil) }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.close(promise: nil)
    }
}

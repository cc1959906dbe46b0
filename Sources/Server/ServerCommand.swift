import ArgumentParser
import Logging
import NIOCore
import NIOPosix
import Shared

/// `chat-server`: parses the command line and wires the server together; nothing else.
@main
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-server",
        abstract: "Secure 1-1 chat server (TLS over system OpenSSL; GDBM or PostgreSQL storage).",
        subcommands: [AdminCommand.self])

    @OptionGroup(title: "Listening")
    var listen: ListenOptions

    @OptionGroup(title: "Storage")
    var store: StoreOptions

    @OptionGroup(title: "Inbox")
    var inbox: InboxOptions

    @OptionGroup(title: "Sessions and logins")
    var session: SessionOptions

    @OptionGroup(title: "Several servers on one PostgreSQL database")
    var cluster: ClusterOptions

    @Option(help: "Least important log level written to standard error.")
    var logLevel = LogLevel.info

    /// The configuration these options describe.
    var serverConfiguration: ServerConfiguration {
        var configuration = ServerConfiguration()
        listen.apply(to: &configuration)
        store.apply(to: &configuration)
        inbox.apply(to: &configuration)
        session.apply(to: &configuration)
        cluster.apply(to: &configuration)
        return configuration
    }

    func run() async throws {
        let level = logLevel.level
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "chat-server")
        let configuration = serverConfiguration
        // Every connection is a descriptor: raise the soft limit as far as allowed, and say
        // so when it is still below the connection cap (past it, accept() fails instead).
        let fileLimit = FileDescriptorLimit.raiseToHard()
        if fileLimit < configuration.maximumConnections + 64 {
            logger.warning(
                "open-file limit \(fileLimit) is below --max-connections \(configuration.maximumConnections) plus files: raise it (ulimit -n)")
        }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoops)
        let server: ChatServer
        do {
            server = try await ChatServer(configuration: configuration, logger: logger, group: group)
        } catch {
            try? await group.shutdownGracefully()
            throw StartupFailure(message: "\(error)")
        }
        let address: SocketAddress
        do {
            address = try await server.start()
        } catch {
            await server.shutdown()
            try? await group.shutdownGracefully()
            throw StartupFailure(message: "\(error)")
        }
        // Tests and scripts read this line to learn the real port; written unbuffered.
        Console.writeLine("chat-server listening on \(address.ipAddress ?? configuration.host):\(address.port ?? configuration.port)")
        let signals = SignalWatcher(signals: [SIGINT, SIGTERM]) { signal in
            logger.notice("received signal \(signal), shutting down")
            server.stopAccepting()
        }
        try await server.waitUntilClosed()
        signals.cancel()
        // The listener closed (a signal): say goodbye to every session, close the stores.
        await server.shutdown()
        try? await group.shutdownGracefully()
        logger.notice("chat-server stopped")
    }
}

/// A start-up problem the user must fix (bad certificate, data directory in use):
/// printed as one line, exit status 1.
struct StartupFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { "chat-server: \(message)" }
}

import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import Shared

/// `chat-server`: parses the command line and wires the server together; nothing else.
@main
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-server",
        abstract: "Secure 1-1 chat server (TLS over system OpenSSL, GDBM storage).")

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free port and prints it).")
    var port = 5555

    @Option(help: "PEM certificate chain of the server.")
    var cert = "certs/server.pem"

    @Option(help: "PEM private key of the server certificate.")
    var key = "certs/server.key"

    @Option(
        help: ArgumentHelp(
            "Where accounts and inboxes are kept: gdbm:DIR for GDBM files in DIR, created 0700 (default: \(StorageLocation.default)).",
            valueName: "backend:address"),
        transform: { text in
            do {
                return try StorageLocation(parsing: text)
            } catch {
                throw ValidationError("\(error)")
            }
        })
    var store: StorageLocation?

    @Option(help: ArgumentHelp("Short for --store gdbm:DIR.", valueName: "dir"))
    var dataDir: String?

    @Option(name: .customLong("handshake-timeout"), help: "Seconds a TLS handshake may take.")
    var handshakeTimeout = 10

    @Option(name: .customLong("max-frame"), help: "Longest protocol frame accepted, in bytes.")
    var maxFrame = 64 * 1024

    @Option(name: .customLong("scrypt-log-n"), help: "scrypt cost for new password hashes, as log2(N) (10-20).")
    var scryptLogN = 14

    @Option(
        name: .customLong("login-backoff"),
        help: "Seconds of the first login back-off (from the 5th failure in a row; doubles each time, capped at 300).")
    var loginBackoff = 1.0

    @Option(name: .customLong("inbox-max-messages"), help: "Most messages one user's offline inbox holds.")
    var inboxMaxMessages = 1_000

    @Option(name: .customLong("inbox-max-bytes"), help: "Most bytes one user's offline inbox holds.")
    var inboxMaxBytes = 1 << 20

    @Option(
        name: .customLong("message-expiry"),
        help: "Age after which stored messages are dropped: a number with s, m, h or d (e.g. 30d, 12h).")
    var messageExpiry = "30d"

    @Option(name: .customLong("login-timeout"), help: "Seconds a connection may take to log in.")
    var loginTimeout = 60

    @Option(name: .customLong("idle-timeout"), help: "Seconds without any frame before a connection is closed.")
    var idleTimeout = 90

    @Option(name: .customLong("max-connections-per-address"), help: "Most connections from one address.")
    var maxConnectionsPerAddress = 32

    @Option(name: .customLong("max-connections"), help: "Most connections in total.")
    var maxConnections = 10_000

    @Option(name: .customLong("message-rate"), help: "Messages per second one session may send, on average.")
    var messageRate = 10.0

    @Option(name: .customLong("message-burst"), help: "Messages one session may send at once.")
    var messageBurst = 20

    @Option(
        name: .customLong("max-outbound-bytes"),
        help: "Bytes queued for a client past which its messages go to its inbox instead.")
    var maxOutboundBytes = 256 * 1024

    @Option(
        name: .customLong("stalled-reader-timeout"),
        help: "Seconds a client may stay past --max-outbound-bytes before it is disconnected.")
    var stalledReaderTimeout = 30

    @Option(
        name: .customLong("event-loops"),
        help: "Event-loop threads for connections (default: \(ServerCommand.defaultEventLoops), one per core).")
    var eventLoops: Int?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        guard store == nil || dataDir == nil else {
            throw ValidationError("--data-dir DIR is short for --store gdbm:DIR: give one of them, not both")
        }
        guard (0...65_535).contains(port) else {
            throw ValidationError("--port must be between 0 and 65535")
        }
        guard handshakeTimeout > 0 else {
            throw ValidationError("--handshake-timeout must be at least 1 second")
        }
        guard (1_024...16 * 1_024 * 1_024).contains(maxFrame) else {
            throw ValidationError("--max-frame must be between 1024 and 16777216 bytes")
        }
        guard (10...20).contains(scryptLogN) else {
            throw ValidationError("--scrypt-log-n must be between 10 and 20")
        }
        guard loginBackoff > 0, loginBackoff <= 300 else {
            throw ValidationError("--login-backoff must be between 0 and 300 seconds")
        }
        guard inboxMaxMessages >= 1, inboxMaxBytes >= 1_024 else {
            throw ValidationError("--inbox-max-messages must be at least 1 and --inbox-max-bytes at least 1024")
        }
        guard Self.seconds(messageExpiry) != nil else {
            throw ValidationError("--message-expiry must be a number followed by s, m, h or d, for example 30d")
        }
        guard loginTimeout > 0, idleTimeout > 0 else {
            throw ValidationError("--login-timeout and --idle-timeout must be at least 1 second")
        }
        guard maxConnectionsPerAddress > 0, maxConnections > 0 else {
            throw ValidationError("--max-connections-per-address and --max-connections must be at least 1")
        }
        guard messageRate > 0, messageBurst > 0 else {
            throw ValidationError("--message-rate and --message-burst must be positive")
        }
        guard maxOutboundBytes >= 16 * 1024, stalledReaderTimeout > 0 else {
            throw ValidationError("--max-outbound-bytes must be at least 16384 and --stalled-reader-timeout positive")
        }
        if let eventLoops, !(1...256).contains(eventLoops) {
            throw ValidationError("--event-loops must be between 1 and 256")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "chat-server")
        // Every connection is a descriptor: raise the soft limit as far as allowed, and say
        // so when it is still below the connection cap (past it, accept() fails instead).
        let fileLimit = FileDescriptorLimit.raiseToHard()
        if fileLimit < maxConnections + 64 {
            logger.warning(
                "open-file limit \(fileLimit) is below --max-connections \(maxConnections) plus files: raise it (ulimit -n)")
        }

        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.certificateFile = cert
        configuration.privateKeyFile = key
        if let storage {
            configuration.storage = storage
        }
        configuration.handshakeTimeout = .seconds(Int64(handshakeTimeout))
        configuration.maximumFrameLength = maxFrame
        configuration.scryptLogN = scryptLogN
        configuration.throttleBaseDelay = loginBackoff
        configuration.loginTimeout = .seconds(Int64(loginTimeout))
        configuration.idleTimeout = .seconds(Int64(idleTimeout))
        configuration.maximumConnectionsPerAddress = maxConnectionsPerAddress
        configuration.maximumConnections = maxConnections
        configuration.messageRate = messageRate
        configuration.messageBurst = messageBurst
        configuration.maximumOutboundBytes = maxOutboundBytes
        configuration.stalledReaderTimeout = .seconds(Int64(stalledReaderTimeout))
        configuration.inboxLimits = InboxLimits(maximumMessages: inboxMaxMessages, maximumBytes: inboxMaxBytes)
        configuration.messageExpiry = Self.seconds(messageExpiry) ?? configuration.messageExpiry

        let group = MultiThreadedEventLoopGroup(numberOfThreads: eventLoops ?? Self.defaultEventLoops)
        let server: ChatServer
        do {
            server = try await ChatServer(configuration: configuration, logger: logger, group: group)
        } catch {
            try? await group.shutdownGracefully()
            throw StartupFailure(message: "\(error)")
        }
        let address = try await server.start()
        // Tests and scripts read this line to learn the real port; written unbuffered.
        Console.writeLine("chat-server listening on \(address.ipAddress ?? host):\(address.port ?? port)")
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

extension ServerCommand {
    /// Where to keep the data, from `--store` or `--data-dir`; nil for the configuration's
    /// default.
    var storage: StorageLocation? {
        store ?? dataDir.map { StorageLocation.gdbm(directory: $0) }
    }

    /// One event loop per core. Fewer loops put more pairs on one loop, and those relay
    /// without a thread wake-up per message (on 2 cores, one loop measured about 20 % less
    /// server CPU per relayed message than two), but a lone loop also does every TLS handshake:
    /// a burst of logins stalls all relaying behind it (relay p99 18.6 ms during a 200-login
    /// storm at scrypt logN 10 with one loop, 8.0 and 8.2 ms with two). So the default keeps
    /// them all.
    static var defaultEventLoops: Int { System.coreCount }

    /// "30d", "12h", "90m", "45s" as seconds; nil when malformed.
    static func seconds(_ text: String) -> TimeInterval? {
        guard let unit = text.last, let number = Double(text.dropLast()), number > 0 else { return nil }
        switch unit {
        case "s": return number
        case "m": return number * 60
        case "h": return number * 3_600
        case "d": return number * 86_400
        default: return nil
        }
    }
}

/// A start-up problem the user must fix (bad certificate, data directory in use):
/// printed as one line, exit status 1.
struct StartupFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { "chat-server: \(message)" }
}

import ArgumentParser
import Foundation
import NIOCore
import Shared

private let defaults = ServerConfiguration.defaults

/// Where the server listens and how much traffic it takes.
struct ListenOptions: ParsableArguments {
    @Option(help: "Address to listen on.")
    var host = defaults.host

    @Option(help: "Port to listen on (0 picks a free port and prints it).")
    var port = defaults.port

    @Option(help: "PEM certificate chain of the server.")
    var cert = defaults.certificateFile

    @Option(help: "PEM private key of the server certificate.")
    var key = defaults.privateKeyFile

    @Option(help: "Event-loop threads for connections (default: one per core).")
    var eventLoops: Int?

    @Option(help: "Time a TLS handshake may take (s, m, h or d; a bare number is seconds).")
    var handshakeTimeout = TimeSpan(defaults.handshakeTimeout)

    @Option(help: "Longest protocol frame accepted, in bytes.")
    var maxFrame = defaults.maximumFrameLength

    @Option(help: "Time without any frame before a connection is closed.")
    var idleTimeout = TimeSpan(defaults.idleTimeout)

    @Option(help: "Most connections from one address.")
    var maxConnectionsPerAddress = defaults.maximumConnectionsPerAddress

    @Option(help: "Most connections in total.")
    var maxConnections = defaults.maximumConnections

    @Option(help: "Bytes queued for a client past which its messages go to its inbox instead.")
    var maxOutboundBytes = defaults.maximumOutboundBytes

    func validate() throws {
        guard (0...65_535).contains(port) else {
            throw ValidationError("--port must be between 0 and 65535")
        }
        guard handshakeTimeout.seconds > 0 else {
            throw ValidationError("--handshake-timeout must be at least 1 second")
        }
        guard (1_024...16 * 1_024 * 1_024).contains(maxFrame) else {
            throw ValidationError("--max-frame must be between 1024 and 16777216 bytes")
        }
        guard idleTimeout.seconds > 0 else {
            throw ValidationError("--idle-timeout must be at least 1 second")
        }
        guard maxConnectionsPerAddress > 0, maxConnections > 0 else {
            throw ValidationError("--max-connections-per-address and --max-connections must be at least 1")
        }
        guard maxOutboundBytes >= 16 * 1024 else {
            throw ValidationError("--max-outbound-bytes must be at least 16384")
        }
        if let eventLoops, !(1...256).contains(eventLoops) {
            throw ValidationError("--event-loops must be between 1 and 256")
        }
    }

    func apply(to configuration: inout ServerConfiguration) {
        configuration.host = host
        configuration.port = port
        configuration.certificateFile = cert
        configuration.privateKeyFile = key
        if let eventLoops { configuration.eventLoops = eventLoops }
        configuration.handshakeTimeout = handshakeTimeout.timeAmount
        configuration.maximumFrameLength = maxFrame
        configuration.idleTimeout = idleTimeout.timeAmount
        configuration.maximumConnectionsPerAddress = maxConnectionsPerAddress
        configuration.maximumConnections = maxConnections
        configuration.maximumOutboundBytes = maxOutboundBytes
    }
}

/// Where accounts, inboxes and keys are kept, and where the running server takes admin
/// requests: shared by the server and `chat-server admin`.
struct StoreOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            """
            Where accounts, inboxes and published keys are kept: gdbm:DIR for GDBM files in DIR, created 0700; \
            postgres://USER@HOST/DB (or postgres:KEYWORD=VALUE ...) for a PostgreSQL database several servers may share. \
            Without it (and without --data-dir), taken from $\(StorageLocation.environmentVariable), which keeps a \
            password out of the process list; otherwise \(defaults.storage).
            """,
            valueName: "backend:address"))
    // A string, parsed in validate(): argument-parser's own message for a bad value would
    // repeat it whole, password included.
    var store: String?

    @Option(help: ArgumentHelp("Short for --store gdbm:DIR.", valueName: "dir"))
    var dataDir: String?

    @Option(
        help: ArgumentHelp(
            "Unix socket through which `chat-server admin` reaches the running server (default: "
                + "\(ServerConfiguration.adminSocketName) in a GDBM data directory; none for PostgreSQL).",
            valueName: "path"))
    var adminSocket: String?

    func validate() throws {
        guard store == nil || dataDir == nil else {
            throw ValidationError("--data-dir DIR is short for --store gdbm:DIR: give one of them, not both")
        }
        _ = try location(environment: ProcessInfo.processInfo.environment)
        if let adminSocket {
            try AdminSocketAddress.validate(adminSocket)
        }
    }

    /// The location these options name: `--store`, `--data-dir`, else `CHAT_STORE` from
    /// `environment`; nil leaves the default.
    ///
    /// - Throws: `ValidationError` naming what is malformed (never showing a password).
    func location(environment: [String: String]) throws -> StorageLocation? {
        if let store {
            do {
                return try StorageLocation(parsing: store)
            } catch {
                throw ValidationError("--store: \(error)")
            }
        }
        if let dataDir {
            return .gdbm(directory: dataDir)
        }
        let name = StorageLocation.environmentVariable
        guard let text = environment[name], !text.isEmpty else {
            return nil
        }
        do {
            return try StorageLocation(parsing: text)
        } catch {
            throw ValidationError("$\(name): \(error)")
        }
    }

    func apply(to configuration: inout ServerConfiguration, environment: [String: String] = ProcessInfo.processInfo.environment) {
        // validate() has already parsed the location; a malformed one cannot get here.
        if let location = try? location(environment: environment) {
            configuration.storage = location
        }
        configuration.adminSocket = adminSocket
    }
}

/// The offline inbox's rules.
struct InboxOptions: ParsableArguments {
    @Option(help: "Most messages one user's offline inbox holds.")
    var inboxMaxMessages = defaults.inboxLimits.maximumMessages

    @Option(help: "Most bytes one user's offline inbox holds (at least 1024).")
    var inboxMaxBytes = defaults.inboxLimits.maximumBytes

    @Option(help: "Age after which stored messages and files are dropped: a number with s, m, h or d (e.g. 30d, 12h).")
    var messageExpiry = TimeSpan(seconds: Int64(defaults.messageExpiry))

    @Option(help: "Largest file a user may send, in bytes.")
    var maxFileBytes = defaults.fileLimits.maximumFileBytes

    @Option(help: "Most bytes of files waiting for one user at once (at least --max-file-bytes).")
    var inboxMaxFileBytes = defaults.fileLimits.maximumHeldBytes

    func validate() throws {
        guard inboxMaxMessages >= 1, inboxMaxBytes >= 1_024 else {
            throw ValidationError("--inbox-max-messages must be at least 1 and --inbox-max-bytes at least 1024")
        }
        guard messageExpiry.seconds > 0 else {
            throw ValidationError("--message-expiry must be a number followed by s, m, h or d, for example 30d")
        }
        guard maxFileBytes >= 0, inboxMaxFileBytes >= maxFileBytes else {
            throw ValidationError("--max-file-bytes must be at least 0 and --inbox-max-file-bytes at least --max-file-bytes")
        }
    }

    func apply(to configuration: inout ServerConfiguration) {
        configuration.inboxLimits = InboxLimits(maximumMessages: inboxMaxMessages, maximumBytes: inboxMaxBytes)
        configuration.messageExpiry = messageExpiry.timeInterval
        configuration.fileLimits = FileLimits(maximumFileBytes: maxFileBytes, maximumHeldBytes: inboxMaxFileBytes)
    }
}

/// What each session and each login is held to.
struct SessionOptions: ParsableArguments {
    @Option(help: "Time a connection may take to log in.")
    var loginTimeout = TimeSpan(defaults.sessionLimits.loginTimeout)

    @Option(help: "Messages per second one session may send, on average.")
    var messageRate = defaults.sessionLimits.messageRate

    @Option(help: "Messages one session may send at once.")
    var messageBurst = defaults.sessionLimits.messageBurst

    @Option(help: "Time a client may stay past --max-outbound-bytes before it is disconnected.")
    var stalledReaderTimeout = TimeSpan(defaults.sessionLimits.stalledReaderTimeout)

    @Option(help: "scrypt cost for new password hashes, as log2(N) (10-20).")
    var scryptLogN = defaults.scryptLogN

    @Option(help: "Seconds of the first login back-off (from the 5th failure in a row; doubles each time, capped at 300).")
    var loginBackoff = defaults.throttleBaseDelay

    func validate() throws {
        guard loginTimeout.seconds > 0 else {
            throw ValidationError("--login-timeout must be at least 1 second")
        }
        guard messageRate > 0, messageBurst > 0 else {
            throw ValidationError("--message-rate and --message-burst must be positive")
        }
        guard stalledReaderTimeout.seconds > 0 else {
            throw ValidationError("--stalled-reader-timeout must be at least 1 second")
        }
        guard (10...20).contains(scryptLogN) else {
            throw ValidationError("--scrypt-log-n must be between 10 and 20")
        }
        guard loginBackoff > 0, loginBackoff <= 300 else {
            throw ValidationError("--login-backoff must be between 0 and 300 seconds")
        }
    }

    func apply(to configuration: inout ServerConfiguration) {
        configuration.sessionLimits.loginTimeout = loginTimeout.timeAmount
        configuration.sessionLimits.messageRate = messageRate
        configuration.sessionLimits.messageBurst = messageBurst
        configuration.sessionLimits.stalledReaderTimeout = stalledReaderTimeout.timeAmount
        configuration.scryptLogN = scryptLogN
        configuration.throttleBaseDelay = loginBackoff
    }
}

/// How this server takes part when several share one PostgreSQL database.
struct ClusterOptions: ParsableArguments {
    @Option(help: "This server's name in logs and in the shared tables (default: host name and port).")
    var nodeID: String?

    @Option(help: "Time between two heartbeats of this server in the shared database.")
    var heartbeatInterval = TimeSpan(seconds: Int64(defaults.clusterTiming.heartbeat.components.seconds))

    @Option(help: "Time without a heartbeat after which a server counts as dead and its users as offline.")
    var nodeTimeout = TimeSpan(seconds: Int64(defaults.clusterTiming.deadAfter.components.seconds))

    func validate() throws {
        if let nodeID {
            guard (1...100).contains(nodeID.count), nodeID.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
            else {
                throw ValidationError("--node-id must be 1 to 100 printable ASCII characters without spaces")
            }
        }
        guard heartbeatInterval.seconds >= 1 else {
            throw ValidationError("--heartbeat-interval must be at least 1 second")
        }
        guard nodeTimeout.seconds >= 2 * heartbeatInterval.seconds else {
            throw ValidationError("--node-timeout must be at least twice --heartbeat-interval")
        }
    }

    func apply(to configuration: inout ServerConfiguration) {
        configuration.nodeID = nodeID
        configuration.clusterTiming = ClusterTiming(
            heartbeat: .seconds(heartbeatInterval.seconds), deadAfter: .seconds(nodeTimeout.seconds))
    }
}

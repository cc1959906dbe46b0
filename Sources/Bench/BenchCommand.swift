import ArgumentParser
import SecureMessaging
import Shared

/// `chat-bench`: parses the command line into a `BenchPlan` and runs it; nothing else.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-bench",
        abstract: "Drives a chat-server over real TLS and reports throughput, latency and server CPU per unit.",
        discussion: """
            Either starts the server itself (--start-server: chat-server from the same build folder, \
            certificates from scripts/gen-certs.sh, a temporary data directory, --scrypt-log-n 10) or \
            attaches to a running one (--host, --port, --ca, --server-pid). Progress goes to standard \
            error; results to standard output, a table row and one JSON line per scenario.

            Several nodes: --start-server --nodes 2 --server-store postgres://... starts two chat-servers \
            on that one database, each with its own --node-id and port. relay then splits every pair \
            across two nodes and inbox deals its senders to the nodes in turn (the other scenarios \
            measure one server and are left out); server CPU is summed over the nodes. A throw-away \
            database: scripts/start-postgres.sh DIR prints its URL; --database-pid with its postmaster's \
            pid (the first line of DIR/data/postmaster.pid) adds the database's own CPU.
            """)

    @Option(help: "sessions, relay, inbox, handshakes, login-storm, slowloris, files or all.")
    var scenario: ScenarioChoice = .all

    @Flag(help: "Every scenario with tiny sizes, seconds in all (CI); figures are not meaningful.")
    var smoke = false

    @Flag(name: .customLong("start-server"), help: "Start chat-server from the bench's build folder.")
    var startServer = false

    @Option(help: "Attached server: address.")
    var host = "127.0.0.1"

    @Option(help: "Attached server: port.")
    var port: Int?

    @Option(help: "Attached server: CA certificate (PEM) that signed its certificate.")
    var ca: String?

    @Option(name: .customLong("server-pid"), help: "Attached server: its process id (for CPU and memory).")
    var serverPID: Int32?

    @Option(
        name: .customLong("scrypt-log-n"),
        help: "Started server: scrypt cost of new accounts, log2 N (default 10; the server's own default is 14).")
    var scryptLogN: Int?

    @Option(
        name: .customLong("server-event-loops"),
        help: "Started server: its --event-loops (default: the server's own choice).")
    var serverEventLoops: Int?

    @Option(
        name: .customLong("server-store"),
        help: ArgumentHelp(
            "Started server: where it stores, as its --store (e.g. postgres://USER@HOST/DB; default: a temporary gdbm directory). "
                + "Handed over in the server's environment (CHAT_STORE), so a password stays out of the process list.",
            valueName: "backend:address"))
    var serverStore: String?

    @Option(
        help: ArgumentHelp(
            "Started server: chat-server nodes to start on the one --server-store PostgreSQL database (default 1); "
                + "relay and inbox only.",
            valueName: "count"))
    var nodes: Int?

    @Option(
        name: .customLong("database-pid"),
        help: "The PostgreSQL server's process id (its postmaster): its CPU, backends included, is reported beside the server's.")
    var databasePID: Int32?

    @Option(help: "sessions: sessions to open and log in (default 10000; smoke 50).")
    var sessions: Int?

    @Option(help: "sessions: seconds to hold them idle before measuring memory (default 3).")
    var hold: Double?

    @Option(help: "relay, login-storm: pairs (default 100; smoke 5).")
    var pairs: Int?

    @Option(help: "relay, inbox: message text size in bytes (default 64, at least 24).")
    var size: Int?

    @Flag(help: "relay, login-storm: plaintext bodies instead of end-to-end encrypted ones, to see what encryption costs the server.")
    var plaintext = false

    @Option(help: "relay (each mode), handshakes: measured seconds (default 10; smoke 1).")
    var duration: Double?

    @Option(help: "relay flood and inbox: messages in flight per sender (default 8).")
    var window: Int?

    @Option(help: "relay, login-storm: fixed offered rate, messages per second in total (default 10000; smoke 1000).")
    var rate: Int?

    @Option(name: .customLong("inbox-messages"), help: "inbox: messages to the offline user (default 10000; smoke 200).")
    var inboxMessages: Int?

    @Option(name: .customLong("inbox-senders"), help: "inbox: concurrent senders (default 16; smoke 4).")
    var inboxSenders: Int?

    @Option(help: "handshakes: concurrent connect-handshake-close loops (default 32; smoke 8).")
    var concurrency: Int?

    @Option(help: "login-storm: logins at once (default 200; smoke 20).")
    var logins: Int?

    @Option(
        name: .customLong("slowloris-sockets"),
        help: "slowloris: connections that never handshake (default 1000; smoke 40).")
    var slowlorisSockets: Int?

    @Option(
        name: .customLong("slowloris-seconds"),
        help: "slowloris: seconds of login-and-chat rounds under attack (default 15, past the 10 s handshake timeout; smoke 1).")
    var slowlorisSeconds: Double?

    @Option(name: .customLong("file-bytes"), help: "files: size of the file sent and fetched, in bytes (default 10485760; smoke 262144).")
    var fileBytes: Int?

    @Option(name: .customLong("connect-concurrency"), help: "Connections set up at once (default 64).")
    var connectConcurrency: Int?

    @Option(name: .customLong("event-loops"), help: "Bench event-loop threads (default: one per core).")
    var eventLoops: Int?

    func validate() throws {
        if startServer {
            guard port == nil, ca == nil, serverPID == nil else {
                throw ValidationError("--start-server starts its own server: leave out --port, --ca and --server-pid")
            }
            if let scryptLogN, !(10...20).contains(scryptLogN) {
                throw ValidationError("--scrypt-log-n must be between 10 and 20")
            }
            if let serverEventLoops, !(1...256).contains(serverEventLoops) {
                throw ValidationError("--server-event-loops must be between 1 and 256")
            }
            if let nodes {
                try validate(nodes: nodes)
            }
        } else {
            guard port != nil, ca != nil, serverPID != nil else {
                throw ValidationError(
                    "give --start-server, or attach with --port, --ca and --server-pid (the server's CPU and memory are read from /proc)")
            }
            guard scryptLogN == nil, serverEventLoops == nil, serverStore == nil, nodes == nil else {
                throw ValidationError(
                    "--scrypt-log-n, --server-event-loops, --server-store and --nodes apply to a server the bench starts; an attached server uses its own")
            }
        }
        if let port, !(1...65_535).contains(port) { throw ValidationError("--port must be between 1 and 65535") }
        let positive: [(String, Int?)] = [
            ("--sessions", sessions), ("--pairs", pairs), ("--window", window), ("--rate", rate),
            ("--inbox-messages", inboxMessages), ("--inbox-senders", inboxSenders), ("--concurrency", concurrency),
            ("--logins", logins), ("--slowloris-sockets", slowlorisSockets), ("--file-bytes", fileBytes), ("--connect-concurrency", connectConcurrency), ("--event-loops", eventLoops),
        ]
        for (name, value) in positive where (value ?? 1) < 1 {
            throw ValidationError("\(name) must be at least 1")
        }
        // Encrypted, the body is the padded text plus the Signal header, in base64.
        let largest = plaintext ? ChatMessage.maximumBodyBytes : MessageEnvelope.maximumTextBytes
        if let size, !(MessageStamp.minimumSize...largest).contains(size) {
            throw ValidationError(
                "--size must be between \(MessageStamp.minimumSize) (room for the send time) and \(largest)")
        }
        if let duration, duration <= 0 { throw ValidationError("--duration must be more than 0 seconds") }
        if let slowlorisSeconds, slowlorisSeconds <= 0 {
            throw ValidationError("--slowloris-seconds must be more than 0 seconds")
        }
        if let hold, hold < 0 { throw ValidationError("--hold must not be negative") }
        if let databasePID, databasePID < 1 || !ProcessStats(pid: databasePID).isAlive {
            throw ValidationError("--database-pid \(databasePID): no such process")
        }
    }

    /// Several nodes need one database they all reach, and a scenario that spreads over them.
    private func validate(nodes: Int) throws {
        guard (1...16).contains(nodes) else { throw ValidationError("--nodes must be between 1 and 16") }
        guard nodes > 1 else { return }
        var settings = ManagedServer.Settings()
        settings.store = serverStore
        guard settings.storeIsShared else {
            throw ValidationError(
                "--nodes \(nodes) needs --server-store postgres://... (nodes share one PostgreSQL database; "
                    + "scripts/start-postgres.sh DIR makes a throw-away one)")
        }
        guard scenario == .all || scenario.spansNodes else {
            throw ValidationError("--nodes applies to relay and inbox; \(scenario.rawValue) measures one server")
        }
    }

    func run() async throws {
        var plan = BenchPlan.defaults(smoke: smoke)
        var settings = ManagedServer.Settings()
        settings.nodes = nodes ?? settings.nodes
        plan.scenarios = scenario.expanded.filter { settings.nodes == 1 || $0.spansNodes }
        plan.databasePID = databasePID
        plan.sessions = sessions ?? plan.sessions
        plan.hold = hold ?? plan.hold
        plan.pairs = pairs ?? plan.pairs
        plan.size = size ?? plan.size
        plan.encrypt = !plaintext
        plan.duration = duration ?? plan.duration
        plan.window = window ?? plan.window
        plan.rate = rate ?? plan.rate
        plan.inboxMessages = inboxMessages ?? plan.inboxMessages
        plan.inboxSenders = min(inboxSenders ?? plan.inboxSenders, plan.inboxMessages)
        plan.handshakeConcurrency = concurrency ?? plan.handshakeConcurrency
        plan.logins = logins ?? plan.logins
        plan.slowlorisSockets = slowlorisSockets ?? plan.slowlorisSockets
        plan.slowlorisSeconds = slowlorisSeconds ?? plan.slowlorisSeconds
        plan.fileBytes = fileBytes ?? plan.fileBytes
        plan.connectConcurrency = connectConcurrency ?? plan.connectConcurrency
        plan.eventLoops = eventLoops ?? plan.eventLoops
        if startServer {
            settings.scryptLogN = scryptLogN ?? settings.scryptLogN
            settings.eventLoops = serverEventLoops
            settings.store = serverStore
            // One user's inbox must hold the whole inbox scenario.
            settings.inboxMaximumMessages = max(1_000, plan.inboxMessages)
            settings.inboxMaximumBytes = max(1 << 20, plan.inboxMessages * (plan.size + 128))
            settings.maximumFileBytes = max(settings.maximumFileBytes, plan.fileBytes)
            // Every scenario's connections at once, with room for the ones still closing.
            settings.maximumConnections = 2 * max(
                plan.sessions, 2 * plan.pairs + plan.logins, plan.handshakeConcurrency, plan.inboxSenders + 1) + 1_000
            plan.server = .start(settings)
        } else if let port, let ca, let serverPID {
            plan.server = .attach(host: host, port: port, caFile: ca, pid: serverPID)
        }
        let status = await BenchRunner(plan: plan).run()
        if status != 0 { throw ExitCode(status) }
    }
}

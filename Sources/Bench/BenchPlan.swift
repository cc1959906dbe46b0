import NIOCore

/// Everything one chat-bench run does, with the sizes resolved (defaults, or the smoke
/// preset, then the options given).
struct BenchPlan: Sendable {
    /// Which server the scenarios drive.
    enum ServerChoice: Sendable {
        /// Start chat-server from the bench's own build folder.
        case start(ManagedServer.Settings)
        /// A running server: where it listens, the CA that signed its certificate, its pid.
        case attach(host: String, port: Int, caFile: String, pid: Int32)
    }

    var scenarios: [ScenarioChoice] = ScenarioChoice.all.expanded
    var server: ServerChoice = .start(ManagedServer.Settings())
    var smoke = false
    /// The PostgreSQL server's process (`--database-pid`): its CPU, backends included, is
    /// reported beside the server's.
    var databasePID: Int32?

    /// sessions: how many to open and log in, and how long to hold them idle (s).
    var sessions = 10_000
    var hold = 3.0
    /// relay (and the relay under login-storm): pairs, body size, measured seconds per
    /// mode, warm-up seconds, flood window per sender, fixed offered rate (msgs/s total).
    var pairs = 100
    var size = 64
    /// relay: bodies encrypted end to end as chat-client sends them (the text is `size`
    /// bytes, the body larger); false sends the text itself.
    var encrypt = true
    var duration = 10.0
    var warmup = 1.0
    var window = 8
    var rate = 10_000
    /// inbox: messages to the offline user, sending users, window per sender.
    var inboxMessages = 10_000
    var inboxSenders = 16
    /// handshakes: concurrent connect-handshake-close loops (for `duration` seconds).
    var handshakeConcurrency = 32
    /// login-storm: simultaneous logins, and the quiet relay window measured before them (s).
    var logins = 200
    var beforeStorm = 3.0
    /// slowloris: connections that never handshake (a fortieth of them dribbling), held
    /// while a user logs in and chats for the given seconds: longer than the server's
    /// default 10 s handshake timeout, so the server drops and the crowd reopens them.
    var slowlorisSockets = 1_000
    var slowlorisSeconds = 15.0
    /// files: the size of the file sent and fetched.
    var fileBytes = 10 << 20
    /// Connections being set up at once (registration uses a fraction of it).
    var connectConcurrency = 64
    /// Event loops of the bench (its NIO threads).
    var eventLoops = System.coreCount

    /// The full-size defaults, or the smoke preset: every scenario tiny, seconds in all.
    static func defaults(smoke: Bool) -> BenchPlan {
        var plan = BenchPlan()
        guard smoke else { return plan }
        plan.smoke = true
        plan.sessions = 50
        plan.hold = 0.2
        plan.pairs = 5
        plan.duration = 1
        plan.warmup = 0.2
        plan.rate = 1_000
        plan.inboxMessages = 200
        plan.inboxSenders = 4
        plan.handshakeConcurrency = 8
        plan.logins = 20
        plan.beforeStorm = 0.5
        plan.slowlorisSockets = 40
        plan.slowlorisSeconds = 1
        plan.fileBytes = 256 << 10
        plan.connectConcurrency = 16
        return plan
    }
}

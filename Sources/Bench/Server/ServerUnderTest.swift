/// The chat-server the scenarios drive: where to dial, what to trust, and which process
/// to read CPU time and memory from.
struct ServerUnderTest: Sendable {
    let host: String
    let port: Int
    let caFile: String
    let pid: Int32
    /// True when the bench started (and will stop) the server itself.
    let startedByBench: Bool
    /// The scrypt cost new accounts get, when the bench chose it; nil when attached (the
    /// server's own setting applies).
    let scryptLogN: Int?
    /// Most messages one inbox holds, when the bench chose it; nil when attached.
    let inboxMaximumMessages: Int?

    /// CPU and memory of the server process.
    var stats: ProcessStats { ProcessStats(pid: pid) }
}

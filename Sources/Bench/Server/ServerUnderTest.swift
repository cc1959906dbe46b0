/// The chat-server the scenarios drive: one process, or several nodes on one PostgreSQL
/// database; where each listens, what to trust, and which processes to read CPU time and
/// memory from.
struct ServerUnderTest: Sendable {
    /// One server process: where it listens and its process id.
    struct Node: Sendable {
        let host: String
        let port: Int
        let pid: Int32
    }

    /// Every node, at least one; scenarios that drive one server use the first.
    let nodes: [Node]
    let caFile: String
    /// True when the bench started (and will stop) the server itself.
    let startedByBench: Bool
    /// The scrypt cost new accounts get, when the bench chose it; nil when attached (the
    /// server's own setting applies).
    let scryptLogN: Int?
    /// Most messages one inbox holds, when the bench chose it; nil when attached.
    let inboxMaximumMessages: Int?
    /// The PostgreSQL server (its postmaster) the server stores in, when given: its CPU,
    /// backends included, is reported beside the server's.
    var databasePID: Int32?

    /// CPU and memory of the server: summed over its node processes.
    var stats: ServerStats { ServerStats(processes: nodes.map { ProcessStats(pid: $0.pid) }) }

    /// The database's CPU (see `ProcessStats.treeCPUSeconds`), when its process is known.
    var database: ProcessStats? { databasePID.map { ProcessStats(pid: $0) } }
}

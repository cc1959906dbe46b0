/// CPU time and resident memory of the server under test, summed over its processes (one,
/// or one per node): the figures per unit of work are the whole server's, wherever the
/// work ran.
struct ServerStats: Sendable {
    let processes: [ProcessStats]

    /// Whether every process still exists.
    var isAlive: Bool { processes.allSatisfy(\.isAlive) }

    /// User plus system CPU time so far, in seconds, over every process.
    func cpuSeconds() throws -> Double {
        try processes.reduce(0) { $0 + (try $1.cpuSeconds()) }
    }

    /// Resident set size over every process, in KiB.
    func residentKiB() throws -> Int {
        try processes.reduce(0) { $0 + (try $1.residentKiB()) }
    }

    /// The lowest soft limit on open files among the processes; nil if none is readable.
    func openFileLimit() -> Int? {
        processes.compactMap { $0.openFileLimit() }.min()
    }
}

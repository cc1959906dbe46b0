import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// CPU time and resident memory of one process, read from /proc (Linux only).
///
/// CPU is utime + stime from `/proc/PID/stat` (fields 14 and 15, in clock ticks of
/// `sysconf(_SC_CLK_TCK)`, usually 10 ms): coarse, so scenarios measure over seconds.
struct ProcessStats: Sendable {
    /// The process, or nil for the bench itself (`/proc/self`).
    let pid: Int32?

    /// Clock ticks per second of the stat counters.
    static let ticksPerSecond: Double = {
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        return ticks > 0 ? Double(ticks) : 100
    }()

    private var directory: String { pid.map { "/proc/\($0)" } ?? "/proc/self" }

    /// Whether the process still exists.
    var isAlive: Bool {
        FileManager.default.fileExists(atPath: "\(directory)/stat")
    }

    /// User plus system CPU time so far, in seconds.
    func cpuSeconds() throws -> Double {
        let fields = try Self.statFields(directory)
        return (fields.user + fields.system) / Self.ticksPerSecond
    }

    /// CPU time so far of the process and its children, in seconds: its own, the children
    /// it has waited for (cutime + cstime), and every child still running (with the children
    /// they have waited for). For a PostgreSQL server, whose backends are the postmaster's
    /// children, that is the whole database's CPU.
    func treeCPUSeconds() throws -> Double {
        guard let pid else { throw BenchError.server("the bench's own process tree is not measured") }
        let root = try Self.statFields(directory)
        var ticks = root.user + root.system + root.children
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries where entry.allSatisfy(\.isNumber) {
            // A process may exit between the listing and the read: it is then counted in
            // its parent's cutime + cstime instead.
            guard let fields = try? Self.statFields("/proc/\(entry)"), fields.parent == pid else { continue }
            ticks += fields.user + fields.system + fields.children
        }
        return ticks / Self.ticksPerSecond
    }

    /// The fields of `DIRECTORY/stat` the bench reads, in clock ticks.
    private static func statFields(_ directory: String) throws -> (parent: Int32, user: Double, system: Double, children: Double) {
        let text = try read("\(directory)/stat")
        // The command name (field 2) is in parentheses and may hold spaces: split after it.
        guard let close = text.lastIndex(of: ")") else {
            throw BenchError.server("cannot parse \(directory)/stat")
        }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After ")" comes field 3 (state), so field n is at index n - 3: ppid is field 4,
        // utime, stime, cutime and cstime are fields 14 to 17.
        guard fields.count > 14, let parent = Int32(fields[1]), let user = Double(fields[11]),
            let system = Double(fields[12]), let childUser = Double(fields[13]), let childSystem = Double(fields[14])
        else {
            throw BenchError.server("cannot parse \(directory)/stat")
        }
        return (parent, user, system, childUser + childSystem)
    }

    /// Resident set size (VmRSS), in KiB.
    func residentKiB() throws -> Int {
        let text = try Self.read("\(directory)/status")
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let number = line.dropFirst("VmRSS:".count).split(whereSeparator: \.isWhitespace).first
            if let number, let value = Int(number) { return value }
        }
        throw BenchError.server("no VmRSS in \(directory)/status")
    }

    /// The soft limit on open files, from `/proc/PID/limits`; nil if unreadable or unlimited.
    func openFileLimit() -> Int? {
        guard let text = try? Self.read("\(directory)/limits") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("Max open files") {
            let columns = line.dropFirst("Max open files".count).split(whereSeparator: \.isWhitespace)
            return columns.first.flatMap { Int($0) }
        }
        return nil
    }

    private static func read(_ path: String) throws -> String {
        // /proc files report size 0, so read to the end rather than by size.
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw BenchError.server("cannot read \(path) (has the process exited?)")
        }
        defer { try? handle.close() }
        let data = try handle.readToEnd() ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

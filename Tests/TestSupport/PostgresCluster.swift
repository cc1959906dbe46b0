import Foundation
import NIOPosix
import Shared

/// A throw-away PostgreSQL cluster for tests: `initdb` in a temporary directory, the
/// server on a Unix socket in that directory and on no TCP port, trust authentication
/// for the role `chat`. Nothing depends on a PostgreSQL service already running.
///
/// PostgreSQL refuses to run as root, so when the tests run as root (CI does) the cluster
/// belongs to the `postgres` system user and its commands run through `runuser`.
///
/// One cluster per test process (`shared()`), started on first use and stopped when the
/// process exits; each test takes a database of its own (`makeDatabase()`).
public final class PostgresCluster: Sendable {
    /// The directory holding the data directory, the socket and the log.
    public let directory: String
    /// Where the server's socket is: libpq's `host` for it.
    public var socketDirectory: String { directory }
    private var dataDirectory: String { directory + "/data" }
    private var logFile: String { directory + "/postgres.log" }
    private let binaries: String
    private let runAs: String?
    private let databases = Locked(0)

    /// The role every test connects as.
    public static let role = "chat"

    private static let sharedCluster = Locked<Result<PostgresCluster, FixtureError>?>(nil)

    /// The process's cluster, started on first call.
    public static func shared() throws -> PostgresCluster {
        try sharedCluster.withLock { cached in
            if let cached { return try cached.get() }
            let result = Result { () throws(FixtureError) in try PostgresCluster() }
            cached = result
            if case .success(let cluster) = result {
                ClusterCleanup.register(cluster)
            }
            return try result.get()
        }
    }

    /// Starts a new cluster (prefer `shared()`).
    public init() throws(FixtureError) {
        guard let binaries = Self.findBinaries() else {
            throw FixtureError("PostgreSQL server binaries not found (install the postgresql package)")
        }
        self.binaries = binaries
        self.runAs = geteuid() == 0 ? "postgres" : nil
        // Short: a Unix socket path must fit in 107 bytes.
        var template = Array("/tmp/chat-pg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw FixtureError("cannot make a temporary directory: \(String(cString: strerror(errno)))")
        }
        self.directory = String(cString: made)
        if let runAs {
            let chown = try? ProcessRunner.run("/bin/chown", [runAs, directory])
            guard chown?.status == 0 else {
                throw FixtureError("cannot give \(directory) to \(runAs): \(chown?.stderr ?? "")")
            }
        }
        try run("initdb", ["-D", dataDirectory, "-A", "trust", "-U", Self.role, "--no-sync", "-E", "UTF8"])
        try start()
    }

    /// Starts the server (after `stop()`); returns once it accepts connections. Room for
    /// 600 connections: the suite runs many servers on it at once, each with a dozen or so
    /// pooled connections (200 ran out once, as "sorry, too many clients already").
    public func start() throws(FixtureError) {
        try run(
            "pg_ctl",
            [
                "-D", dataDirectory, "-l", logFile, "-w", "-t", "60",
                "-o", "-k \(directory) -c listen_addresses='' -c max_connections=600",
                "start",
            ])
    }

    /// Stops the server quickly (`-m fast`: sessions are cut, nothing is lost).
    public func stop() throws(FixtureError) {
        try run("pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "stop"])
    }

    /// Stops the server like a crash (`-m immediate`: no checkpoint; recovery at start).
    public func crash() throws(FixtureError) {
        try run("pg_ctl", ["-D", dataDirectory, "-m", "immediate", "-w", "stop"])
    }

    /// The running server's process id (its postmaster), from the first line of
    /// `postmaster.pid`; nil when it is not running.
    public var serverPID: Int32? {
        let text = (try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").first.flatMap { Int32($0) }
    }

    /// The server's log so far.
    public var log: String {
        (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
    }

    /// A libpq connection string for `database` on this cluster.
    public func connectionString(database: String) -> String {
        "host=\(socketDirectory) dbname=\(database) user=\(Self.role)"
    }

    /// The same as a `postgres://` URL (the socket directory as the `host` parameter).
    public func url(database: String) -> String {
        let host = socketDirectory.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? socketDirectory
        return "postgres://\(Self.role)@/\(database)?host=\(host)"
    }

    /// Creates an empty database of its own for one test and returns its name.
    public func makeDatabase() throws -> String {
        let number = databases.withLock { count in
            count += 1
            return count
        }
        let name = "test_\(getpid())_\(number)"
        try psql("postgres", "CREATE DATABASE \(name)")
        return name
    }

    /// Runs SQL through `psql` (for set-up and checks that must not go through the code
    /// under test); returns its output, unaligned, tuples only.
    @discardableResult
    public func psql(_ database: String, _ sql: String) throws -> String {
        let result = try ProcessRunner.run(
            binaries + "/psql",
            ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", socketDirectory, "-U", Self.role, "-d", database, "-c", sql])
        guard result.status == 0 else {
            throw FixtureError("psql failed: \(result.stderr)")
        }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func run(_ tool: String, _ arguments: [String]) throws(FixtureError) {
        let executable = binaries + "/" + tool
        let result: ProcessResult?
        if let runAs {
            result = try? ProcessRunner.run("/usr/sbin/runuser", ["-u", runAs, "--", executable] + arguments)
        } else {
            result = try? ProcessRunner.run(executable, arguments)
        }
        guard let result, result.status == 0 else {
            throw FixtureError("\(tool) failed: \(result?.stderr ?? "could not run it") \(result?.stdout ?? "")")
        }
    }

    /// The newest `/usr/lib/postgresql/N/bin` (Debian's layout).
    private static func findBinaries() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return versions.compactMap(Int.init).sorted().reversed().map { "\(root)/\($0)/bin" }
            .first { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") }
    }

    // MARK: - From async tests

    /// Runs `body` (`initdb`, `pg_ctl`, `psql`: seconds of blocking) on a thread of NIO's
    /// pool, never on one of Swift's cooperative threads: there are as many of those as
    /// cores, and blocking them stalls every other test of the process.
    public static func offCooperativeThreads<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }

    /// `shared()`, from an async test.
    public static func sharedCluster() async throws -> PostgresCluster {
        try await offCooperativeThreads { try shared() }
    }

    /// `makeDatabase()`, from an async test.
    public func newDatabase() async throws -> String {
        try await Self.offCooperativeThreads { try self.makeDatabase() }
    }

    /// `psql(_:_:)`, from an async test.
    @discardableResult
    public func query(_ database: String, _ sql: String) async throws -> String {
        try await Self.offCooperativeThreads { try self.psql(database, sql) }
    }

    /// Stops the server and removes its files (for a cluster made with `init()`; the shared
    /// one is destroyed when the process exits).
    public func destroy() {
        try? run("pg_ctl", ["-D", dataDirectory, "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Stops the shared cluster when the test process exits.
private enum ClusterCleanup {
    nonisolated(unsafe) private static var cluster: PostgresCluster?

    static func register(_ cluster: PostgresCluster) {
        Self.cluster = cluster
        atexit {
            ClusterCleanup.cluster?.destroy()
        }
    }
}

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The chat-server the bench starts for itself (`--start-server`): certificates made by the
/// repository's `scripts/gen-certs.sh` into a temporary folder, a temporary data
/// directory (or the store given with `--server-store`), port 0, and the open-file limit
/// the bench raised (children inherit it). With `--nodes`, that many processes on the one
/// PostgreSQL database, each its own node (`--node-id bench-N`) on its own port, sharing
/// the certificates. Stopped with SIGTERM, as an operator would.
final class ManagedServer {
    /// The server's own options the bench chose, for the notes.
    struct Settings: Sendable {
        var host = "127.0.0.1"
        var scryptLogN = 10
        /// The server's `--event-loops`; nil leaves its default.
        var eventLoops: Int?
        /// The server's `--store`, handed over as `CHAT_STORE` (it may hold a password); nil
        /// is a temporary GDBM data directory.
        var store: String?
        /// Server processes to start on `store`, which must then be a PostgreSQL database.
        var nodes = 1

        /// The backend `store` names (the part before its first colon), fit for the notes:
        /// never the address, which may hold a password.
        var storeBackend: String {
            store.map { String($0.prefix { $0 != ":" }) } ?? "gdbm"
        }

        /// Whether `store` is a PostgreSQL database, which several nodes can share.
        var storeIsShared: Bool {
            ["postgres", "postgresql"].contains(storeBackend)
        }
        var inboxMaximumMessages = 1_000
        var inboxMaximumBytes = 1 << 20
        /// The largest file it takes (`files` needs its file to fit).
        var maximumFileBytes = 10 << 20
        /// The server's abuse limits, raised so they measure the server rather than the
        /// limits: one bench process opens thousands of connections from one address and
        /// sends thousands of messages per second per session.
        var messageRate = 1_000_000
        var messageBurst = 1_000_000
        var maximumConnections = 100_000
        var maximumConnectionsPerAddress = 100_000
    }

    /// One started process and where its output goes.
    private struct NodeProcess {
        let process: Process
        let logPath: String
    }

    let target: ServerUnderTest
    let binary: URL
    let settings: Settings
    private let nodes: [NodeProcess]
    private let workDirectory: URL

    private init(nodes: [NodeProcess], target: ServerUnderTest, binary: URL, settings: Settings, workDirectory: URL) {
        self.nodes = nodes
        self.target = target
        self.binary = binary
        self.settings = settings
        self.workDirectory = workDirectory
    }

    /// The node names the bench gives with `--node-id` when it starts several.
    static func nodeID(_ index: Int) -> String {
        "bench-\(index + 1)"
    }

    /// Where each process logs, one path per node.
    var logPaths: [String] { nodes.map(\.logPath) }

    /// Makes certificates, starts every node and waits for each one's "listening on" line.
    static func start(_ settings: Settings) async throws -> ManagedServer {
        let binary = BenchPaths.serverBinary
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw BenchError.server("no chat-server next to chat-bench (looked for \(binary.path)); build it first")
        }
        let repository = try BenchPaths.repositoryRoot()
        let work = FileManager.default.temporaryDirectory
            .appendingPathComponent("chat-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let certs = work.appendingPathComponent("certs")
        try makeCertificates(repository: repository, into: certs, log: work.appendingPathComponent("gen-certs.log"))

        var started: [(NodeProcess, stdout: URL)] = []
        do {
            for index in 0..<settings.nodes {
                started.append(try launch(index: index, settings: settings, binary: binary, certs: certs, work: work))
            }
            var targets: [ServerUnderTest.Node] = []
            for (node, stdout) in started {
                let port = try await waitForPort(process: node.process, stdout: stdout, stderr: node.logPath)
                targets.append(.init(host: settings.host, port: port, pid: node.process.processIdentifier))
            }
            let target = ServerUnderTest(
                nodes: targets, caFile: certs.appendingPathComponent("ca.pem").path, startedByBench: true,
                scryptLogN: settings.scryptLogN, inboxMaximumMessages: settings.inboxMaximumMessages)
            return ManagedServer(
                nodes: started.map(\.0), target: target, binary: binary, settings: settings, workDirectory: work)
        } catch {
            for (node, _) in started where node.process.isRunning {
                kill(node.process.processIdentifier, SIGKILL)
            }
            throw error
        }
    }

    /// Starts node `index` (of `settings.nodes`); returns it with the file its standard
    /// output goes to (where it says its port).
    private static func launch(
        index: Int, settings: Settings, binary: URL, certs: URL, work: URL
    ) throws -> (NodeProcess, stdout: URL) {
        let name = settings.nodes == 1 ? "server" : "server-\(index + 1)"
        let stdoutURL = work.appendingPathComponent("\(name).out")
        let stderrURL = work.appendingPathComponent("\(name).log")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        let process = Process()
        process.executableURL = binary
        var arguments: [String] = [
            "--host", settings.host, "--port", "0",
            "--cert", certs.appendingPathComponent("server.pem").path,
            "--key", certs.appendingPathComponent("server.key").path,
            "--scrypt-log-n", String(settings.scryptLogN),
            "--inbox-max-messages", String(settings.inboxMaximumMessages),
            "--inbox-max-bytes", String(settings.inboxMaximumBytes),
            "--max-file-bytes", String(settings.maximumFileBytes),
            "--inbox-max-file-bytes", String(max(50 << 20, settings.maximumFileBytes)),
            "--message-rate", String(settings.messageRate),
            "--message-burst", String(settings.messageBurst),
            "--max-connections", String(settings.maximumConnections),
            "--max-connections-per-address", String(settings.maximumConnectionsPerAddress),
        ]
        if let loops = settings.eventLoops { arguments += ["--event-loops", String(loops)] }
        if settings.nodes > 1 { arguments += ["--node-id", nodeID(index)] }
        var environment = ProcessInfo.processInfo.environment
        if let store = settings.store {
            environment["CHAT_STORE"] = store
        } else {
            environment["CHAT_STORE"] = nil
            arguments += ["--data-dir", work.appendingPathComponent("data").path]
        }
        process.environment = environment
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        try process.run()
        return (NodeProcess(process: process, logPath: stderrURL.path), stdoutURL)
    }

    /// SIGTERM to every node, then waits (up to 20 s, then SIGKILL); returns the first
    /// non-zero exit status, or 0. Removes the temporary folder unless `keepFiles`.
    @discardableResult
    func stop(keepFiles: Bool = false) async -> Int32 {
        for node in nodes where node.process.isRunning {
            kill(node.process.processIdentifier, SIGTERM)
        }
        let deadline = MonotonicClock.now() + 20_000_000_000
        while nodes.contains(where: { $0.process.isRunning }), MonotonicClock.now() < deadline {
            await MonotonicClock.sleep(seconds: 0.05)
        }
        var status: Int32 = 0
        for node in nodes {
            if node.process.isRunning {
                kill(node.process.processIdentifier, SIGKILL)
                node.process.waitUntilExit()
            }
            if status == 0 { status = node.process.terminationStatus }
        }
        if !keepFiles {
            try? FileManager.default.removeItem(at: workDirectory)
        }
        return status
    }

    /// The last lines each node logged, for error messages.
    func logTail(lines: Int = 20) -> String {
        nodes.map { node in
            let text = (try? String(contentsOfFile: node.logPath, encoding: .utf8)) ?? ""
            let tail = text.split(separator: "\n").suffix(lines).joined(separator: "\n")
            return nodes.count == 1 ? tail : "\(node.logPath):\n\(tail)"
        }.joined(separator: "\n")
    }

    private static func makeCertificates(repository: URL, into directory: URL, log: URL) throws {
        let script = repository.appendingPathComponent("scripts/gen-certs.sh")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script.path, "--out", directory.path]
        process.standardInput = FileHandle.nullDevice
        let output = try FileHandle(forWritingTo: log)
        process.standardOutput = output
        process.standardError = output
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            throw BenchError.server("scripts/gen-certs.sh failed (status \(process.terminationStatus)): \(text)")
        }
    }

    private static func waitForPort(process: Process, stdout: URL, stderr: String) async throws -> Int {
        let deadline = MonotonicClock.now() + 60_000_000_000
        while MonotonicClock.now() < deadline {
            let output = (try? String(contentsOf: stdout, encoding: .utf8)) ?? ""
            if let line = output.split(separator: "\n").first(where: { $0.hasPrefix("chat-server listening on ") }),
                let portText = line.split(separator: ":").last, let port = Int(portText)
            {
                return port
            }
            if !process.isRunning { break }
            await MonotonicClock.sleep(seconds: 0.05)
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        let errors = (try? String(contentsOfFile: stderr, encoding: .utf8)) ?? ""
        throw BenchError.server("chat-server did not start: \(errors.suffix(2_000))")
    }
}

@available(*, unavailable)
extension ManagedServer: Sendable {}

import Foundation

/// A real `chat-server` process on an ephemeral port with its own temporary data
/// directory; its output goes to files the test can read.
public final class ServerProcess: @unchecked Sendable {
    // @unchecked: `process` is only started in init and then only signalled/waited on,
    // which Foundation's Process allows from any thread.
    public let process: Process
    public let host: String
    public let port: Int
    public let workDirectory: TemporaryDirectory
    public let dataDirectory: String
    public let certificates: CertificateFixture
    public let stdoutPath: String
    public let stderrPath: String

    public var pid: Int32 { process.processIdentifier }

    /// Starts the server and waits for its "listening on" line.
    ///
    /// - Parameters:
    ///   - store: the server's `--store` instead of `--data-dir` (then `dataDirectory` is
    ///     unused); nil for a data directory.
    ///   - environment: variables added to the test process's environment for the server
    ///     (`CHAT_STORE`, say: then give `store` as "" to leave out `--data-dir` too).
    public init(
        certificates: CertificateFixture,
        host: String = "127.0.0.1",
        dataDirectory: String? = nil,
        store: String? = nil,
        environment: [String: String] = [:],
        arguments: [String] = [],
        workDirectory: TemporaryDirectory? = nil
    ) async throws {
        let work = try workDirectory ?? TemporaryDirectory(prefix: "server")
        self.workDirectory = work
        self.certificates = certificates
        self.host = host
        self.dataDirectory = dataDirectory ?? work.appending("data")
        self.stdoutPath = work.appending("server-\(UUID().uuidString.prefix(6)).out")
        self.stderrPath = stdoutPath.replacingOccurrences(of: ".out", with: ".err")
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: RepositoryPaths.binary("chat-server"))
        let storage: [String]
        switch store {
        case nil: storage = ["--data-dir", self.dataDirectory]
        case ""?: storage = []
        case let store?: storage = ["--store", store]
        }
        process.arguments = [
            "--host", host, "--port", "0",
            "--cert", certificates.certificateFile, "--key", certificates.privateKeyFile,
        ] + storage + arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process

        // Wait for the bound port (bounded: a server that cannot start exits and says why).
        var found: Int?
        for _ in 0..<600 {
            let output = (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? ""
            if let line = output.split(separator: "\n").first(where: { $0.contains("listening on") }),
                let portText = line.split(separator: ":").last, let port = Int(portText)
            {
                found = port
                break
            }
            if !process.isRunning { break }
            // Asleep, not blocking: the cooperative pool has one thread per core, and every
            // other test needs it too.
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        guard let found else {
            process.terminate()
            let errors = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
            throw FixtureError("chat-server did not start: \(errors)")
        }
        self.port = found
    }

    /// Everything the server has logged so far.
    public var logs: String {
        (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
    }

    /// Sends a signal (SIGTERM by default) and waits for the process to end.
    @discardableResult
    public func stop(signal: Int32 = SIGTERM) -> Int32 {
        if process.isRunning {
            kill(process.processIdentifier, signal)
        }
        // A clean stop takes a few seconds at most (the shutdown grace period); past 60 it
        // is killed, so a hung server fails its test instead of hanging the suite.
        return ChildExit.wait(for: process, timeout: 60)
    }

    /// Number of open file descriptors of the server process (from /proc/PID/fd).
    ///
    /// Counted with `readdir` directly, reading each name in place: Foundation's
    /// `contentsOfDirectory` copies the whole 256-byte `d_name` of every entry, which reads
    /// past the end of glibc's directory buffer when the last entry sits at its end (as it
    /// does with a thousand descriptors), and crashed the test process once.
    public func openFileDescriptors() throws -> Int {
        let path = "/proc/\(pid)/fd"
        guard let directory = opendir(path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        defer { closedir(directory) }
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        var count = 0
        while let entry = readdir(directory) {
            let name = UnsafeRawPointer(entry).advanced(by: nameOffset).assumingMemoryBound(to: CChar.self)
            let isDotEntry = name[0] == 0x2E && (name[1] == 0 || (name[1] == 0x2E && name[2] == 0))
            if !isDotEntry { count += 1 }
        }
        return count
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            _ = ChildExit.wait(for: process, timeout: 5)
        }
    }
}

import Foundation

/// A real `chat-client` process whose standard input the test writes line by line (a
/// pipe, so the client reads passwords as ordinary lines) and whose output goes to a file.
public final class ClientProcess: @unchecked Sendable {
    // @unchecked: the process and pipe are set up in init, then only written to, signalled
    // and waited on, which Foundation allows from any thread.
    public let process: Process
    private let stdin: Pipe
    private let outputPath: String
    private let scratch: TemporaryDirectory

    /// A client of the server at `host`:`port`. Its keys and history go to `stateDirectory`
    /// (`--state-dir`); by default to a directory of its own, so each process is a new
    /// device. Pass one path to several processes to run the same user's machine again.
    /// `arguments` come last (`--server`s, say).
    public init(
        port: Int, caFile: String, host: String = "127.0.0.1", environment: [String: String]? = nil,
        stateDirectory: String? = nil, arguments: [String] = []
    ) throws {
        scratch = try TemporaryDirectory(prefix: "client")
        outputPath = scratch.appending("output")
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        stdin = Pipe()
        process = Process()
        process.executableURL = URL(fileURLWithPath: RepositoryPaths.binary("chat-client"))
        process.arguments = [
            "--host", host, "--port", String(port), "--ca", caFile,
            "--state-dir", stateDirectory ?? scratch.appending("state"),
        ] + arguments
        if let environment { process.environment = environment }
        process.standardInput = stdin
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    /// Registers `name` (or, with `register` false, logs in as them) and waits for the
    /// "Chat with:" prompt; throws with what the client printed if it never comes.
    @discardableResult
    public func enter(as name: String, register: Bool, password: String = "password123") async throws -> ClientProcess {
        let lines = register ? ["R", name, password, password] : ["L", name, password]
        for line in lines { type(line) }
        guard await waitFor("Chat with:") else {
            throw FixtureError("\(name) did not reach the chat prompt:\n\(output)")
        }
        return self
    }

    /// Types one line.
    public func type(_ line: String) {
        stdin.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    /// Closes standard input (Ctrl-D in a pipe).
    public func closeInput() {
        try? stdin.fileHandleForWriting.close()
    }

    /// Everything the client printed so far (stdout and stderr together).
    public var output: String {
        (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    }

    /// Waits until the output contains `text` (the `occurrence`-th time); false on timeout.
    @discardableResult
    public func waitFor(_ text: String, occurrence: Int = 1, timeout: Double = 15) -> Bool {
        let deadline = Date().addingTimeInterval(TestTimeouts.scaled(timeout))
        while Date() < deadline {
            if output.components(separatedBy: text).count - 1 >= occurrence { return true }
            if !process.isRunning {
                return output.components(separatedBy: text).count - 1 >= occurrence
            }
            usleep(20_000)
        }
        return false
    }

    /// The same, for async tests: sleeps between polls instead of blocking one of the few
    /// cooperative threads, which other tests running in parallel need.
    @discardableResult
    public func waitFor(_ text: String, occurrence: Int = 1, timeout: Double = 15) async -> Bool {
        let deadline = Date().addingTimeInterval(TestTimeouts.scaled(timeout))
        while Date() < deadline {
            if output.components(separatedBy: text).count - 1 >= occurrence { return true }
            if !process.isRunning {
                return output.components(separatedBy: text).count - 1 >= occurrence
            }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        // One last look: a starved task may wake past the deadline with the text there.
        return output.components(separatedBy: text).count - 1 >= occurrence
    }

    /// Waits for the process to exit (killing it after `timeout`) and returns its status.
    public func waitForExit(timeout: Double = 40) -> Int32 {
        ChildExit.wait(for: process, timeout: timeout)
    }

    /// The same, for async tests (polls with sleeps; see `waitFor`).
    public func waitForExit(timeout: Double = 40) async -> Int32 {
        await ChildExit.wait(for: process, timeout: timeout)
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            _ = ChildExit.wait(for: process, timeout: 5)
        }
        scratch.remove()
    }
}

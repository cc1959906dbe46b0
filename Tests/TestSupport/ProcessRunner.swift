import Foundation

/// Runs a command to completion and captures its output (through files, so a chatty
/// command can never block on a full pipe).
public struct ProcessResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

public enum ProcessRunner {
    /// Runs `executable` with `arguments`, feeding `input` to its standard input.
    @discardableResult
    public static func run(
        _ executable: String,
        _ arguments: [String],
        input: String? = nil,
        environment: [String: String]? = nil,
        currentDirectory: String? = nil
    ) throws -> ProcessResult {
        let scratch = try TemporaryDirectory(prefix: "proc")
        defer { scratch.remove() }
        let outPath = scratch.appending("out")
        let errPath = scratch.appending("err")
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
        }
        try? stdin.fileHandleForWriting.close()
        let status = ChildExit.wait(for: process, timeout: 900)
        return ProcessResult(
            status: status,
            stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
    }

    /// The same, for async tests: the wait happens on a thread of its own, not on one of
    /// the few cooperative threads that the suite's parallel tests share (a bench smoke
    /// run holding one for seconds starves other tests' clients into their timeouts).
    @discardableResult
    public static func run(
        _ executable: String,
        _ arguments: [String],
        input: String? = nil,
        environment: [String: String]? = nil,
        currentDirectory: String? = nil
    ) async throws -> ProcessResult {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(
                    with: Result {
                        try run(
                            executable, arguments, input: input, environment: environment,
                            currentDirectory: currentDirectory) as ProcessResult
                    })
            }
        }
    }
}

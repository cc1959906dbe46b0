import Foundation

/// Where the bench finds what it starts: `chat-server` next to its own executable, and
/// the repository (for `scripts/gen-certs.sh`) above it.
enum BenchPaths {
    /// The running chat-bench executable, symlinks resolved.
    static var executable: URL {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: path).resolvingSymlinksInPath()
    }

    /// `chat-server` in the bench's own folder (the same build, debug or release).
    static var serverBinary: URL {
        executable.deletingLastPathComponent().appendingPathComponent("chat-server")
    }

    /// The repository root: the first folder above the executable holding Package.swift.
    static func repositoryRoot() throws -> URL {
        var url = executable
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
                return url
            }
        }
        throw BenchError.server(
            "no Package.swift above \(executable.path); --start-server needs chat-bench inside the repository's build folder")
    }

    /// "release" or "debug", judged by the build folder the executable sits in.
    static var buildConfiguration: String {
        let parts = executable.pathComponents
        if parts.contains("release") { return "release" }
        if parts.contains("debug") { return "debug" }
        return "unknown"
    }
}

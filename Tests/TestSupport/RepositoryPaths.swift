import Foundation

/// Where the repository and the built binaries are, seen from a running test.
public enum RepositoryPaths {
    /// The repository root (the folder holding Package.swift).
    public static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
                return url
            }
        }
        fatalError("Package.swift not found above \(#filePath)")
    }()

    /// The folder `swift build` put the executables in: the test runner's own folder.
    public static let products: URL = {
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        // On Linux the runner is `.build/debug/<package>PackageTests.xctest`, beside the
        // executables it tests.
        return runner.deletingLastPathComponent()
    }()

    /// The path of a built executable such as `chat-server`.
    public static func binary(_ name: String) -> String {
        let candidates = [
            products.appendingPathComponent(name),
            root.appendingPathComponent(".build/debug/\(name)"),
        ]
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate.path) {
            return candidate.path
        }
        return candidates[0].path
    }

    /// A script under `scripts/`.
    public static func script(_ name: String) -> String {
        root.appendingPathComponent("scripts").appendingPathComponent(name).path
    }
}

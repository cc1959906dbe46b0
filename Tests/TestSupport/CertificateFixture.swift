import Foundation
import Shared

/// Certificates made by the project's own `scripts/gen-certs.sh`, as a user would make them.
public struct CertificateFixture: Sendable {
    public let directory: TemporaryDirectory
    public var caFile: String { directory.appending("ca.pem") }
    public var caKeyFile: String { directory.appending("ca.key") }
    public var certificateFile: String { directory.appending("server.pem") }
    public var privateKeyFile: String { directory.appending("server.key") }

    /// Runs gen-certs.sh into a new temporary directory.
    public static func make(extraNames: [String] = []) throws -> CertificateFixture {
        let directory = try TemporaryDirectory(prefix: "certs")
        let result = try ProcessRunner.run(
            "/bin/bash", [RepositoryPaths.script("gen-certs.sh"), "--force", "--out", directory.path] + extraNames)
        guard result.status == 0 else {
            throw FixtureError("gen-certs.sh failed (\(result.status)): \(result.stderr)")
        }
        return CertificateFixture(directory: directory)
    }

    private static let cached = Locked<CertificateFixture?>(nil)

    /// One set shared by every test in the process (making certificates costs a second).
    public static func shared() throws -> CertificateFixture {
        try cached.withLock { cached in
            if let cached { return cached }
            let fixture = try make()
            cached = fixture
            return fixture
        }
    }
}

/// A test fixture could not be prepared.
public struct FixtureError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

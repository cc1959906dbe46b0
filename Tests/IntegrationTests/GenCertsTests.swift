import Foundation
import Testing
import TestSupport

@Suite("scripts/gen-certs.sh")
struct GenCertsTests {
    @Test("makes a CA and a server certificate with the right SANs and modes, and refuses to overwrite")
    func generates() async throws {
        let directory = try TemporaryDirectory(prefix: "gencerts")
        defer { directory.remove() }
        let script = RepositoryPaths.script("gen-certs.sh")
        let first = try await ProcessRunner.run("/bin/bash", [script, "--out", directory.path, "chat.example.org", "10.1.2.3"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("ca.pem"))

        for (file, mode) in [("ca.pem", 0o644), ("server.pem", 0o644), ("ca.key", 0o600), ("server.key", 0o600)] {
            let attributes = try FileManager.default.attributesOfItem(atPath: directory.appending(file))
            let permissions = (attributes[.posixPermissions] as? NSNumber)?.intValue
            #expect(permissions == mode, "\(file) has mode \(String(permissions ?? -1, radix: 8))")
        }

        let san = try await ProcessRunner.run(
            "/usr/bin/openssl", ["x509", "-noout", "-ext", "subjectAltName", "-in", directory.appending("server.pem")])
        for entry in ["DNS:localhost", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1", "DNS:chat.example.org",
                      "IP Address:10.1.2.3"] {
            #expect(san.stdout.contains(entry), "missing \(entry) in \(san.stdout)")
        }
        let key = try await ProcessRunner.run(
            "/usr/bin/openssl", ["x509", "-noout", "-text", "-in", directory.appending("server.pem")])
        #expect(key.stdout.contains("prime256v1") || key.stdout.contains("P-256"))
        let verify = try await ProcessRunner.run(
            "/usr/bin/openssl",
            ["verify", "-CAfile", directory.appending("ca.pem"), directory.appending("server.pem")])
        #expect(verify.status == 0)

        let before = try String(contentsOfFile: directory.appending("server.pem"), encoding: .utf8)
        let second = try await ProcessRunner.run("/bin/bash", [script, "--out", directory.path])
        #expect(second.status != 0)
        #expect(second.stderr.contains("--force"), "\(second.stderr)")
        #expect(try String(contentsOfFile: directory.appending("server.pem"), encoding: .utf8) == before)

        let forced = try await ProcessRunner.run("/bin/bash", [script, "--force", "--out", directory.path])
        #expect(forced.status == 0)
        #expect(try String(contentsOfFile: directory.appending("server.pem"), encoding: .utf8) != before)
    }
}

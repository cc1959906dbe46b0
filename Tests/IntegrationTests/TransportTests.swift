import Foundation
import NIOCore
import NIOPosix
import Shared
import Testing
import TestSupport

/// The TLS foundation against a real `chat-server` process on an ephemeral port.
@Suite("TLS transport against a real chat-server")
struct TransportTests {
    /// Dials the server and returns the handshake, closing the connection again.
    private func handshake(host: String, port: Int, caFile: String) async throws -> TLSHandshakeCompleted {
        let context = try TLSContext.client(caFile: caFile)
        let (channel, info) = try await TLSClientConnector.connect(host: host, port: port, context: context) { $0 }
        try await channel.close()
        return info
    }

    @Test("the right CA connects over TLS 1.3")
    func rightCAConnects() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        for host in ["127.0.0.1", "localhost"] {
            let info = try await handshake(host: host, port: server.port, caFile: certificates.caFile)
            #expect(info.protocolVersion == "TLSv1.3")
        }
    }

    @Test("a CA from another gen-certs run is refused with a clear error")
    func foreignCARefused() async throws {
        let server = try await ServerProcess(certificates: try CertificateFixture.shared())
        defer { server.stop() }
        let other = try CertificateFixture.make()
        defer { other.directory.remove() }
        do {
            _ = try await handshake(host: "127.0.0.1", port: server.port, caFile: other.caFile)
            Issue.record("handshake with a foreign CA must fail")
        } catch let error as TLSError {
            guard case .untrusted(let caFile, _) = error else {
                Issue.record("expected .untrusted, got \(error)")
                return
            }
            #expect(caFile == other.caFile)
            #expect("\(error)".contains("not trusted by \(other.caFile)"))
        }
    }

    @Test("a certificate for another address is refused, naming what it is for")
    func otherHostRefused() async throws {
        // 127.0.0.2 is loopback too, but not in the certificate (localhost, 127.0.0.1, ::1).
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates, host: "127.0.0.2")
        defer { server.stop() }
        do {
            _ = try await handshake(host: "127.0.0.2", port: server.port, caFile: certificates.caFile)
            Issue.record("handshake to an address missing from the certificate must fail")
        } catch let error as TLSError {
            #expect("\(error)" == "server certificate is for localhost, 127.0.0.1, 0:0:0:0:0:0:0:1, not 127.0.0.2")
        }
    }

    @Test("openssl s_client: TLS 1.1 is refused by the server, TLS 1.3 connects with an AEAD suite")
    func opensslClients() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let target = "127.0.0.1:\(server.port)"

        // SECLEVEL=0 so the client really offers TLS 1.1 and it is the server that says no.
        let old = try await ProcessRunner.run(
            "/usr/bin/openssl",
            ["s_client", "-connect", target, "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"], input: "")
        #expect(old.status != 0)
        #expect(!old.stdout.contains("Cipher is ECDHE"), "no TLS 1.1 session may be set up")
        #expect(await waitUntil { server.logs.contains("unsupported protocol") }, "server logs: \(server.logs)")

        let modern = try await ProcessRunner.run(
            "/usr/bin/openssl",
            ["s_client", "-connect", target, "-tls1_3", "-CAfile", certificates.caFile, "-verify_return_error"],
            input: "")
        #expect(modern.stdout.contains("New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384")
            || modern.stdout.contains("New, TLSv1.3, Cipher is TLS_CHACHA20_POLY1305_SHA256")
            || modern.stdout.contains("New, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256"), "\(modern.stdout)")
        #expect(modern.stdout.contains("Verify return code: 0 (ok)"))

        // TLS 1.2 is allowed, but only with ECDHE and an AEAD cipher.
        let legacy = try await ProcessRunner.run(
            "/usr/bin/openssl",
            ["s_client", "-connect", target, "-tls1_2", "-cipher", "AES128-SHA:ECDHE-ECDSA-AES128-SHA", "-CAfile",
             certificates.caFile], input: "")
        #expect(legacy.status != 0, "CBC suites must be refused on TLS 1.2: \(legacy.stdout)")
        let good12 = try await ProcessRunner.run(
            "/usr/bin/openssl",
            ["s_client", "-connect", target, "-tls1_2", "-CAfile", certificates.caFile, "-verify_return_error"],
            input: "")
        #expect(good12.stdout.contains("Cipher is ECDHE-ECDSA-AES"), "\(good12.stdout)")
    }

    @Test("garbage and plain HTTP are closed; the server goes on serving others")
    func garbageAndHTTP() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let payloads: [[UInt8]] = [
            Array("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8),
            (0..<512).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) },
            [0x16, 0x03, 0x01, 0xff, 0xff] + [UInt8](repeating: 0x41, count: 100),
        ]
        for payload in payloads {
            let raw = try RawTCPClient(port: server.port)
            try raw.send(payload)
            let answer = raw.readUntilClosed()
            #expect(answer.end == .closed, "the server must close a connection that does not speak TLS")
            let info = try await handshake(host: "127.0.0.1", port: server.port, caFile: certificates.caFile)
            #expect(info.protocolVersion == "TLSv1.3")
        }
    }

    @Test("a connection that never starts its handshake is closed after the handshake timeout")
    func handshakeTimeout() async throws {
        let server = try await ServerProcess(
            certificates: try CertificateFixture.shared(), arguments: ["--handshake-timeout", "1"])
        defer { server.stop() }
        let raw = try RawTCPClient(port: server.port, receiveTimeout: 20)
        let answer = raw.readUntilClosed()
        #expect(answer.end == .closed)
        #expect(server.logs.contains("TLS handshake timed out"))
    }

    @Test("1,000 connect/handshake/close cycles leave the server's descriptor count where it was")
    func noDescriptorLeak() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let context = try TLSContext.client(caFile: certificates.caFile)
        func cycle() async throws {
            let (channel, _) = try await TLSClientConnector.connect(
                host: "127.0.0.1", port: server.port, context: context) { $0 }
            try await channel.close()
        }
        for _ in 0..<20 { try await cycle() }
        #expect(try await waitUntil { try server.openFileDescriptors() < 64 })
        let before = try server.openFileDescriptors()
        for _ in 0..<1_000 { try await cycle() }
        // The server closes its side once our close_notify arrives; give it a moment.
        let settled = try await waitUntil(seconds: 20) { try server.openFileDescriptors() <= before }
        let after = try server.openFileDescriptors()
        #expect(settled, "descriptors grew from \(before) to \(after)")
    }

    @Test("a connection whose configure step throws is closed, not left open")
    func configureFailureCloses() async throws {
        struct Refused: Error {}
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let context = try TLSContext.client(caFile: certificates.caFile)
        #expect(try await waitUntil { try server.openFileDescriptors() < 64 })
        let before = try server.openFileDescriptors()
        for _ in 0..<100 {
            await #expect(throws: Refused.self) {
                _ = try await TLSClientConnector.connect(host: "127.0.0.1", port: server.port, context: context) {
                    (_: Channel) throws -> Int in throw Refused()
                }
            }
        }
        // Left open, each would hold a server descriptor until the 60 s login timeout.
        let settled = try await waitUntil(seconds: 20) { try server.openFileDescriptors() <= before }
        let after = try server.openFileDescriptors()
        #expect(settled, "descriptors grew from \(before) to \(after)")
    }

    @Test("start-up fails before listening, naming the bad file")
    func startupErrors() async throws {
        let certificates = try CertificateFixture.shared()
        let other = try CertificateFixture.make()
        defer { other.directory.remove() }
        let server = RepositoryPaths.binary("chat-server")
        let missing = try await ProcessRunner.run(
            server, ["--port", "0", "--cert", "/nonexistent/server.pem", "--key", certificates.privateKeyFile])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("cannot load certificate /nonexistent/server.pem: no such file"))
        #expect(!missing.stdout.contains("listening"))

        let mismatch = try await ProcessRunner.run(
            server, ["--port", "0", "--cert", certificates.certificateFile, "--key", other.privateKeyFile])
        #expect(mismatch.status != 0)
        #expect(mismatch.stderr.contains("does not match certificate"), "\(mismatch.stderr)")

        let notPEM = try await ProcessRunner.run(
            server, ["--port", "0", "--cert", certificates.certificateFile, "--key", certificates.caFile])
        #expect(notPEM.status != 0)
        #expect(notPEM.stderr.contains("cannot load private key \(certificates.caFile)"), "\(notPEM.stderr)")
    }
}

/// Polls `condition` every 50 ms for up to `seconds`; true as soon as it holds. It sleeps
/// between polls rather than blocking: the suite runs in parallel on as few cooperative
/// threads as there are cores, and a test blocking one for seconds starves other tests'
/// clients into their timeouts.
func waitUntil(seconds: Double = 10, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(TestTimeouts.scaled(seconds))
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(nanoseconds: 50_000_000)
    }
    return try await condition()
}

import Foundation
import Testing
import TestSupport

/// A connection the server closes on an error stops being read at once: a client that
/// keeps sending is cut off after a bounded amount, and its partner hears of it at once.
@Suite("Closing on an error")
struct ClosingTests {
    @Test("after frame_too_large the server reads no more than a bounded amount, and tells the partner at once")
    func floodAfterOversize() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let alice = try await LineClient.loggedIn("alice", port: server.port, caFile: certificates.caFile, register: true)
        let bob = try await LineClient.loggedIn("bob", port: server.port, caFile: certificates.caFile, register: true)
        try await alice.chat(with: "bob")
        try await bob.chat(with: "alice")

        // bob never reads again (so he never sees, nor answers, the server's close_notify)
        // and floods after an oversize line.
        try await bob.stopReading()
        try await bob.sendBytes(Array(repeating: UInt8(ascii: "x"), count: 70_000))
        let chunk = Array(repeating: UInt8(ascii: "y"), count: 256 * 1024)
        var written = 0
        let limit = 256 * 1024 * 1024
        while written < limit {
            do {
                try await bob.sendBytes(chunk)
                written += chunk.count
            } catch {
                break
            }
        }
        #expect(written < 32 * 1024 * 1024, "the server kept reading: \(written) bytes accepted after the error")

        var notice: String?
        while let frame = try await alice.receiveJSON() {
            if frame["type"] as? String == "notice", frame["code"] as? String == "partner_disconnected" {
                notice = frame["message"] as? String
                break
            }
        }
        #expect(notice == "bob disconnected")
        await alice.close()
        await bob.close()
    }
}

import Foundation
import Testing
import TestSupport

/// The file frames against a real server over TLS, with real storage: uploads resumed
/// where the server stopped, limits, downloads only for the recipient, outcomes told to
/// the sender (live, and at the next login), and expiry.
@Suite("File transfer protocol")
struct FileProtocolTests {
    static let fileID = String(repeating: "ab", count: 16)
    static let otherID = String(repeating: "cd", count: 16)

    /// Chunk text as a client would send it (the server treats it as opaque base64).
    static func chunk(_ index: Int) -> String {
        Data((0..<3_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index) }).base64EncodedString()
    }

    private func upload(_ client: LineClient, id: Int, file: String = fileID, to: String = "bob", size: Int) async throws -> [String: Any] {
        let chunks = max(1, (size + 32_767) / 32_768)
        try await client.send(#"{"type":"upload","id":\#(id),"file":"\#(file)","to":"\#(to)","size":\#(size),"chunks":\#(chunks)}"#)
        return try await client.reply(to: id)
    }

    private func sendChunk(_ client: LineClient, id: Int, file: String = fileID, index: Int) async throws -> [String: Any] {
        try await client.send(#"{"type":"chunk","id":\#(id),"file":"\#(file)","index":\#(index),"data":"\#(Self.chunk(index))"}"#)
        return try await client.reply(to: id)
    }

    @Test("an upload resumes where the server stopped, across a kill -9; the recipient streams it; the sender learns it arrived")
    func uploadResumeDownload() async throws {
        let certificates = try CertificateFixture.shared()
        let work = try TemporaryDirectory(prefix: "files")
        defer { work.remove() }
        let data = work.appending("data")
        let first = try await ServerProcess(certificates: certificates, dataDirectory: data)
        let alice = try await LineClient.loggedIn("alice", port: first.port, caFile: certificates.caFile, register: true)
        try await LineClient.loggedIn("bob", port: first.port, caFile: certificates.caFile, register: true).close()

        // Five chunks; three stored, then the server dies.
        let size = 4 * 32_768 + 100
        var answer = try await upload(alice, id: 10, size: size)
        #expect(answer["type"] as? String == "upload" && answer["stored"] as? Int == 0, "\(answer)")
        for index in 0..<3 {
            answer = try await sendChunk(alice, id: 11 + index, index: index)
            #expect(answer["type"] as? String == "ok", "\(answer)")
        }
        answer = try await sendChunk(alice, id: 20, index: 4)
        #expect(answer["code"] as? String == "chunk_out_of_order", "\(answer)")
        #expect((answer["message"] as? String ?? "").contains("expected chunk 3"), "\(answer)")
        await alice.close()
        first.stop(signal: SIGKILL)

        let second = try await ServerProcess(certificates: certificates, dataDirectory: data)
        defer { second.stop() }
        let again = try await LineClient.loggedIn("alice", port: second.port, caFile: certificates.caFile, register: false)
        answer = try await upload(again, id: 30, size: size)
        #expect(answer["stored"] as? Int == 3, "the upload goes on after the three chunks acknowledged: \(answer)")
        answer = try await sendChunk(again, id: 31, index: 2)
        #expect(answer["type"] as? String == "ok", "a chunk sent again is taken once: \(answer)")
        for index in 3..<5 {
            answer = try await sendChunk(again, id: 32 + index, index: index)
            #expect(answer["type"] as? String == "ok", "\(answer)")
        }

        // Only the recipient may fetch it.
        try await again.send(#"{"type":"download","id":40,"file":"\#(Self.fileID)","from":0,"count":16}"#)
        answer = try await again.reply(to: 40)
        #expect(answer["code"] as? String == "unknown_file", "\(answer)")

        let bob = try await LineClient.loggedIn("bob", port: second.port, caFile: certificates.caFile, register: false)
        try await bob.send(#"{"type":"download","id":50,"file":"\#(Self.fileID)","from":1,"count":3}"#)
        var indices: [Int] = []
        while let frame = try await bob.receiveJSON() {
            if frame["type"] as? String == "chunk" {
                let index = frame["index"] as? Int ?? -1
                indices.append(index)
                #expect(frame["data"] as? String == Self.chunk(index), "chunk \(index) comes back as it was sent")
            }
            if frame["id"] as? Int == 50 {
                #expect(frame["type"] as? String == "ok", "\(frame)")
                break
            }
        }
        #expect(indices == [1, 2, 3])
        try await bob.send(#"{"type":"download","id":51,"file":"\#(Self.fileID)","from":0,"count":17}"#)
        answer = try await bob.reply(to: 51)
        #expect(answer["code"] as? String == "invalid_field", "at most 16 chunks a request: \(answer)")

        try await bob.send(#"{"type":"file_done","id":52,"file":"\#(Self.fileID)","outcome":"received"}"#)
        answer = try await bob.reply(to: 52)
        #expect(answer["type"] as? String == "ok", "\(answer)")
        var outcome: [String: Any]?
        while let frame = try await again.receiveJSON() {
            if frame["type"] as? String == "file_outcome" { outcome = frame; break }
        }
        #expect(outcome?["file"] as? String == Self.fileID)
        #expect(outcome?["outcome"] as? String == "delivered" && outcome?["username"] as? String == "bob", "\(outcome ?? [:])")
        // Gone from the server: no more chunks, no second outcome.
        try await bob.send(#"{"type":"download","id":53,"file":"\#(Self.fileID)","from":0,"count":1}"#)
        answer = try await bob.reply(to: 53)
        #expect(answer["code"] as? String == "unknown_file", "\(answer)")
        await again.close()

        // Not acknowledged with file_forget: said again at the next login, until it is.
        let later = try await LineClient.loggedIn("alice", port: second.port, caFile: certificates.caFile, register: false)
        var repeated = false
        while let frame = try await later.receiveJSON(timeout: 5) {
            if frame["type"] as? String == "file_outcome", frame["file"] as? String == Self.fileID { repeated = true; break }
        }
        #expect(repeated, "the outcome is said again at login until acknowledged")
        try await later.send(#"{"type":"file_forget","id":60,"file":"\#(Self.fileID)"}"#)
        answer = try await later.reply(to: 60)
        #expect(answer["type"] as? String == "ok", "\(answer)")
        await later.close()
        let last = try await LineClient.loggedIn("alice", port: second.port, caFile: certificates.caFile, register: false)
        try await last.send(#"{"type":"ping","id":70}"#)
        var sawOutcome = false
        while let frame = try await last.receiveJSON() {
            if frame["type"] as? String == "file_outcome" { sawOutcome = true }
            if frame["id"] as? Int == 70 { break }
        }
        #expect(!sawOutcome, "a forgotten outcome is not said again")
        await last.close()
        await bob.close()
    }

    @Test("limits: a file past the per-file limit, a recipient's file space full, an unknown user, a bad id")
    func limits() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(
            certificates: certificates, arguments: ["--max-file-bytes", "100000", "--inbox-max-file-bytes", "150000"])
        defer { server.stop() }
        let alice = try await LineClient.loggedIn("alice", port: server.port, caFile: certificates.caFile, register: true)
        try await LineClient.loggedIn("bob", port: server.port, caFile: certificates.caFile, register: true).close()

        var answer = try await upload(alice, id: 1, size: 100_001)
        #expect(answer["code"] as? String == "file_too_large", "\(answer)")
        answer = try await upload(alice, id: 2, size: 100_000)
        #expect(answer["type"] as? String == "upload", "\(answer)")
        answer = try await upload(alice, id: 3, file: Self.otherID, size: 60_000)
        #expect(answer["code"] as? String == "files_full", "\(answer)")
        #expect((answer["message"] as? String ?? "").contains("bob"), "\(answer)")
        answer = try await upload(alice, id: 4, file: Self.otherID, to: "nobody", size: 10)
        #expect(answer["code"] as? String == "unknown_user", "\(answer)")
        answer = try await upload(alice, id: 5, file: "../../etc/passwd", size: 10)
        #expect(answer["code"] as? String == "invalid_field", "\(answer)")
        try await alice.send(#"{"type":"upload","id":6,"file":"\#(Self.otherID)","to":"bob","size":10,"chunks":2}"#)
        answer = try await alice.reply(to: 6)
        #expect(answer["code"] as? String == "invalid_field", "the chunk count must fit the size: \(answer)")
        let oversize = String(repeating: "A", count: 43_732)
        try await alice.send(#"{"type":"chunk","id":7,"file":"\#(Self.fileID)","index":0,"data":"\#(oversize)"}"#)
        answer = try await alice.reply(to: 7)
        #expect(answer["code"] as? String == "invalid_field", "\(answer)")
        // Rejecting frees bob's room.
        let bob = try await LineClient.loggedIn("bob", port: server.port, caFile: certificates.caFile, register: false)
        try await bob.send(#"{"type":"file_done","id":8,"file":"\#(Self.fileID)","outcome":"rejected"}"#)
        #expect(try await bob.reply(to: 8)["type"] as? String == "ok")
        var outcome: [String: Any]?
        while let frame = try await alice.receiveJSON() {
            if frame["type"] as? String == "file_outcome" { outcome = frame; break }
        }
        #expect(outcome?["outcome"] as? String == "rejected", "\(outcome ?? [:])")
        answer = try await upload(alice, id: 9, file: Self.otherID, size: 60_000)
        #expect(answer["type"] as? String == "upload", "\(answer)")
        await alice.close()
        await bob.close()
    }

    @Test("a file nobody fetches expires: deleted, and its sender told")
    func expiry() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates, arguments: ["--message-expiry", "2s"])
        defer { server.stop() }
        let alice = try await LineClient.loggedIn("alice", port: server.port, caFile: certificates.caFile, register: true)
        try await LineClient.loggedIn("bob", port: server.port, caFile: certificates.caFile, register: true).close()
        #expect(try await upload(alice, id: 1, size: 10)["type"] as? String == "upload")
        #expect(try await sendChunk(alice, id: 2, index: 0)["type"] as? String == "ok")
        var outcome: [String: Any]?
        while let frame = try await alice.receiveJSON(timeout: 20) {
            if frame["type"] as? String == "file_outcome" { outcome = frame; break }
        }
        #expect(outcome?["outcome"] as? String == "expired", "\(outcome ?? [:])")
        let bob = try await LineClient.loggedIn("bob", port: server.port, caFile: certificates.caFile, register: false)
        try await bob.send(#"{"type":"download","id":3,"file":"\#(Self.fileID)","from":0,"count":1}"#)
        #expect(try await bob.reply(to: 3)["code"] as? String == "unknown_file")
        await alice.close()
        await bob.close()
    }
}

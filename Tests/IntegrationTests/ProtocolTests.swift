import Foundation
import Testing
import TestSupport

/// The wire protocol's rules, driven frame by frame over real TLS.
@Suite("Wire protocol against a real chat-server")
struct ProtocolTests {
    @Test("hello first; a version mismatch is answered and closed")
    func helloRules() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }

        let early = try await LineClient.connect(port: server.port, caFile: certificates.caFile)
        try await early.send(#"{"type":"ping","id":7}"#)
        let refused = try await early.receiveJSON()
        #expect(refused?["code"] as? String == "hello_required")
        #expect(refused?["id"] as? Int == 7)
        await early.close()

        let future = try await LineClient.connect(port: server.port, caFile: certificates.caFile)
        try await future.send(#"{"type":"hello","version":99,"agent":"from-the-future"}"#)
        let hello = try await future.receiveJSON()
        #expect(hello?["type"] as? String == "hello")
        #expect(hello?["version"] as? Int == 2)
        let mismatch = try await future.receiveJSON()
        #expect(mismatch?["code"] as? String == "version_mismatch")
        #expect(try await future.receive() == nil, "the server closes after a version mismatch")

        // Version 1 clients are answered the same way: the server speaks version 2 only.
        let old = try await LineClient.connect(port: server.port, caFile: certificates.caFile)
        try await old.send(#"{"type":"hello","version":1,"agent":"chat-client/0.1.0"}"#)
        #expect(try await old.receiveJSON()?["version"] as? Int == 2)
        #expect(try await old.receiveJSON()?["code"] as? String == "version_mismatch")
        #expect(try await old.receive() == nil)
    }

    @Test("bad UTF-8, bad JSON, unknown types and missing fields are answered and the session goes on")
    func badFramesAnswered() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let client = try await LineClient.connectAndGreet(port: server.port, caFile: certificates.caFile)

        try await client.sendBytes([0x7b, 0xff, 0xfe, 0x7d])
        #expect(try await client.receiveJSON()?["code"] as? String == "invalid_utf8")
        try await client.send("{not json")
        #expect(try await client.receiveJSON()?["code"] as? String == "invalid_json")
        try await client.send(#"{"type":"teleport","id":3}"#)
        let unknown = try await client.receiveJSON()
        #expect(unknown?["code"] as? String == "unknown_type")
        #expect(unknown?["id"] as? Int == 3)
        try await client.send(#"{"type":"login","id":4,"username":"x"}"#)
        let missing = try await client.receiveJSON()
        #expect(missing?["code"] as? String == "missing_field")
        #expect((missing?["message"] as? String)?.contains("password") == true)
        #expect(missing?["id"] as? Int == 4)

        // Four bad frames so far; a good one resets the count.
        try await client.send(#"{"type":"ping","id":5}"#)
        let pong = try await client.receiveJSON()
        #expect(pong?["type"] as? String == "ok")
        #expect(pong?["id"] as? Int == 5)
        #expect(!client.isClosed)
    }

    @Test("five bad frames in a row close the session")
    func tooManyErrors() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let client = try await LineClient.connectAndGreet(port: server.port, caFile: certificates.caFile)
        for _ in 0..<5 { try await client.send("garbage") }
        var codes: [String] = []
        while let frame = try await client.receiveJSON() {
            codes.append(frame["code"] as? String ?? "?")
        }
        #expect(codes == ["invalid_json", "invalid_json", "invalid_json", "invalid_json", "invalid_json", "too_many_errors"])
    }

    @Test("an oversize line gets frame_too_large and the connection is closed")
    func oversizeLine() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates, arguments: ["--max-frame", "1024"])
        defer { server.stop() }
        let client = try await LineClient.connectAndGreet(port: server.port, caFile: certificates.caFile)
        let exactly = #"{"type":"ping","id":1,"pad":""# + String(repeating: "a", count: 1024 - 31) + #""}"#
        #expect(exactly.utf8.count == 1024)
        try await client.send(exactly)
        #expect(try await client.receiveJSON()?["type"] as? String == "ok", "a frame of exactly the maximum is fine")

        try await client.send(String(repeating: "x", count: 5000))
        let error = try await client.receiveJSON()
        #expect(error?["code"] as? String == "frame_too_large")
        #expect(try await client.receive() == nil)

        // The server goes on serving others.
        let other = try await LineClient.connectAndGreet(port: server.port, caFile: certificates.caFile)
        try await other.send(#"{"type":"ping","id":2}"#)
        #expect(try await other.receiveJSON()?["type"] as? String == "ok")
    }

    @Test("requests in one burst are answered in order, even while the KDF runs")
    func pipelinedRequests() async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates)
        defer { server.stop() }
        let client = try await LineClient.connectAndGreet(port: server.port, caFile: certificates.caFile)
        try await client.send(#"{"type":"register","id":1,"username":"gina","password":"password123"}"#)
        try await client.send(#"{"type":"ping","id":2}"#)
        try await client.send(#"{"type":"login","id":3,"username":"gina","password":"password123"}"#)
        try await client.send(#"{"type":"logout","id":4}"#)
        try await client.send(#"{"type":"logout","id":5}"#)
        var answers: [String] = []
        while answers.count < 5 {
            let frame = try await client.receiveJSON()
            // The inbox summary that follows the login is unsolicited and may come anywhere.
            if frame?["type"] as? String == "inbox", frame?["id"] == nil { continue }
            answers.append("\(frame?["id"] as? Int ?? 0):\(frame?["type"] as? String ?? "?"):\(frame?["code"] as? String ?? "")")
        }
        #expect(answers == ["1:ok:", "2:ok:", "3:ok:", "4:ok:", "5:error:not_logged_in"])
    }
}

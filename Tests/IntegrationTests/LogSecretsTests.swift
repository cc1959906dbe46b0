import Foundation
import Shared
import Testing
import TestSupport

/// No password and no message body in the server's logs at any level, whatever path the
/// secret took: good and bad logins, registration refusals, frames that fail to decode
/// with the secret inside, live and stored messages, a drop mid-session.
@Suite("Secrets stay out of the logs")
struct LogSecretsTests {
    static let password = "Pa55-zebra-quartz-91"
    static let wrongPassword = "Wr0ng-otter-lamp-37"
    static let liveBody = "live-secret-body-5521"
    static let storedBody = "stored-secret-body-7734"

    @Test("at trace and at info level, every secret-carrying path leaves no password and no body in the logs", arguments: ["trace", "info"])
    func secretsAtEveryLevel(level: String) async throws {
        let certificates = try CertificateFixture.shared()
        let server = try await ServerProcess(certificates: certificates, arguments: ["--log-level", level])
        defer { server.stop() }
        let port = server.port
        let ca = certificates.caFile
        let password = Self.password

        let alice = try await LineClient.connectAndGreet(port: port, caFile: ca)
        try await alice.send(#"{"type":"register","id":1,"username":"alice","password":"\#(password)"}"#)
        #expect(try await alice.reply(to: 1)["type"] as? String == "ok")
        // Refused registrations: a taken name, a too-short password (echoed nowhere).
        try await alice.send(#"{"type":"register","id":2,"username":"alice","password":"\#(password)"}"#)
        #expect(try await alice.reply(to: 2)["type"] as? String == "error")
        try await alice.send(#"{"type":"register","id":3,"username":"shorty","password":"\#(password.prefix(4))"}"#)
        #expect(try await alice.reply(to: 3)["type"] as? String == "error")
        // Wrong password, then frames that fail to decode with the secret inside them.
        try await alice.send(#"{"type":"login","id":4,"username":"alice","password":"\#(Self.wrongPassword)"}"#)
        #expect(try await alice.reply(to: 4)["code"] as? String == "bad_credentials")
        try await alice.send(#"{"type":"login","id":5,"username":"alice","password":"\#(password)""#)
        try await alice.send(#"{"type":"\#(password)","id":6}"#)
        try await alice.send(#"{"type":"login","id":7,"username":"alice","password":["\#(password)"]}"#)
        try await alice.sendBytes(Array(#"{"type":"login","id":8,"password":"\#(password)"#.utf8) + [0xFF])
        try await alice.send(#"{"type":"login","id":9,"username":"alice","password":"\#(password)"}"#)
        #expect(try await alice.reply(to: 9)["type"] as? String == "ok")

        let bob = try await LineClient.connectAndGreet(port: port, caFile: ca)
        try await bob.send(#"{"type":"register","id":1,"username":"bob","password":"\#(password)"}"#)
        try await bob.send(#"{"type":"login","id":2,"username":"bob","password":"\#(password)"}"#)
        #expect(try await bob.reply(to: 2)["type"] as? String == "ok")
        // Stored: bob has not chosen alice yet.
        try await alice.send(#"{"type":"chat","id":10,"with":"bob"}"#)
        _ = try await alice.reply(to: 10)
        try await alice.send(#"{"type":"send","id":11,"body":"\#(Self.storedBody)"}"#)
        #expect(try await alice.reply(to: 11)["status"] as? String == "stored")
        // Live, and a body that fails a rule (too long) with the secret in it.
        try await bob.send(#"{"type":"chat","id":3,"with":"alice"}"#)
        _ = try await bob.reply(to: 3)
        try await alice.send(#"{"type":"send","id":12,"body":"\#(Self.liveBody)"}"#)
        #expect(try await alice.reply(to: 12)["status"] as? String == "sent")
        try await alice.send(
            #"{"type":"send","id":13,"body":"\#(Self.liveBody)\#(String(repeating: "x", count: ChatMessage.maximumBodyBytes))"}"#)
        #expect(try await alice.reply(to: 13)["type"] as? String == "error")
        // A drop mid-session, with a message in flight to a partner who vanished.
        await bob.reset()
        try await alice.send(#"{"type":"send","id":14,"body":"\#(Self.liveBody)-after-drop"}"#)
        _ = try await alice.reply(to: 14)
        await alice.close()
        #expect(server.stop() == 0)

        let logs = server.logs + ((try? String(contentsOfFile: server.stdoutPath, encoding: .utf8)) ?? "")
        #expect(logs.contains("logged in"), "the server logged nothing: is --log-level working?")
        if level == "trace" { #expect(logs.contains(" debug ") || logs.contains(" trace "), "no debug lines at trace") }
        for secret in [password, String(password.prefix(4)) + "\"", Self.wrongPassword, Self.liveBody, Self.storedBody] {
            #expect(!logs.contains(secret), "'\(secret)' reached the logs at \(level)")
        }
        // The data files hold a hash, never the password itself.
        let dataFiles = try FileManager.default.contentsOfDirectory(atPath: server.dataDirectory)
        for file in dataFiles {
            let contents = (try? Data(contentsOf: URL(fileURLWithPath: server.dataDirectory + "/" + file))) ?? Data()
            #expect(contents.range(of: Data(password.utf8)) == nil, "the password is in \(file)")
        }
    }
}

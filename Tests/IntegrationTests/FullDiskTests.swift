import Foundation
import Testing
import TestSupport

/// The real server on a data directory that really fills up: a small tmpfs, filled until
/// writes fail with ENOSPC. Needs root to mount it; cancelled (skipped) with the reason
/// otherwise.
@Suite("A full disk")
struct FullDiskTests {
    @Test("a full disk: the sender hears not_stored, others are served, storing resumes once space is freed")
    func fullDisk() async throws {
        let disk: TmpfsMount
        do {
            disk = try TmpfsMount(bytes: 2 << 20)
        } catch {
            try Test.cancel("needs a tmpfs it can fill: \(error)")
        }
        defer { disk.unmount() }
        let certificates = try CertificateFixture.shared()
        let dataDirectory = disk.path + "/data"
        var server = try await ServerProcess(
            certificates: certificates, dataDirectory: dataDirectory, arguments: ["--scrypt-log-n", "10"])
        // Accounts first, while there is room: registering is a write too.
        for name in ["alice", "bob", "carol", "dave"] {
            let client = try await login(name, register: true, server: server, certificates: certificates)
            await client.close()
        }
        let alice = try await login("alice", server: server, certificates: certificates)
        #expect(try await request(alice, #"{"type":"chat","id":1,"with":"bob"}"#, id: 1)["type"] as? String == "ok")

        var stored: [String] = []
        for number in 0..<2 {
            let body = "before the disk filled \(number)"
            #expect(try await send(alice, body, id: 10 + number) == "stored")
            stored.append(body)
        }

        // Fill the disk, then send until a write fails. The inbox file may still have room
        // inside it for a record or two, so the first sends can still be stored.
        try disk.fill()
        var refused = 0
        let padding = String(repeating: "x", count: 3_000)
        for number in 0..<64 where refused == 0 {
            let body = "while full \(number) \(padding)"
            let answer = try await send(alice, body, id: 100 + number)
            if answer == "stored" {
                stored.append(body)
            } else {
                #expect(answer == "not_stored")
                refused += 1
            }
        }
        #expect(refused == 1, "a write failed with the disk full (ENOSPC) and the sender was told")

        // The server goes on serving: a login (a read), a summary, and a live chat.
        let carol = try await login("carol", server: server, certificates: certificates)
        let dave = try await login("dave", server: server, certificates: certificates)
        let summary = try await request(carol, #"{"type":"inbox","id":2}"#, id: 2)
        #expect(summary["type"] as? String == "inbox")
        #expect(try await request(dave, #"{"type":"chat","id":3,"with":"carol"}"#, id: 3)["type"] as? String == "ok")
        #expect(try await request(carol, #"{"type":"chat","id":4,"with":"dave"}"#, id: 4)["type"] as? String == "ok")
        #expect(try await send(carol, "live while the disk is full", id: 5) == "sent")
        var live: [String: Any]?
        while let frame = try await dave.receiveJSON() {
            if frame["type"] as? String == "message" {
                live = frame
                break
            }
        }
        #expect(live?["body"] as? String == "live while the disk is full")

        // Space again: the next message is stored, without a restart.
        try disk.free()
        let after = "after the disk was freed"
        #expect(try await send(alice, after, id: 500) == "stored")
        stored.append(after)
        #expect(server.logs.contains("inbox write failed"))
        #expect(server.logs.contains("inbox store recovered"))
        for client in [alice, carol, dave] {
            await client.close()
        }

        // Nothing answered "stored" is lost, even across a kill -9, and nothing answered
        // "not_stored" turns up.
        server.stop(signal: SIGKILL)
        server = try await ServerProcess(
            certificates: certificates, dataDirectory: dataDirectory, arguments: ["--scrypt-log-n", "10"],
            workDirectory: server.workDirectory)
        defer { server.stop() }
        let bob = try await login("bob", server: server, certificates: certificates)
        try await bob.send(#"{"type":"chat","id":6,"with":"alice"}"#)
        var delivered: [String] = []
        while let frame = try await bob.receiveJSON() {
            if frame["type"] as? String == "message", let body = frame["body"] as? String {
                delivered.append(body)
            }
            if frame["id"] as? Int == 6 {
                break
            }
        }
        #expect(delivered == stored)
        await bob.close()
    }

    /// A connected client logged in as `name` (registered first if asked).
    private func login(_ name: String, register: Bool = false, server: ServerProcess, certificates: CertificateFixture)
        async throws -> LineClient
    {
        let client = try await LineClient.connectAndGreet(port: server.port, caFile: certificates.caFile)
        if register {
            let reply = try await request(
                client, #"{"type":"register","id":90,"username":"\#(name)","password":"password123"}"#, id: 90)
            guard reply["type"] as? String == "ok" else {
                throw FixtureError("register \(name): \(reply)")
            }
        }
        let reply = try await request(
            client, #"{"type":"login","id":91,"username":"\#(name)","password":"password123"}"#, id: 91)
        guard reply["type"] as? String == "ok" else {
            throw FixtureError("login \(name): \(reply)")
        }
        return client
    }

    /// Sends `line` and returns the frame answering request `id` (skipping notices).
    private func request(_ client: LineClient, _ line: String, id: Int) async throws -> [String: Any] {
        try await client.send(line)
        while let frame = try await client.receiveJSON() {
            if frame["id"] as? Int == id {
                return frame
            }
        }
        throw FixtureError("connection closed before the reply to \(id)")
    }

    /// Sends `body` and returns the receipt status ("sent", "stored") or the error code.
    private func send(_ client: LineClient, _ body: String, id: Int) async throws -> String {
        let reply = try await request(client, #"{"type":"send","id":\#(id),"body":"\#(body)"}"#, id: id)
        return (reply["status"] as? String) ?? (reply["code"] as? String) ?? "?"
    }
}

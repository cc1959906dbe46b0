import Foundation
import Testing
import TestSupport

/// chat-client with several servers: the first that answers is used, and when it goes
/// away the client logs in again elsewhere (or on the same one back), re-opens the chat,
/// and says so in one line.
@Suite("chat-client fails over")
struct FailoverTests {
    /// A chat-client over `servers` (HOST:PORT each) for `name`, registered or logged in,
    /// at "Chat with:".
    private func user(
        _ name: String, servers: [String], caFile: String, state: String, register: Bool
    ) async throws -> ClientProcess {
        try await ClientProcess(
            port: 1, caFile: caFile, stateDirectory: state, arguments: servers.flatMap { ["--server", $0] }
        ).enter(as: name, register: register)
    }

    /// A port nobody listens on (bound, then closed).
    private func closedPort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test("a server that does not answer is skipped; one restarted on its port takes the session back, chat re-opened")
    func restartedServer() async throws {
        let certificates = try CertificateFixture.shared()
        let work = try TemporaryDirectory(prefix: "failover")
        defer { work.remove() }
        var server = try await ServerProcess(certificates: certificates, dataDirectory: work.appending("data"))
        let port = server.port
        let servers = ["127.0.0.1:\(try closedPort())", "127.0.0.1:\(port)"]
        let alice = try await user(
            "alice", servers: servers, caFile: certificates.caFile, state: work.appending("alice"), register: true)
        #expect(alice.output.contains("Connected to 127.0.0.1:\(port)"), "the dead first server was skipped")
        let bob = try await user(
            "bob", servers: servers, caFile: certificates.caFile, state: work.appending("bob"), register: true)
        alice.type("bob")
        bob.type("alice")
        #expect(await alice.waitFor("now chatting with bob"))
        #expect(await bob.waitFor("now chatting with alice"))

        server.stop()
        #expect(await alice.waitFor("reconnecting"), "\(alice.output)")
        #expect(alice.process.isRunning, "the client waits for a server instead of exiting")
        server = try await ServerProcess(
            certificates: certificates, dataDirectory: work.appending("data"), arguments: ["--port", String(port)])
        defer { server.stop() }
        #expect(await alice.waitFor("reconnected to 127.0.0.1:\(port) as alice; chat with bob re-opened", timeout: 30))
        #expect(await bob.waitFor("reconnected to 127.0.0.1:\(port) as bob; chat with alice re-opened", timeout: 30))
        alice.type("after the restart")
        #expect(await bob.waitFor("alice: after the restart"))
        bob.type("got it")
        #expect(await alice.waitFor("bob: got it"))
        for client in [alice, bob] { client.type("exit") }
        #expect(await alice.waitForExit() == 0)
        #expect(await bob.waitForExit() == 0)
    }

    @Test("two servers on one PostgreSQL: kill -9 of alice's, she is on the other at once and what waited arrives")
    func killedNode() async throws {
        let certificates = try CertificateFixture.shared()
        let cluster = try await PostgresCluster.sharedCluster()
        let database = try await cluster.newDatabase()
        let url = "postgres://chat@/\(database)?host=\(cluster.socketDirectory)"
        let first = try await ServerProcess(certificates: certificates, store: url)
        let second = try await ServerProcess(certificates: certificates, store: url)
        defer { first.stop(); second.stop() }
        let work = try TemporaryDirectory(prefix: "failover-pg")
        defer { work.remove() }
        let servers = ["127.0.0.1:\(first.port)", "127.0.0.1:\(second.port)"]
        let alice = try await user(
            "alice", servers: servers, caFile: certificates.caFile, state: work.appending("alice"), register: true)
        let bob = try await user(
            "bob", servers: [servers[1]], caFile: certificates.caFile, state: work.appending("bob"), register: true)
        alice.type("bob")
        #expect(await alice.waitFor("messages will wait in their inbox"))

        first.stop(signal: SIGKILL)
        #expect(await alice.waitFor("reconnected to 127.0.0.1:\(second.port) as alice; chat with bob re-opened", timeout: 30),
                "\(alice.output)")
        // bob, on the surviving server, writes; alice reads it there.
        bob.type("alice")
        #expect(await bob.waitFor("now chatting with alice"))
        bob.type("are you back?")
        #expect(await alice.waitFor("bob: are you back?"))
        alice.type("yes, on the other server")
        #expect(await bob.waitFor("alice: yes, on the other server"))
        for client in [alice, bob] { client.type("exit") }
        #expect(await alice.waitForExit() == 0)
        #expect(await bob.waitForExit() == 0)
    }
}

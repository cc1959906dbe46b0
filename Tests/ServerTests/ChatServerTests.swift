import Foundation
import NIOCore
import Testing
import TestSupport

@testable import Server

/// The whole server in process: a real TLS client talks to it on its real port.
@Suite("ChatServer lifecycle", .timeLimit(.minutes(TestTimeouts.minutes(1))))
struct ChatServerTests {
    @Test("port 0 gives a real port; a client logs in; shutdown tells it and closes it")
    func startServeShutdown() async throws {
        let fixture = try await InProcessServer()
        #expect(fixture.port > 0)
        let client = try await LineClient.loggedIn(
            "alice", port: fixture.port, caFile: fixture.certificates.caFile, register: true)
        await fixture.stop()
        var notice: [String: Any]?
        while let frame = try await client.receiveJSON() {
            if frame["type"] as? String == "notice" { notice = frame }
        }
        #expect(notice?["code"] as? String == "shutdown")
        #expect(client.isClosed)
    }

    @Test("a second start is refused; shutdown twice is harmless; stopAccepting ends waitUntilClosed")
    func lifecycleSteps() async throws {
        let fixture = try await InProcessServer()
        await #expect(throws: (any Error).self) { _ = try await fixture.server.start() }
        fixture.server.stopAccepting()
        try await fixture.server.waitUntilClosed()
        await fixture.stop()
        await fixture.server.shutdown()
    }

    @Test("work counted in flight can be waited for, and a waiting task can be cancelled")
    func inFlightWork() async throws {
        let work = InFlightWork()
        await work.waitUntilIdle()
        work.begin()
        work.begin()
        let waiter = Task { await work.waitUntilIdle() }
        work.end()
        #expect(work.count == 1)
        work.end()
        await waiter.value
        work.begin()
        let cancelled = Task { await work.waitUntilIdle() }
        cancelled.cancel()
        await cancelled.value
        #expect(work.count == 1)
        work.end()
    }
}

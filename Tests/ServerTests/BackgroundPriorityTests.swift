import Logging
import NIOCore
import NIOPosix
import Testing

@testable import Server

/// The KDF runs at background priority, on its own pool's threads only.
@Suite("BackgroundPriority")
struct BackgroundPriorityTests {
    @Test("lowers the calling thread only, not the others of the process")
    func callingThreadOnly() async throws {
        let before = BackgroundPriority.currentNiceValue()
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let niced = try await pool.runIfActive {
            BackgroundPriority.applyToCurrentThread()
            return BackgroundPriority.currentNiceValue()
        }
        try await pool.shutdownGracefully()
        #expect(niced == BackgroundPriority.niceValue)
        #expect(BackgroundPriority.currentNiceValue() == before)
    }

    @Test("AccountService leaves its pool's threads at background priority after a login")
    func accountServiceNicesItsPool() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let service = AccountService(
            store: InMemoryAccountStore(), inbox: InMemoryInboxStore(), files: InMemoryFileStore(), deleteKeys: { _ in false }, hasher: AccountServiceTests.fastHasher, throttle: LoginThrottle(),
            threadPool: pool, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let loop = group.next()
        _ = try await service.register(id: 1, username: "alice", password: "password1", on: loop).get()
        _ = try await service.login(id: 2, username: "alice", password: "password1", address: "192.0.2.1", on: loop).get()
        let nice = try await pool.runIfActive { BackgroundPriority.currentNiceValue() }
        try await pool.shutdownGracefully()
        try await group.shutdownGracefully()
        #expect(nice == BackgroundPriority.niceValue)
    }
}

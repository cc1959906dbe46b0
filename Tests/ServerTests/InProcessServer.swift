import Logging
import NIOCore
import NIOPosix
import TestSupport

@testable import Server

/// A `ChatServer` in the test's own process, on port 0 of 127.0.0.1 with a temporary data
/// directory; the real port comes back from `start()`, not from scraping output. For tests
/// that need the whole server (TLS, codec, sessions, storage) but not a separate process.
final class InProcessServer {
    let server: ChatServer
    let port: Int
    let certificates: CertificateFixture
    let work: TemporaryDirectory
    private let group: MultiThreadedEventLoopGroup

    /// Starts a server; `configure` may change the configuration first.
    init(configure: (inout ServerConfiguration) -> Void = { _ in }) async throws {
        let certificates = try CertificateFixture.shared()
        let work = try TemporaryDirectory(prefix: "in-process-server")
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.certificateFile = certificates.certificateFile
        configuration.privateKeyFile = certificates.privateKeyFile
        configuration.storage = .gdbm(directory: work.appending("data"))
        configuration.scryptLogN = ScryptParameters.fastForTests.logN
        configuration.eventLoops = 2
        configure(&configuration)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoops)
        let logger = Logger(label: "in-process-server", factory: { _ in SwiftLogNoOpLogHandler() })
        do {
            let server = try await ChatServer(configuration: configuration, logger: logger, group: group)
            let address = try await server.start()
            self.server = server
            self.port = address.port ?? 0
        } catch {
            try? await group.shutdownGracefully()
            work.remove()
            throw error
        }
        self.certificates = certificates
        self.work = work
        self.group = group
    }

    /// Shuts the server down, then its event loops, and removes its files.
    func stop() async {
        await server.shutdown()
        try? await group.shutdownGracefully()
        work.remove()
    }
}

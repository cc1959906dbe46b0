import Foundation
import Logging
import NIOCore
import NIOPosix
import Shared

#if canImport(Glibc)
import Glibc
#endif

/// The running server's admin socket: a Unix domain socket, mode 0600, on which the local
/// operator's `chat-server admin` sends one request per connection (docs/ADMIN.md). The
/// server answers with its own `AdminService`, so it also closes the sessions of the users
/// it locks or deletes, and names the operator in its log by the peer's kernel credentials.
///
/// For GDBM this is how admin commands reach the store at all while the server runs: the
/// server holds the data directory's lock.
final class AdminSocket: Sendable {
    /// Where the socket is.
    let path: String
    private let channel: Channel

    /// How long a connection may take to send its request.
    static let requestTimeout: TimeAmount = .seconds(10)

    private init(path: String, channel: Channel) {
        self.path = path
        self.channel = channel
    }

    /// Binds the socket at `path` (replacing a stale one nobody answers on) and answers each
    /// connection's request with `service`.
    ///
    /// - Throws: `AdminSocketError` when the path is taken or unusable; NIO's errors when
    ///   binding fails.
    static func open(path: String, service: AdminService, group: EventLoopGroup, logger: Logger) async throws -> AdminSocket {
        guard path.utf8.count <= AdminSocketAddress.maximumLength else {
            throw AdminSocketError(AdminSocketAddress.tooLong(path))
        }
        try await removeStale(path)
        let bootstrap = ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                PeerCredentials.of(channel).flatMapThrowing { peer in
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(
                        ByteToMessageHandler(LineFrameDecoder(maxFrameLength: AdminLineCodec.maximumRequestLength)))
                    try sync.addHandler(AdminConnectionHandler(service: service, peer: peer, logger: logger))
                }
            }
        let channel = try await bootstrap.bind(unixDomainSocketPath: path).get()
        // The socket file is made with the umask's mode; the data directory (0700) covers
        // the moment until this, and the handler checks each peer's uid in any case.
        guard chmod(path, 0o600) == 0 else {
            let reason = String(cString: strerror(errno))
            try? await channel.close()
            throw AdminSocketError("cannot make the admin socket \(path) private (mode 0600): \(reason)")
        }
        return AdminSocket(path: path, channel: channel)
    }

    /// Stops answering and removes the socket file.
    func close() async {
        try? await channel.close()
        unlink(path)
    }

    /// Removes a socket file at `path` that no server answers on (a crashed server's);
    /// refuses a live one and anything that is not a socket.
    private static func removeStale(_ path: String) async throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw AdminSocketError("\(path) exists and is not a socket; move it away or choose another --admin-socket")
        }
        if try await AdminSocketClient.isAnswering(path) {
            throw AdminSocketError("another chat-server answers on the admin socket \(path); choose another --admin-socket")
        }
        unlink(path)
    }
}

/// The admin socket cannot be opened; the description is a sentence for the operator.
struct AdminSocketError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

import Foundation
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Who is at the other end of the admin socket, as the kernel says (`SO_PEERCRED`): not
/// anything the peer claims. The admin log names the operator by it.
struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    let pid: Int32
    let uid: uid_t

    /// The credentials of `channel`'s peer (a connected Unix domain socket).
    static func of(_ channel: Channel) -> EventLoopFuture<PeerCredentials> {
        guard let provider = channel as? SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
        }
        let credentials: EventLoopFuture<KernelCredentials> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return credentials.map { PeerCredentials(pid: $0.pid, uid: $0.uid) }
    }

    /// Linux's `struct ucred`, which Glibc's Swift module leaves out (it needs _GNU_SOURCE):
    /// the same three 32-bit fields in the same order, so `getsockopt` fills it alike.
    private struct KernelCredentials: Sendable {
        var pid: pid_t = 0
        var uid: uid_t = 0
        var gid: gid_t = 0
    }

    /// Only the server's own user and root may administer it: the socket's mode (0600)
    /// already keeps everyone else out; this holds even if the mode were changed.
    var mayAdminister: Bool {
        uid == 0 || uid == geteuid()
    }

    /// "alice (uid 1000, pid 4242)".
    var description: String {
        "\(OperatorIdentity.name(of: uid)) (uid \(uid), pid \(pid))"
    }
}

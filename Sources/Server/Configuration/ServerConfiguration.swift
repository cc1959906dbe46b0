import Foundation
import NIOCore
import NIOPosix
import Shared

/// Everything `ChatServer` needs to run. Each default is written here, once: the command
/// line's options take theirs from `ServerConfiguration.defaults`.
struct ServerConfiguration: Sendable {
    /// The configuration with every default.
    static let defaults = ServerConfiguration()

    /// Address to listen on.
    var host = "127.0.0.1"
    /// Port to listen on; 0 asks the OS for a free one (tests use this).
    var port = 5555
    /// PEM certificate chain, server certificate first.
    var certificateFile = "certs/server.pem"
    /// PEM private key of the server certificate.
    var privateKeyFile = "certs/server.key"
    /// Where accounts, inboxes and published keys are kept.
    var storage = StorageLocation.default
    /// The local admin socket (`chat-server admin` talks to the running server through it);
    /// nil for the storage's default, `adminSocketPath`.
    var adminSocket: String?
    /// This node's name in logs and in the shared tables when several servers share a
    /// database; nil: the host name and the port listened on.
    var nodeID: String?
    /// How often a node sharing a database heartbeats, and when the others count it dead.
    var clusterTiming = ClusterTiming()
    /// A TLS handshake that takes longer is abandoned and its socket closed.
    var handshakeTimeout: TimeAmount = .seconds(10)
    /// Longest frame (line) accepted, in bytes; a longer one closes the connection.
    var maximumFrameLength = LineFrameDecoder.defaultMaxFrameLength
    /// scrypt cost for new password hashes (log2 N); see ScryptParameters.default.
    var scryptLogN = ScryptParameters.default.logN
    /// First login back-off delay in seconds (doubles per failure from the 5th on).
    var throttleBaseDelay: Double = 1
    /// What each session is held to (login time, message rate, bad frames, stalled reads).
    var sessionLimits = SessionLimits()
    /// Caps of each user's offline inbox.
    var inboxLimits = InboxLimits()
    /// Stored messages older than this are dropped (and their recipient told).
    var messageExpiry: TimeInterval = 30 * 24 * 3600
    /// Limits on files sent through the server.
    var fileLimits = FileLimits()
    /// A connection from which no frame arrives for this long is closed (clients ping every 30 s).
    var idleTimeout: TimeAmount = .seconds(90)
    /// Event-loop threads for connections. One per core: fewer loops put more pairs on one
    /// loop, and those relay without a thread wake-up per message (on 2 cores, one loop
    /// measured about 20 % less server CPU per relayed message than two), but a lone loop
    /// also does every TLS handshake, so a burst of logins stalls all relaying behind it
    /// (relay p99 18.6 ms during a 200-login storm at scrypt logN 10 with one loop, 8.0 and
    /// 8.2 ms with two).
    var eventLoops = System.coreCount
    /// Most open connections from one source address.
    var maximumConnectionsPerAddress = 32
    /// Most open connections in total.
    var maximumConnections = 10_000
    /// Bytes queued for one client past which it counts as not reading: live messages for
    /// it go to its inbox instead, and writes resume below half of this.
    var maximumOutboundBytes = 256 * 1024
    /// How long a closing connection waits for the client's close_notify after sending its
    /// own (nothing more is read from it meanwhile).
    var closeNotifyTimeout: TimeAmount = .seconds(1)
    /// How long shutdown waits for sessions to say goodbye before closing them hard.
    var shutdownGracePeriod: TimeAmount = .seconds(3)

    /// The file name of the admin socket in a GDBM data directory.
    static let adminSocketName = "admin.sock"

    /// Where the admin socket is: `adminSocket` if set, else `admin.sock` in a GDBM data
    /// directory (whose lock keeps everyone else from opening the store while the server
    /// runs); nil, no socket, for PostgreSQL unless set (several servers may share one
    /// database, so no single place is the obvious one).
    var adminSocketPath: String? {
        if let adminSocket { return adminSocket }
        guard case .gdbm(let directory) = storage else { return nil }
        return URL(fileURLWithPath: directory).standardizedFileURL.path + "/" + Self.adminSocketName
    }
}

import Foundation
import NIOCore
import Shared

/// Everything `ChatServer` needs to run, with the documented defaults.
struct ServerConfiguration: Sendable {
    /// Address to listen on.
    var host = "127.0.0.1"
    /// Port to listen on; 0 asks the OS for a free one (tests use this).
    var port = 5555
    /// PEM certificate chain, server certificate first.
    var certificateFile = "certs/server.pem"
    /// PEM private key of the server certificate.
    var privateKeyFile = "certs/server.key"
    /// Where accounts and inboxes are kept.
    var storage = StorageLocation.default
    /// A TLS handshake that takes longer is abandoned and its socket closed.
    var handshakeTimeout: TimeAmount = .seconds(10)
    /// Longest frame (line) accepted, in bytes; a longer one closes the connection.
    var maximumFrameLength = LineFrameDecoder.defaultMaxFrameLength
    /// Bad frames in a row after which a connection is closed.
    var maximumBadFrames = 5
    /// scrypt cost for new password hashes (log2 N); see ScryptParameters.default.
    var scryptLogN = ScryptParameters.default.logN
    /// First login back-off delay in seconds (doubles per failure from the 5th on).
    var throttleBaseDelay: Double = 1
    /// Caps of each user's offline inbox.
    var inboxLimits = InboxLimits()
    /// Stored messages older than this are dropped (and their recipient told).
    var messageExpiry: TimeInterval = 30 * 24 * 3600
    /// A connection must log in within this time.
    var loginTimeout: TimeAmount = .seconds(60)
    /// A connection from which no frame arrives for this long is closed (clients ping every 30 s).
    var idleTimeout: TimeAmount = .seconds(90)
    /// Most open connections from one source address.
    var maximumConnectionsPerAddress = 32
    /// Most open connections in total.
    var maximumConnections = 10_000
    /// Messages a session may send per second, on average.
    var messageRate: Double = 10
    /// Messages a session may send at once before the rate applies.
    var messageBurst = 20
    /// Bytes queued for one client past which it counts as not reading: live messages for
    /// it go to its inbox instead, and writes resume below half of this.
    var maximumOutboundBytes = 256 * 1024
    /// How long a client may stay over `maximumOutboundBytes` before it is disconnected.
    var stalledReaderTimeout: TimeAmount = .seconds(30)
    /// How long shutdown waits for sessions to say goodbye before closing them hard.
    var shutdownGracePeriod: TimeAmount = .seconds(3)
}

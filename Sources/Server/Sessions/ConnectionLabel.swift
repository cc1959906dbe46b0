import Logging
import NIOCore

/// What every log line about one connection names: its id and the peer's address and port.
///
/// Kept as plain values and made into metadata only for a line that is logged: metadata set
/// on a logger for each connection is a dictionary held as long as the connection is, a few
/// hundred bytes of every idle session.
struct ConnectionLabel {
    let id: UInt64
    /// `address:port`, when the channel knows its peer.
    let peer: String?

    init(id: UInt64, remote: SocketAddress?) {
        self.id = id
        self.peer = remote.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" }
    }

    /// The metadata of one line, with the logged-in user when there is one.
    func metadata(user: String? = nil) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["connection.id": "\(id)"]
        if let peer { metadata["peer"] = "\(peer)" }
        if let user { metadata["user"] = "\(user)" }
        return metadata
    }
}

import Shared

/// What the server tells a client session without being asked, in the order it arrived.
/// Replies to the caller's own requests are not events: they answer the request.
public enum SessionEvent: Sendable {
    /// A chat message, live or from the inbox; never the same `message_id` twice.
    case message(ChatMessage)
    /// Later news about one of this client's messages: `stored` after a live message went
    /// to the inbox because its recipient dropped.
    case receipt(messageID: String, status: ReceiptStatus)
    /// These messages of this client's were shown to their recipient (oldest first).
    case delivered(messageIDs: [String])
    /// The summary sent after login: waiting messages per sender, and how many expired.
    case inboxSummary(counts: [String: Int], expired: Int)
    /// Chunk `index` of file `file`, answering a `download` (the request's own answer, its
    /// `ok`, comes after the last chunk it asked for).
    case fileChunk(file: String, index: Int, data: String)
    /// How a file this client sent ended (answer it with `fileForget` once shown).
    case fileOutcome(file: String, username: String, outcome: FileOutcome)
    /// An unsolicited notice (paired, invited, partner left, displaced...).
    case notice(code: NoticeCode, message: String)
    /// An error not answering any request (a message that could not be moved to the
    /// inbox, a closing error such as `timed_out`).
    case error(ProtocolError)
    /// The answer to a request nobody waits for (sent with `post`).
    case reply(ServerFrame)
    /// A line from the server that is not a valid frame; it was skipped.
    case badFrame(ProtocolError)
    /// The connection ended; nothing follows.
    case closed(SessionCloseReason)
}

/// Why a session's connection ended.
public enum SessionCloseReason: Sendable {
    /// This side closed it (with close_notify).
    case closedByClient
    /// The server closed it.
    case closedByServer
    /// It failed: TLS, the network, or a line too long.
    case failed(any Error)
}

extension SessionCloseReason: CustomStringConvertible {
    public var description: String {
        switch self {
        case .closedByClient: "closed by the client"
        case .closedByServer: "the server closed the connection"
        case .failed(let error): "the connection failed (\(error))"
        }
    }
}

/// A frame sent by the server to the client.
///
/// Replies (`ok`, `error`) echo the request `id`; `notice` is unsolicited. To add a frame, add the
/// case, its `Kind`, and one branch each in `ServerFrame+JSON.swift`'s `decode` and `encode`.
public enum ServerFrame: Hashable, Sendable {
    /// The server's answer to the client's `hello`.
    case hello(version: Int, agent: String)
    /// Success. `username` is the canonical (lower-case) name after `register`, `login` and
    /// `chat`, nil after the others. `identityKey` is the user's own published identity key
    /// after `login`, the partner's after `chat` (nil when they have published none).
    /// `preKeys` counts the one-time prekeys stored: after `publish_keys`, and after `login`
    /// when the user has published keys. `mustChangePassword` is true after a `login` with a
    /// one-time password from the operator (`must_change_password`, absent when false).
    case ok(
        id: Int, username: String? = nil, identityKey: [UInt8]? = nil, preKeys: Int? = nil,
        mustChangePassword: Bool = false)
    /// A failed request, or a bad frame; `id` is set when the request had a readable one.
    case error(ProtocolError)
    /// An unsolicited event; those whose `NoticeCode.closesConnection` is true are followed by
    /// the server closing.
    case notice(code: NoticeCode, message: String)
    /// A chat message for this client, live or from the inbox.
    case message(ChatMessage)
    /// News about one of this client's own messages; `id` is the `send` request's id when the
    /// receipt answers it (`sent`, `stored`), nil when it comes later (`delivered`).
    case receipt(id: Int?, messageID: String, status: ReceiptStatus)
    /// These messages of the client's (oldest first) have been shown to their recipient.
    case delivered(messageIDs: [String])
    /// Waiting messages per sender, and how many expired unread since the last summary. Sent
    /// unsolicited after login (id nil) and as the answer to `inbox`.
    case inbox(id: Int?, counts: [String: Int], expired: Int)
    /// The answer to `who`: every online user but the asker.
    case who(id: Int, users: [PresenceEntry])
    /// The answer to `fetch_keys`: the user's published keys, with one of their one-time
    /// prekeys if any was left.
    case keys(id: Int, bundle: PublishedBundle)
    /// The answer to `upload`: the file's first `stored` chunks are held already (0 for a
    /// new upload), so the upload goes on from chunk `stored`.
    case upload(id: Int, file: String, stored: Int)
    /// Chunk `index` of a file, as its sender uploaded it (an answer to `download`).
    case chunk(file: String, index: Int, data: String)
    /// How a file this client sent to `username` ended; sent when it happens and after each
    /// login until the client answers `file_forget`.
    case fileOutcome(file: String, username: String, outcome: FileOutcome)

    /// The JSON `type` of each frame.
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        case hello, ok, error, notice, message, receipt, delivered, inbox, who, keys, upload, chunk
        case fileOutcome = "file_outcome"
    }

    /// This frame's JSON `type`.
    public var kind: Kind {
        switch self {
        case .hello: .hello
        case .ok: .ok
        case .error: .error
        case .notice: .notice
        case .message: .message
        case .receipt: .receipt
        case .delivered: .delivered
        case .inbox: .inbox
        case .who: .who
        case .keys: .keys
        case .upload: .upload
        case .chunk: .chunk
        case .fileOutcome: .fileOutcome
        }
    }

    /// The request `id` this frame answers, if any.
    public var id: Int? {
        switch self {
        case .hello, .notice, .message, .delivered, .chunk, .fileOutcome: nil
        case .upload(let id, _, _): id
        case .receipt(let id, _, _), .inbox(let id, _, _): id
        case .who(let id, _), .keys(let id, _): id
        case .ok(let id, _, _, _, _): id
        case .error(let error): error.id
        }
    }

    /// A notice with the code's default text.
    public static func notice(_ code: NoticeCode) -> ServerFrame {
        .notice(code: code, message: code.defaultMessage)
    }
}

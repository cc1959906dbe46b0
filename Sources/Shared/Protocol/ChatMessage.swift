/// A chat message as the recipient's client receives it.
public struct ChatMessage: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// Server-assigned unique id; the client acknowledges it and drops duplicates by it.
    public var id: String
    /// The sender's username.
    public var from: String
    /// The text, opaque to the server: with end-to-end encryption, the base64 of a Signal
    /// message.
    public var body: String
    /// When the server accepted it, in milliseconds since 1970 (UTC).
    public var sentAtMilliseconds: Int64
    /// True when it waited in the inbox; false when delivered live.
    public var stored: Bool
    /// Its place among the `message` frames of this connection (1, 2, 3...), which the
    /// client's cumulative `ack` names.
    public var seq: Int

    /// The longest body a server accepts, in UTF-8 bytes: room for a few thousand characters
    /// of text once encrypted (a Signal message in base64 is a third larger than its
    /// ciphertext, plus a few hundred bytes of header and prekey material).
    public static let maximumBodyBytes = 16_384

    /// Without the body: message text must never reach a log by accident.
    public var description: String {
        "ChatMessage(id: \(id), seq: \(seq), from: \(from), body: <\(body.utf8.count) bytes>, sentAt: \(sentAtMilliseconds), stored: \(stored))"
    }

    public var debugDescription: String { description }

    public init(id: String, from: String, body: String, sentAtMilliseconds: Int64, stored: Bool, seq: Int = 0) {
        self.id = id
        self.seq = seq
        self.from = from
        self.body = body
        self.sentAtMilliseconds = sentAtMilliseconds
        self.stored = stored
    }
}

/// What a `receipt` tells the sender about one of their messages.
public enum ReceiptStatus: String, Hashable, Sendable, CaseIterable {
    /// Handed to the partner's connection live (not yet confirmed).
    case sent
    /// Written to the recipient's inbox and synced to disk.
    case stored
}

/// One line of the `who` list.
public struct PresenceEntry: Hashable, Sendable {
    public enum Status: String, Hashable, Sendable {
        /// Online and not in a 1-1 session.
        case free
        /// In a 1-1 session with someone.
        case chatting
    }

    public var username: String
    public var status: Status

    public init(username: String, status: Status) {
        self.username = username
        self.status = status
    }
}

/// The reason carried by an unsolicited `notice` frame (`"code"` in JSON).
///
/// Like `ErrorCode`, codes from a newer server decode to `.unknown(rawValue)` rather than failing.
public enum NoticeCode: Hashable, Sendable {
    /// The same user logged in from another connection; this one is about to be closed.
    case displaced
    /// The server is shutting down; the connection is about to be closed.
    case shutdown
    /// Both sides chose each other: the 1-1 session is live.
    case paired
    /// You chose someone who has not chosen you yet; messages wait in their inbox.
    case waiting
    /// Someone chose you; `/chat` them back to start the session.
    case invited
    /// Your partner ended the session (`/leave`, another `/chat`, or logged out).
    case partnerLeft
    /// Your partner's connection dropped.
    case partnerDisconnected
    /// A message waits in your inbox (sent while you were not in a session with its sender).
    case newMessage
    /// Stored messages expired unread.
    case expired
    /// Others have taken most of your one-time prekeys: publish more.
    case preKeysLow
    /// The server's operator locked your account; the connection is about to be closed.
    case accountLocked
    /// Your account was deleted (by the operator); the connection is about to be closed.
    case accountDeleted
    /// The server's operator reset your password (you log in next with the one-time password
    /// they give you); the connection is about to be closed.
    case passwordReset
    /// A code this build does not know, kept verbatim.
    case unknown(String)

    /// Every code this build knows.
    public static let known: [NoticeCode] = [
        .displaced, .shutdown, .paired, .waiting, .invited, .partnerLeft, .partnerDisconnected, .newMessage, .expired, .preKeysLow,
        .accountLocked, .accountDeleted, .passwordReset,
    ]

    /// Whether the server closes the connection right after sending this notice.
    public var closesConnection: Bool {
        switch self {
        case .displaced, .shutdown, .accountLocked, .accountDeleted, .passwordReset: true
        default: false
        }
    }

    /// A human-readable default text for the notice.
    public var defaultMessage: String {
        switch self {
        case .displaced: "logged in from elsewhere"
        case .shutdown: "server shutting down"
        case .paired: "now chatting"
        case .waiting: "waiting for your partner to choose you"
        case .invited: "someone wants to chat with you"
        case .partnerLeft: "your partner left"
        case .partnerDisconnected: "your partner disconnected"
        case .newMessage: "new message in your inbox"
        case .expired: "messages expired unread"
        case .preKeysLow: "few one-time prekeys left; publish more"
        case .accountLocked: "your account was locked by the server's operator"
        case .accountDeleted: "your account was deleted"
        case .passwordReset: "your password was reset by the server's operator"
        case .unknown(let raw): "notice (\(raw))"
        }
    }
}

extension NoticeCode: RawRepresentable {
    /// Maps a wire code to a case; never fails, unknown codes become `.unknown(rawValue)`.
    public init(rawValue: String) {
        switch rawValue {
        case "displaced": self = .displaced
        case "shutdown": self = .shutdown
        case "paired": self = .paired
        case "waiting": self = .waiting
        case "invited": self = .invited
        case "partner_left": self = .partnerLeft
        case "partner_disconnected": self = .partnerDisconnected
        case "new_message": self = .newMessage
        case "expired": self = .expired
        case "prekeys_low": self = .preKeysLow
        case "account_locked": self = .accountLocked
        case "account_deleted": self = .accountDeleted
        case "password_reset": self = .passwordReset
        default: self = .unknown(rawValue)
        }
    }

    /// The snake_case code sent on the wire.
    public var rawValue: String {
        switch self {
        case .displaced: "displaced"
        case .shutdown: "shutdown"
        case .paired: "paired"
        case .waiting: "waiting"
        case .invited: "invited"
        case .partnerLeft: "partner_left"
        case .partnerDisconnected: "partner_disconnected"
        case .newMessage: "new_message"
        case .expired: "expired"
        case .preKeysLow: "prekeys_low"
        case .accountLocked: "account_locked"
        case .accountDeleted: "account_deleted"
        case .passwordReset: "password_reset"
        case .unknown(let raw): raw
        }
    }
}

extension NoticeCode: CustomStringConvertible {
    /// The wire code, so logs show what was sent.
    public var description: String { self.rawValue }
}

/// The machine-readable reason carried by an `error` frame (`"code"` in JSON).
///
/// The list is fixed per protocol version, but a newer server may send codes this build does not know.
/// Those decode to `.unknown(rawValue)` instead of failing, so an older client can still show the
/// server's message and carry on.
public enum ErrorCode: Hashable, Sendable {
    /// A line was longer than the maximum frame length. The server closes the connection.
    case frameTooLarge
    /// A line was not valid UTF-8.
    case invalidUTF8
    /// A line was not valid JSON, or not a JSON object.
    case invalidJSON
    /// The frame's `type` is not one this side understands; the message names it.
    case unknownType
    /// A required field is absent; the message names it.
    case missingField
    /// A field has the wrong JSON type or an unacceptable value; the message names it.
    case invalidField
    /// The client's `hello` asked for a protocol version the server does not speak. The server closes.
    case versionMismatch
    /// A request arrived before the client's `hello`.
    case helloRequired
    /// The client sent a second `hello`.
    case alreadyHello
    /// The request needs a logged-in session.
    case notLoggedIn
    /// `register` or `login` on a session that is already logged in.
    case alreadyLoggedIn
    /// The username breaks the rules of `Username`.
    case invalidUsername
    /// The password breaks the rules of `PasswordPolicy`.
    case invalidPassword
    /// `register` for a username that already exists.
    case usernameTaken
    /// Login failed. Deliberately the same for an unknown user and a wrong password, so the reply
    /// does not reveal which usernames exist.
    case badCredentials
    /// Too many failed logins; the frame's `retry_after` says how many seconds to wait.
    case throttled
    /// `chat` named a user who does not exist.
    case unknownUser
    /// `send` without a chosen partner.
    case notChatting
    /// The message is empty or longer than the limit.
    case invalidMessage
    /// The recipient's inbox is full; the message was not stored.
    case inboxFull
    /// The message could not be stored (disk full, I/O error); nothing was kept.
    case notStored
    /// More messages than the per-session rate allows; this one was rejected, not sent.
    case rateLimited
    /// No login within the allowed time, or no frame at all for too long; the server closes.
    case timedOut
    /// Too many bad frames in a row. The server closes the connection.
    case tooManyErrors
    /// The server failed on its side (storage, for example); the request may be retried.
    case `internal`
    /// `send` refused: the partner's identity key is no longer the one `chat` reported (they
    /// reinstalled). Nothing was sent; `chat` again to learn the new key.
    case identityChanged
    /// `publish_keys` would store more one-time prekeys than a user may hold; nothing was stored.
    case tooManyPreKeys
    /// `fetch_keys` named a user who has never published keys.
    case noKeys
    /// `login` with the right password for an account the server's operator has locked.
    case accountLocked
    /// The session logged in with a one-time password from the operator: every request but
    /// `passwd`, `logout` and `ping` is refused until the password is changed.
    case passwordChangeRequired
    /// `upload` of a file larger than the server's per-file limit; nothing was stored.
    case fileTooLarge
    /// `upload` refused: the recipient's room for files is full; nothing was stored.
    case filesFull
    /// A file frame named a file id that is not (or no longer) one of this user's files.
    case unknownFile
    /// `upload` with a file id already used for another file.
    case fileIDTaken
    /// `chunk` out of order: the message says which chunk the server expects next.
    case chunkOutOfOrder
    /// A code this build does not know, kept verbatim.
    case unknown(String)

    /// Every code this build knows, in the order of the protocol document's table.
    public static let known: [ErrorCode] = [
        .frameTooLarge, .invalidUTF8, .invalidJSON, .unknownType, .missingField, .invalidField,
        .versionMismatch, .helloRequired, .alreadyHello, .notLoggedIn, .alreadyLoggedIn,
        .invalidUsername, .invalidPassword, .usernameTaken, .badCredentials, .throttled,
        .tooManyErrors, .internal, .unknownUser, .notChatting, .invalidMessage, .inboxFull, .notStored,
        .rateLimited, .timedOut, .identityChanged, .tooManyPreKeys, .noKeys, .accountLocked, .passwordChangeRequired,
        .fileTooLarge, .filesFull, .unknownFile, .fileIDTaken, .chunkOutOfOrder,
    ]

    /// A human-readable default text, used when a more specific message is not needed.
    public var defaultMessage: String {
        switch self {
        case .frameTooLarge: "frame too large"
        case .invalidUTF8: "frame is not valid UTF-8"
        case .invalidJSON: "frame is not a valid JSON object"
        case .unknownType: "unknown frame type"
        case .missingField: "a required field is missing"
        case .invalidField: "a field has the wrong type or value"
        case .versionMismatch: "unsupported protocol version"
        case .helloRequired: "send hello first"
        case .alreadyHello: "hello was already sent"
        case .notLoggedIn: "not logged in"
        case .alreadyLoggedIn: "already logged in"
        case .invalidUsername: Username.ruleText
        case .invalidPassword: PasswordPolicy.ruleText
        case .usernameTaken: "username is already taken"
        case .badCredentials: "wrong username or password"
        case .throttled: "too many attempts, try again later"
        case .tooManyErrors: "too many bad frames, closing the connection"
        case .internal: "internal server error"
        case .unknownUser: "no such user"
        case .notChatting: "choose someone to chat with first (/chat USER)"
        case .invalidMessage: "a message must be 1 to \(ChatMessage.maximumBodyBytes) bytes of text"
        case .inboxFull: "the recipient's inbox is full; message not stored"
        case .notStored: "the message could not be stored; it was not sent"
        case .rateLimited: "slow down: message rejected, not sent"
        case .timedOut: "timed out, closing the connection"
        case .identityChanged: "your partner's identity key changed; open the chat again"
        case .tooManyPreKeys: "too many one-time prekeys; nothing was stored"
        case .noKeys: "this user has not published any keys"
        case .accountLocked: "this account is locked; ask the server's operator"
        case .passwordChangeRequired: "change your password first (passwd)"
        case .fileTooLarge: "the file is larger than this server accepts"
        case .filesFull: "the recipient has no room for more files; nothing was stored"
        case .unknownFile: "no such file"
        case .fileIDTaken: "this file id is already in use"
        case .chunkOutOfOrder: "chunks must be sent in order"
        case .unknown(let raw): "unknown error (\(raw))"
        }
    }

    /// Whether the server closes the connection right after sending this error.
    ///
    /// After these the stream cannot be trusted (an oversize line cannot be resynchronised) or the
    /// peer cannot be served (wrong version, persistent garbage). Every other error leaves the
    /// session open.
    public var closesConnection: Bool {
        switch self {
        case .frameTooLarge, .versionMismatch, .tooManyErrors, .timedOut: true
        default: false
        }
    }

    /// Whether the frame that caused this error counts as a bad frame towards `tooManyErrors`.
    ///
    /// Only malformed or out-of-order frames count: a client that keeps sending them is broken or
    /// hostile. Login failures are limited by throttling instead, and state errors such as
    /// `notLoggedIn` are ordinary user mistakes.
    public var countsAsBadFrame: Bool {
        switch self {
        case .invalidUTF8, .invalidJSON, .unknownType, .missingField, .invalidField,
            .helloRequired, .alreadyHello:
            true
        default:
            false
        }
    }
}

extension ErrorCode: RawRepresentable {
    /// Maps a wire code to a case; never fails, unknown codes become `.unknown(rawValue)`.
    public init(rawValue: String) {
        switch rawValue {
        case "frame_too_large": self = .frameTooLarge
        case "invalid_utf8": self = .invalidUTF8
        case "invalid_json": self = .invalidJSON
        case "unknown_type": self = .unknownType
        case "missing_field": self = .missingField
        case "invalid_field": self = .invalidField
        case "version_mismatch": self = .versionMismatch
        case "hello_required": self = .helloRequired
        case "already_hello": self = .alreadyHello
        case "not_logged_in": self = .notLoggedIn
        case "already_logged_in": self = .alreadyLoggedIn
        case "invalid_username": self = .invalidUsername
        case "invalid_password": self = .invalidPassword
        case "username_taken": self = .usernameTaken
        case "bad_credentials": self = .badCredentials
        case "throttled": self = .throttled
        case "too_many_errors": self = .tooManyErrors
        case "internal": self = .internal
        case "unknown_user": self = .unknownUser
        case "not_chatting": self = .notChatting
        case "invalid_message": self = .invalidMessage
        case "inbox_full": self = .inboxFull
        case "not_stored": self = .notStored
        case "rate_limited": self = .rateLimited
        case "timed_out": self = .timedOut
        case "identity_changed": self = .identityChanged
        case "too_many_prekeys": self = .tooManyPreKeys
        case "no_keys": self = .noKeys
        case "account_locked": self = .accountLocked
        case "password_change_required": self = .passwordChangeRequired
        case "file_too_large": self = .fileTooLarge
        case "files_full": self = .filesFull
        case "unknown_file": self = .unknownFile
        case "file_id_taken": self = .fileIDTaken
        case "chunk_out_of_order": self = .chunkOutOfOrder
        default: self = .unknown(rawValue)
        }
    }

    /// The snake_case code sent on the wire.
    public var rawValue: String {
        switch self {
        case .frameTooLarge: "frame_too_large"
        case .invalidUTF8: "invalid_utf8"
        case .invalidJSON: "invalid_json"
        case .unknownType: "unknown_type"
        case .missingField: "missing_field"
        case .invalidField: "invalid_field"
        case .versionMismatch: "version_mismatch"
        case .helloRequired: "hello_required"
        case .alreadyHello: "already_hello"
        case .notLoggedIn: "not_logged_in"
        case .alreadyLoggedIn: "already_logged_in"
        case .invalidUsername: "invalid_username"
        case .invalidPassword: "invalid_password"
        case .usernameTaken: "username_taken"
        case .badCredentials: "bad_credentials"
        case .throttled: "throttled"
        case .tooManyErrors: "too_many_errors"
        case .internal: "internal"
        case .unknownUser: "unknown_user"
        case .notChatting: "not_chatting"
        case .invalidMessage: "invalid_message"
        case .inboxFull: "inbox_full"
        case .notStored: "not_stored"
        case .rateLimited: "rate_limited"
        case .timedOut: "timed_out"
        case .identityChanged: "identity_changed"
        case .tooManyPreKeys: "too_many_prekeys"
        case .noKeys: "no_keys"
        case .accountLocked: "account_locked"
        case .passwordChangeRequired: "password_change_required"
        case .fileTooLarge: "file_too_large"
        case .filesFull: "files_full"
        case .unknownFile: "unknown_file"
        case .fileIDTaken: "file_id_taken"
        case .chunkOutOfOrder: "chunk_out_of_order"
        case .unknown(let raw): raw
        }
    }
}

extension ErrorCode: CustomStringConvertible {
    /// The wire code, so logs show what was sent.
    public var description: String { self.rawValue }
}

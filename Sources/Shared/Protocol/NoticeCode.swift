/// The reason carried by an unsolicited `notice` frame (`"code"` in JSON).
///
/// Like `ErrorCode`, codes from a newer server decode to `.unknown(rawValue)` rather than failing.
public enum NoticeCode: Hashable, Sendable {
    /// The same user logged in from another connection; this one is about to be closed.
    case displaced
    /// The server is shutting down; the connection is about to be closed.
    case shutdown
    /// A code this build does not know, kept verbatim.
    case unknown(String)

    /// Every code this build knows.
    public static let known: [NoticeCode] = [.displaced, .shutdown]

    /// A human-readable default text for the notice.
    public var defaultMessage: String {
        switch self {
        case .displaced: "logged in from elsewhere"
        case .shutdown: "server shutting down"
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
        default: self = .unknown(rawValue)
        }
    }

    /// The snake_case code sent on the wire.
    public var rawValue: String {
        switch self {
        case .displaced: "displaced"
        case .shutdown: "shutdown"
        case .unknown(let raw): raw
        }
    }
}

extension NoticeCode: CustomStringConvertible {
    /// The wire code, so logs show what was sent.
    public var description: String { self.rawValue }
}

/// A protocol-level failure: what an `error` frame carries, and what decoding a bad frame yields.
///
/// The server turns a decoding failure straight into its reply with `ServerFrame.error(_:)`, which is
/// why the request `id` is kept whenever it could be read: the client can match the error to the
/// request it sent. On the client side, a received `error` frame decodes to the same type.
public struct ProtocolError: Error, Hashable, Sendable {
    /// The machine-readable reason.
    public var code: ErrorCode
    /// Human-readable text, meant to be shown to the user as is.
    public var message: String
    /// The `id` of the request this answers, when the request had a readable one.
    public var id: Int?
    /// For `throttled`: seconds to wait before trying again (`retry_after` in JSON).
    public var retryAfter: Int?

    /// Creates an error; the message defaults to the code's `defaultMessage`.
    public init(_ code: ErrorCode, message: String? = nil, id: Int? = nil, retryAfter: Int? = nil) {
        self.code = code
        self.message = message ?? code.defaultMessage
        self.id = id
        self.retryAfter = retryAfter
    }
}

extension ProtocolError {
    /// A line exceeded `limit` bytes.
    public static func frameTooLarge(limit: Int) -> ProtocolError {
        ProtocolError(.frameTooLarge, message: "frame too large (limit \(limit) bytes)")
    }

    /// The frame has no `type`, or a required field is absent.
    public static func missingField(_ name: String, id: Int? = nil) -> ProtocolError {
        ProtocolError(.missingField, message: "missing field '\(name)'", id: id)
    }

    /// A field has the wrong JSON type or value; `expected` describes what was wanted.
    public static func invalidField(_ name: String, expected: String, id: Int? = nil) -> ProtocolError {
        ProtocolError(.invalidField, message: "invalid field '\(name)': expected \(expected)", id: id)
    }

    /// The frame's `type` is not known to the receiver.
    public static func unknownType(_ type: String, id: Int? = nil) -> ProtocolError {
        ProtocolError(.unknownType, message: "unknown frame type '\(type)'", id: id)
    }

    /// The peer speaks another protocol version.
    public static func versionMismatch(got: Int, supported: Int = ProtocolVersion.current) -> ProtocolError {
        ProtocolError(
            .versionMismatch,
            message: "unsupported protocol version \(got); this server speaks version \(supported)"
        )
    }

    /// Login refused for `seconds` more seconds after repeated failures.
    public static func throttled(retryAfter seconds: Int, id: Int? = nil) -> ProtocolError {
        ProtocolError(
            .throttled,
            message: "too many attempts, try again in \(seconds) s",
            id: id,
            retryAfter: seconds
        )
    }
}

extension ProtocolError: CustomStringConvertible {
    /// `code: message`, the form used in logs.
    public var description: String { "\(self.code.rawValue): \(self.message)" }
}

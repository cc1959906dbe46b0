import NIOCore

extension ServerFrame {
    /// Decodes one line (without its newline) received by the client.
    ///
    /// Same checks and error reporting as `ClientFrame.decode(_:)`. A client should skip frames that
    /// fail with `unknownType` rather than disconnect, so a newer server can add frames. Error and
    /// notice codes this build does not know decode to `.unknown(_)`.
    public static func decode(_ line: some Collection<UInt8>) -> Result<ServerFrame, ProtocolError> {
        FrameFields.parse(line).flatMap { fields in
            Result { () throws(ProtocolError) in try ServerFrame(fields) }
        }
    }

    /// Decodes one line held in a `ByteBuffer`, as `LineFrameDecoder` produces it.
    public static func decode(_ line: ByteBuffer) -> Result<ServerFrame, ProtocolError> {
        self.decode(line.readableBytesView)
    }

    private init(_ fields: FrameFields) throws(ProtocolError) {
        guard let kind = Kind(rawValue: fields.type) else {
            throw .unknownType(fields.type, id: fields.id)
        }
        switch kind {
        case .hello:
            self = .hello(version: try fields.int("version"), agent: try fields.string("agent"))
        case .ok:
            self = .ok(id: try fields.requiredID(), username: try fields.optionalString("username"))
        case .error:
            // `id` is optional here: errors about unreadable frames have none. A present but
            // non-integer id is still rejected, so a broken server is noticed.
            self = .error(
                ProtocolError(
                    ErrorCode(rawValue: try fields.string("code")),
                    message: try fields.string("message"),
                    id: try fields.optionalInt("id"),
                    retryAfter: try fields.optionalInt("retry_after")
                )
            )
        case .notice:
            self = .notice(
                code: NoticeCode(rawValue: try fields.string("code")),
                message: try fields.string("message")
            )
        }
    }

    /// The frame as compact JSON with sorted keys, without the trailing newline (the line encoder
    /// adds it).
    public func encode() -> [UInt8] {
        var builder = FrameBuilder(type: self.kind.rawValue)
        switch self {
        case .hello(let version, let agent):
            builder.set("version", version)
            builder.set("agent", agent)
        case .ok(let id, let username):
            builder.set("id", id)
            builder.set("username", username)
        case .error(let error):
            builder.set("id", error.id)
            builder.set("code", error.code.rawValue)
            builder.set("message", error.message)
            builder.set("retry_after", error.retryAfter)
        case .notice(let code, let message):
            builder.set("code", code.rawValue)
            builder.set("message", message)
        }
        return builder.serialize()
    }

    /// The encoded frame in a new `ByteBuffer`, ready to write through `LineFrameEncoder`.
    public func encode(allocator: ByteBufferAllocator) -> ByteBuffer {
        allocator.buffer(bytes: self.encode())
    }
}

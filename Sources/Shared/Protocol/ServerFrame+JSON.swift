import NIOCore

extension ServerFrame {
    /// Decodes one line (without its newline) received by the client.
    ///
    /// Same checks and error reporting as `ClientFrame.decode(_:)`. A client should skip frames that
    /// fail with `unknownType` rather than disconnect, so a newer server can add frames. Error and
    /// notice codes this build does not know decode to `.unknown(_)`.
    ///
    /// The frames of a conversation (`message`, `receipt`, `delivered`) take a fast path
    /// (`ServerFrameScanner`) that leaves everything else, and every refusal, to the general one.
    public static func decode(_ line: some Collection<UInt8>) -> Result<ServerFrame, ProtocolError> {
        if let frame = line.withContiguousStorageIfAvailable(ServerFrameScanner.frame(in:)) ?? nil {
            return .success(frame)
        }
        return self.decodeInGeneral(line)
    }

    /// Decodes one line held in a `ByteBuffer`, as `LineFrameDecoder` produces it.
    public static func decode(_ line: ByteBuffer) -> Result<ServerFrame, ProtocolError> {
        // ByteBuffer storage is bound to UInt8 (NIO binds it when allocating).
        let fast = line.withUnsafeReadableBytes { ServerFrameScanner.frame(in: $0.assumingMemoryBound(to: UInt8.self)) }
        if let fast {
            return .success(fast)
        }
        return self.decodeInGeneral(line.readableBytesView)
    }

    /// The general path: the whole line parsed to a `JSONValue`, then the fields read from it.
    /// Decides every line `ServerFrameScanner` leaves alone; internal so tests can hold the two
    /// paths against each other.
    static func decodeInGeneral(_ line: some Collection<UInt8>) -> Result<ServerFrame, ProtocolError> {
        FrameFields.parse(line).flatMap { fields in
            Result { () throws(ProtocolError) in try ServerFrame(fields) }
        }
    }

    private init(_ fields: FrameFields) throws(ProtocolError) {
        guard let kind = Kind(rawValue: fields.type) else {
            throw .unknownType(fields.type, id: fields.id)
        }
        switch kind {
        case .hello:
            self = .hello(version: try fields.int("version"), agent: try fields.string("agent"))
        case .ok:
            self = .ok(
                id: try fields.requiredID(), username: try fields.optionalString("username"),
                identityKey: try fields.optionalString("identity_key").map { _ throws(ProtocolError) in
                    try fields.base64("identity_key", length: PublishedKeys.publicKeyLength)
                },
                preKeys: try fields.optionalInt("prekeys"),
                mustChangePassword: try fields.optionalBool("must_change_password") ?? false)
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
        case .message:
            self = .message(
                ChatMessage(
                    id: try fields.string("message_id"),
                    from: try fields.string("from"),
                    body: try fields.string("body"),
                    sentAtMilliseconds: Int64(try fields.int("sent_at")),
                    stored: try fields.optionalBool("stored") ?? false,
                    seq: try fields.int("seq")))
        case .receipt:
            let statusText = try fields.string("status")
            guard let status = ReceiptStatus(rawValue: statusText) else {
                throw .invalidField("status", expected: "sent or stored", id: fields.id)
            }
            self = .receipt(id: try fields.optionalInt("id"), messageID: try fields.string("message_id"), status: status)
        case .delivered:
            self = .delivered(messageIDs: try fields.strings("message_ids"))
        case .inbox:
            self = .inbox(
                id: try fields.optionalInt("id"), counts: try fields.intObject("counts"),
                expired: try fields.optionalInt("expired") ?? 0)
        case .who:
            let users = try fields.stringObjects("users").compactMap { entry -> PresenceEntry? in
                guard let name = entry["username"] else { return nil }
                return PresenceEntry(
                    username: name, status: PresenceEntry.Status(rawValue: entry["status"] ?? "") ?? .free)
            }
            self = .who(id: try fields.requiredID(), users: users)
        case .keys:
            self = .keys(id: try fields.requiredID(), bundle: try PublishedBundle(fields))
        case .upload:
            self = .upload(id: try fields.requiredID(), file: try fields.string("file"), stored: try fields.int("stored"))
        case .chunk:
            self = .chunk(file: try fields.string("file"), index: try fields.int("index"), data: try fields.string("data"))
        case .fileOutcome:
            let text = try fields.string("outcome")
            guard let outcome = FileOutcome(rawValue: text) else {
                throw .invalidField("outcome", expected: "delivered, rejected or expired", id: fields.id)
            }
            self = .fileOutcome(file: try fields.string("file"), username: try fields.string("username"), outcome: outcome)
        }
    }

    /// The frame as compact JSON with sorted keys, without the trailing newline (the line encoder
    /// adds it).
    public func encode() -> [UInt8] {
        Array(self.encode(allocator: ByteBufferAllocator()).readableBytesView)
    }

    /// The encoded frame in a new `ByteBuffer`, ready to write through `LineFrameEncoder`.
    public func encode(allocator: ByteBufferAllocator) -> ByteBuffer {
        self.encodedBuffer(allocator: allocator)
    }
}

extension ServerFrame: EncodableFrame {
    func build(into builder: inout some FrameBuilder) {
        // Members in byte order of their names, "type" included (FrameWriter checks it). Type
        // and status as constants: `kind.rawValue` would make a String each time.
        switch self {
        case .hello(let version, let agent):
            builder.set("agent", agent)
            builder.set("type", constant: "hello")
            builder.set("version", version)
        case .ok(let id, let username, let identityKey, let preKeys, let mustChangePassword):
            builder.set("id", id)
            builder.set("identity_key", identityKey.map(Base64.encode))
            // Absent when false: only the operator's one-time passwords set it.
            builder.set("must_change_password", mustChangePassword ? true : nil)
            builder.set("prekeys", preKeys)
            builder.set("type", constant: "ok")
            builder.set("username", username)
        case .error(let error):
            builder.set("code", error.code.rawValue)
            builder.set("id", error.id)
            builder.set("message", error.message)
            builder.set("retry_after", error.retryAfter)
            builder.set("type", constant: "error")
        case .notice(let code, let message):
            builder.set("code", code.rawValue)
            builder.set("message", message)
            builder.set("type", constant: "notice")
        case .message(let message):
            builder.set("body", message.body)
            builder.set("from", message.from)
            builder.set("message_id", message.id)
            builder.set("sent_at", Int(message.sentAtMilliseconds))
            builder.set("seq", message.seq)
            builder.set("stored", message.stored)
            builder.set("type", constant: "message")
        case .receipt(let id, let messageID, let status):
            builder.set("id", id)
            builder.set("message_id", messageID)
            switch status {
            case .sent: builder.set("status", constant: "sent")
            case .stored: builder.set("status", constant: "stored")
            }
            builder.set("type", constant: "receipt")
        case .delivered(let messageIDs):
            builder.set("message_ids", messageIDs)
            builder.set("type", constant: "delivered")
        case .inbox(let id, let counts, let expired):
            builder.set("counts", counts)
            builder.set("expired", expired)
            builder.set("id", id)
            builder.set("type", constant: "inbox")
        case .who(let id, let users):
            builder.set("id", id)
            builder.set("type", constant: "who")
            builder.set("users", users.map { ["username": $0.username, "status": $0.status.rawValue] })
        case .keys(let id, let bundle):
            builder.set("id", id)
            builder.set("identity_key", Base64.encode(bundle.identityKey))
            if let preKey = bundle.preKey {
                builder.set("prekey", object: { preKey.build(into: &$0) })
            }
            builder.set("registration_id", bundle.registrationID)
            builder.set("signed_prekey", object: { bundle.signedPreKey.build(into: &$0) })
            builder.set("type", constant: "keys")
            builder.set("username", bundle.username)
        case .upload(let id, let file, let stored):
            builder.set("file", file)
            builder.set("id", id)
            builder.set("stored", stored)
            builder.set("type", constant: "upload")
        case .chunk(let file, let index, let data):
            builder.set("data", data)
            builder.set("file", file)
            builder.set("index", index)
            builder.set("type", constant: "chunk")
        case .fileOutcome(let file, let username, let outcome):
            builder.set("file", file)
            builder.set("outcome", outcome.rawValue)
            builder.set("type", constant: "file_outcome")
            builder.set("username", username)
        }
    }
}

import NIOCore

extension ClientFrame {
    /// Decodes one line (without its newline) received by the server.
    ///
    /// Checks, in order: UTF-8, JSON object, `type`, then the type's fields. The failure carries the
    /// request `id` whenever one could be read, so `ServerFrame.error(_:)` can echo it. Unknown
    /// extra fields are ignored, so a newer client can add optional fields.
    ///
    /// The server decodes every line through here, so the usual frames take a fast path
    /// (`ClientFrameScanner`) that leaves everything else, and every refusal, to the general one.
    public static func decode(_ line: some Collection<UInt8>) -> Result<ClientFrame, ProtocolError> {
        if let frame = line.withContiguousStorageIfAvailable(ClientFrameScanner.frame(in:)) ?? nil {
            return .success(frame)
        }
        return self.decodeInGeneral(line)
    }

    /// Decodes one line held in a `ByteBuffer`, as `LineFrameDecoder` produces it.
    public static func decode(_ line: ByteBuffer) -> Result<ClientFrame, ProtocolError> {
        // ByteBuffer storage is bound to UInt8 (NIO binds it when allocating).
        let fast = line.withUnsafeReadableBytes { ClientFrameScanner.frame(in: $0.assumingMemoryBound(to: UInt8.self)) }
        if let fast {
            return .success(fast)
        }
        return self.decodeInGeneral(line.readableBytesView)
    }

    /// The general path: the whole line parsed to a `JSONValue`, then the fields read from it.
    /// Decides every line `ClientFrameScanner` leaves alone; internal so tests can hold the two
    /// paths against each other.
    static func decodeInGeneral(_ line: some Collection<UInt8>) -> Result<ClientFrame, ProtocolError> {
        FrameFields.parse(line).flatMap { fields in
            Result { () throws(ProtocolError) in try ClientFrame(fields) }
        }
    }

    private init(_ fields: FrameFields) throws(ProtocolError) {
        guard let kind = Kind(rawValue: fields.type) else {
            throw .unknownType(fields.type, id: fields.id)
        }
        switch kind {
        case .hello:
            self = .hello(version: try fields.int("version"), agent: try fields.string("agent"))
        case .register:
            self = .register(
                id: try fields.requiredID(),
                username: try fields.string("username"),
                password: try fields.string("password")
            )
        case .login:
            self = .login(
                id: try fields.requiredID(),
                username: try fields.string("username"),
                password: try fields.string("password")
            )
        case .logout:
            self = .logout(id: try fields.requiredID())
        case .ping:
            self = .ping(id: try fields.requiredID())
        case .chat:
            self = .chat(id: try fields.requiredID(), with: try fields.string("with"))
        case .leave:
            self = .leave(id: try fields.requiredID())
        case .send:
            self = .send(id: try fields.requiredID(), body: try fields.string("body"))
        case .ack:
            self = .ack(seq: try fields.int("seq"))
        case .who:
            self = .who(id: try fields.requiredID())
        case .inbox:
            self = .inbox(id: try fields.requiredID())
        case .passwd:
            self = .passwd(
                id: try fields.requiredID(),
                password: try fields.string("password"),
                newPassword: try fields.string("new_password")
            )
        case .publishKeys:
            self = .publishKeys(id: try fields.requiredID(), keys: try PublishedKeys(fields))
        case .fetchKeys:
            self = .fetchKeys(id: try fields.requiredID(), username: try fields.string("username"))
        case .deleteAccount:
            self = .deleteAccount(id: try fields.requiredID(), password: try fields.string("password"))
        case .upload:
            self = .upload(
                id: try fields.requiredID(), file: try fields.string("file"), to: try fields.string("to"),
                size: try fields.int("size"), chunks: try fields.int("chunks"))
        case .chunk:
            self = .chunk(
                id: try fields.requiredID(), file: try fields.string("file"), index: try fields.int("index"),
                data: try fields.string("data"))
        case .download:
            self = .download(
                id: try fields.requiredID(), file: try fields.string("file"), from: try fields.int("from"),
                count: try fields.int("count"))
        case .fileDone:
            let outcome = try fields.string("outcome")
            guard outcome == "received" || outcome == "rejected" else {
                throw .invalidField("outcome", expected: "received or rejected", id: fields.id)
            }
            self = .fileDone(id: try fields.requiredID(), file: try fields.string("file"), received: outcome == "received")
        case .fileForget:
            self = .fileForget(id: try fields.requiredID(), file: try fields.string("file"))
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

extension ClientFrame: EncodableFrame {
    func build(into builder: inout some FrameBuilder) {
        // Members in byte order of their names, "type" included (FrameWriter checks it). The
        // type as a constant: `kind.rawValue` would make a String each time.
        let type: StaticString =
            switch self.kind {
            case .hello: "hello"
            case .register: "register"
            case .login: "login"
            case .logout: "logout"
            case .ping: "ping"
            case .chat: "chat"
            case .leave: "leave"
            case .send: "send"
            case .ack: "ack"
            case .who: "who"
            case .inbox: "inbox"
            case .passwd: "passwd"
            case .publishKeys: "publish_keys"
            case .fetchKeys: "fetch_keys"
            case .deleteAccount: "delete_account"
            case .upload: "upload"
            case .chunk: "chunk"
            case .download: "download"
            case .fileDone: "file_done"
            case .fileForget: "file_forget"
            }
        switch self {
        case .hello(let version, let agent):
            builder.set("agent", agent)
            builder.set("type", constant: type)
            builder.set("version", version)
        case .register(let id, let username, let password), .login(let id, let username, let password):
            builder.set("id", id)
            builder.set("password", password)
            builder.set("type", constant: type)
            builder.set("username", username)
        case .logout(let id), .ping(let id), .leave(let id), .who(let id), .inbox(let id):
            builder.set("id", id)
            builder.set("type", constant: type)
        case .chat(let id, let with):
            builder.set("id", id)
            builder.set("type", constant: type)
            builder.set("with", with)
        case .send(let id, let body):
            builder.set("body", body)
            builder.set("id", id)
            builder.set("type", constant: type)
        case .ack(let seq):
            builder.set("seq", seq)
            builder.set("type", constant: type)
        case .passwd(let id, let password, let newPassword):
            builder.set("id", id)
            builder.set("new_password", newPassword)
            builder.set("password", password)
            builder.set("type", constant: type)
        case .publishKeys(let id, let keys):
            builder.set("id", id)
            builder.set("identity_key", Base64.encode(keys.identityKey))
            builder.set("prekeys", objects: keys.preKeys) { preKey, builder in preKey.build(into: &builder) }
            builder.set("registration_id", keys.registrationID)
            builder.set("signed_prekey", object: { keys.signedPreKey.build(into: &$0) })
            builder.set("type", constant: type)
        case .fetchKeys(let id, let username):
            builder.set("id", id)
            builder.set("type", constant: type)
            builder.set("username", username)
        case .deleteAccount(let id, let password):
            builder.set("id", id)
            builder.set("password", password)
            builder.set("type", constant: type)
        case .upload(let id, let file, let to, let size, let chunks):
            builder.set("chunks", chunks)
            builder.set("file", file)
            builder.set("id", id)
            builder.set("size", size)
            builder.set("to", to)
            builder.set("type", constant: type)
        case .chunk(let id, let file, let index, let data):
            builder.set("data", data)
            builder.set("file", file)
            builder.set("id", id)
            builder.set("index", index)
            builder.set("type", constant: type)
        case .download(let id, let file, let from, let count):
            builder.set("count", count)
            builder.set("file", file)
            builder.set("from", from)
            builder.set("id", id)
            builder.set("type", constant: type)
        case .fileDone(let id, let file, let received):
            builder.set("file", file)
            builder.set("id", id)
            builder.set("outcome", received ? "received" : "rejected")
            builder.set("type", constant: type)
        case .fileForget(let id, let file):
            builder.set("file", file)
            builder.set("id", id)
            builder.set("type", constant: type)
        }
    }
}

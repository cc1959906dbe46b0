import NIOCore

@testable import Shared

/// The frame encoder as it was before `FrameSizer` and `FrameWriter` (commit 1e5067d), kept
/// verbatim as an oracle: the new encoder must write exactly its bytes.
///
/// The wire format is compact JSON with keys in byte order, exactly what Foundation's
/// `JSONEncoder` wrote with `.sortedKeys` and `.withoutEscapingSlashes` (tests compare the two
/// byte for byte). Callers set the members in that order; debug builds check it. Absent
/// optional fields (nil) are left out, not sent as null.
///
/// Each member is sized exactly first and then written through one raw pointer, so the
/// buffer's capacity and uniqueness are checked once per member, not once per byte.
struct LegacyFrameBuilder {
    private(set) var buffer: ByteBuffer
    private var isEmpty = true
    #if DEBUG
    private var lastName: StaticString?
    #endif

    /// Starts an object in a new buffer with room for `capacity` bytes.
    ///
    /// The buffer is made here, not passed in, so it is uniquely owned and every write goes in
    /// place (a buffer the caller still held would be copied on the first write).
    init(allocator: ByteBufferAllocator, capacity: Int) {
        var buffer = allocator.buffer(capacity: capacity)
        buffer.writeInteger(UInt8(ascii: "{"))
        self.buffer = buffer
    }

    /// Sets an integer field; nil leaves it out.
    mutating func set(_ name: StaticString, _ value: Int?) {
        guard let value else { return }
        member(name, valueBytes: LegacyJSONOutput.integerBytes(value)) { $0.integer(value) }
    }

    /// Sets a string field; nil leaves it out.
    mutating func set(_ name: StaticString, _ value: String?) {
        guard var value else { return }
        value.withUTF8 { utf8 in
            member(name, valueBytes: LegacyJSONOutput.stringBytes(utf8)) { $0.string(utf8) }
        }
    }

    /// Sets a boolean field; nil leaves it out.
    mutating func set(_ name: StaticString, _ value: Bool?) {
        guard let value else { return }
        member(name, valueBytes: 5) { $0.staticString(value ? "true" : "false") }
    }

    /// Sets an object of integers (e.g. message counts per sender), its keys in byte order.
    mutating func set(_ name: StaticString, _ value: [String: Int]) {
        member(name, valueBytes: 1) { $0.byte(UInt8(ascii: "{")) }
        for (offset, key) in value.keys.sorted(by: Self.byteOrder).enumerated() {
            var key = key
            let number = value[key]!
            key.withUTF8 { utf8 in
                raw(bytes: 2 + LegacyJSONOutput.stringBytes(utf8) + LegacyJSONOutput.integerBytes(number)) { output in
                    if offset > 0 { output.byte(UInt8(ascii: ",")) }
                    output.string(utf8)
                    output.byte(UInt8(ascii: ":"))
                    output.integer(number)
                }
            }
        }
        buffer.writeInteger(UInt8(ascii: "}"))
    }

    /// Sets an array of objects of strings (e.g. the `who` list), each object's keys in byte order.
    mutating func set(_ name: StaticString, _ value: [[String: String]]) {
        member(name, valueBytes: 1) { $0.byte(UInt8(ascii: "[")) }
        for (index, object) in value.enumerated() {
            buffer.writeStaticString(index > 0 ? ",{" : "{")
            for (offset, key) in object.keys.sorted(by: Self.byteOrder).enumerated() {
                var key = key
                var text = object[key]!
                key.withUTF8 { keyUTF8 in
                    text.withUTF8 { textUTF8 in
                        raw(bytes: 2 + LegacyJSONOutput.stringBytes(keyUTF8) + LegacyJSONOutput.stringBytes(textUTF8)) { output in
                            if offset > 0 { output.byte(UInt8(ascii: ",")) }
                            output.string(keyUTF8)
                            output.byte(UInt8(ascii: ":"))
                            output.string(textUTF8)
                        }
                    }
                }
            }
            buffer.writeInteger(UInt8(ascii: "}"))
        }
        buffer.writeInteger(UInt8(ascii: "]"))
    }

    /// Sets an array of strings, in the given order.
    mutating func set(_ name: StaticString, _ value: [String]) {
        member(name, valueBytes: 1) { $0.byte(UInt8(ascii: "[")) }
        for (index, text) in value.enumerated() {
            var text = text
            text.withUTF8 { utf8 in
                raw(bytes: 1 + LegacyJSONOutput.stringBytes(utf8)) { output in
                    if index > 0 { output.byte(UInt8(ascii: ",")) }
                    output.string(utf8)
                }
            }
        }
        buffer.writeInteger(UInt8(ascii: "]"))
    }

    /// Closes the object and returns the buffer. Mutating rather than consuming: a consuming
    /// method copied the buffer out of `self` before the last write, which then had to copy
    /// the whole frame because two references to its storage were alive.
    mutating func finish() -> ByteBuffer {
        raw(bytes: 1) { $0.byte(UInt8(ascii: "}")) }
        return buffer
    }

    /// Writes `"name":` (after a comma unless first) and the value `body` writes, in at most
    /// `valueBytes` bytes. Member names are code constants: plain ASCII needing no escapes.
    private mutating func member(_ name: StaticString, valueBytes: Int, _ body: (inout LegacyJSONOutput) -> Void) {
        #if DEBUG
        if let lastName {
            assert(Self.byteOrder(lastName, name), "frame members out of order: \(lastName) before \(name)")
        }
        lastName = name
        #endif
        let first = isEmpty
        isEmpty = false
        raw(bytes: 4 + name.utf8CodeUnitCount + valueBytes) { output in
            if !first { output.byte(UInt8(ascii: ",")) }
            output.byte(UInt8(ascii: "\""))
            output.staticString(name)
            output.byte(UInt8(ascii: "\""))
            output.byte(UInt8(ascii: ":"))
            body(&output)
        }
    }

    /// Runs `body` on raw space for at least `bytes` bytes at the end of the buffer.
    private mutating func raw(bytes: Int, _ body: (inout LegacyJSONOutput) -> Void) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: bytes) { space in
            var output = LegacyJSONOutput(space)
            body(&output)
            return output.count
        }
    }

    /// The order JSONEncoder's `.sortedKeys` produced: by UTF-8 bytes.
    static func byteOrder(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    #if DEBUG
    private static func byteOrder(_ a: StaticString, _ b: StaticString) -> Bool {
        UnsafeBufferPointer(start: a.utf8Start, count: a.utf8CodeUnitCount)
            .lexicographicallyPrecedes(UnsafeBufferPointer(start: b.utf8Start, count: b.utf8CodeUnitCount))
    }
    #endif
}

/// JSON bytes written through a raw pointer into space sized beforehand (`FrameBuilder` asks the
/// buffer for it); writing past that space is a programming error, caught in debug builds.
struct LegacyJSONOutput {
    private let space: UnsafeMutableRawBufferPointer
    /// Bytes written so far.
    private(set) var count = 0

    init(_ space: UnsafeMutableRawBufferPointer) {
        self.space = space
    }

    mutating func byte(_ byte: UInt8) {
        assert(count < space.count, "LegacyJSONOutput overflow")
        space[count] = byte
        count += 1
    }

    mutating func bytes(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard !bytes.isEmpty else { return }
        assert(count + bytes.count <= space.count, "LegacyJSONOutput overflow")
        UnsafeMutableRawBufferPointer(rebasing: space[count..<(count + bytes.count)]).copyMemory(from: UnsafeRawBufferPointer(bytes))
        count += bytes.count
    }

    mutating func staticString(_ text: StaticString) {
        bytes(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// Bytes `integer(value)` will write.
    static func integerBytes(_ value: Int) -> Int {
        (value < 0 ? 1 : 0) + digits(value.magnitude)
    }

    private static func digits(_ magnitude: UInt) -> Int {
        var digits = 1
        var scale: UInt = 10
        // Int's magnitude has at most 19 digits, and 10^19 still fits in a UInt.
        while magnitude >= scale && digits < 19 {
            digits += 1
            scale &*= 10
        }
        return digits
    }

    /// `value` in decimal.
    mutating func integer(_ value: Int) {
        var magnitude = value.magnitude
        let digits = Self.digits(magnitude)
        if value < 0 { byte(UInt8(ascii: "-")) }
        assert(count + digits <= space.count, "LegacyJSONOutput overflow")
        var position = count + digits
        repeat {
            position -= 1
            space[position] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
        } while magnitude > 0
        count += digits
    }

    /// Bytes `string(utf8)` will write: the quotes, and each byte or its escape.
    static func stringBytes(_ utf8: UnsafeBufferPointer<UInt8>) -> Int {
        var total = utf8.count + 2
        for byte in utf8 where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
            total += Self.escapeBytes(byte) - 1
        }
        return total
    }

    /// `utf8` as a JSON string: `"` and `\` escaped, the control characters U+0000 to U+001F as
    /// `\b \t \n \f \r` or `\u00xx`, everything else (`/`, DEL, non-ASCII) as is. The output
    /// therefore never holds a raw newline, which would split a frame.
    mutating func string(_ utf8: UnsafeBufferPointer<UInt8>) {
        byte(UInt8(ascii: "\""))
        var runStart = 0
        for index in 0..<utf8.count {
            let byte = utf8[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            bytes(UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
            runStart = index + 1
            escape(byte)
        }
        bytes(UnsafeBufferPointer(rebasing: utf8[runStart...]))
        byte(UInt8(ascii: "\""))
    }

    private static func escapeBytes(_ byte: UInt8) -> Int {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x08, 0x09, 0x0A, 0x0C, 0x0D: 2
        default: 6
        }
    }

    private mutating func escape(_ character: UInt8) {
        switch character {
        case UInt8(ascii: "\""): staticString("\\\"")
        case UInt8(ascii: "\\"): staticString("\\\\")
        case 0x08: staticString("\\b")
        case 0x09: staticString("\\t")
        case 0x0A: staticString("\\n")
        case 0x0C: staticString("\\f")
        case 0x0D: staticString("\\r")
        default:
            let hex: StaticString = "0123456789abcdef"
            staticString("\\u00")
            byte(hex.utf8Start[Int(character >> 4)])
            byte(hex.utf8Start[Int(character & 0x0F)])
        }
    }
}

/// The frames' `encode(allocator:)` as they were, over `LegacyFrameBuilder`.
enum LegacyFrameEncoding {
    static func encode(_ frame: ServerFrame) -> [UInt8] {
        var builder = LegacyFrameBuilder(allocator: ByteBufferAllocator(), capacity: 16)
        let type = frame.kind.rawValue
        switch frame {
        case .hello(let version, let agent):
            builder.set("agent", agent)
            builder.set("type", type)
            builder.set("version", version)
        case .ok(let id, let username, let identityKey, let preKeys, let mustChangePassword):
            builder.set("id", id)
            builder.set("identity_key", identityKey.map(Base64.encode))
            builder.set("must_change_password", mustChangePassword ? true : nil)
            builder.set("prekeys", preKeys)
            builder.set("type", type)
            builder.set("username", username)
        case .error(let error):
            builder.set("code", error.code.rawValue)
            builder.set("id", error.id)
            builder.set("message", error.message)
            builder.set("retry_after", error.retryAfter)
            builder.set("type", type)
        case .notice(let code, let message):
            builder.set("code", code.rawValue)
            builder.set("message", message)
            builder.set("type", type)
        case .message(let message):
            builder.set("body", message.body)
            builder.set("from", message.from)
            builder.set("message_id", message.id)
            builder.set("sent_at", Int(message.sentAtMilliseconds))
            builder.set("seq", message.seq)
            builder.set("stored", message.stored)
            builder.set("type", type)
        case .receipt(let id, let messageID, let status):
            builder.set("id", id)
            builder.set("message_id", messageID)
            builder.set("status", status.rawValue)
            builder.set("type", type)
        case .delivered(let messageIDs):
            builder.set("message_ids", messageIDs)
            builder.set("type", type)
        case .inbox(let id, let counts, let expired):
            builder.set("counts", counts)
            builder.set("expired", expired)
            builder.set("id", id)
            builder.set("type", type)
        case .who(let id, let users):
            builder.set("id", id)
            builder.set("type", type)
            builder.set("users", users.map { ["username": $0.username, "status": $0.status.rawValue] })
        case .keys:
            preconditionFailure("nested objects came after this encoder: FoundationJSONOracle checks the key frames")
        case .upload(let id, let file, let stored):
            builder.set("file", file)
            builder.set("id", id)
            builder.set("stored", stored)
            builder.set("type", type)
        case .chunk(let file, let index, let data):
            builder.set("data", data)
            builder.set("file", file)
            builder.set("index", index)
            builder.set("type", type)
        case .fileOutcome(let file, let username, let outcome):
            builder.set("file", file)
            builder.set("outcome", outcome.rawValue)
            builder.set("type", type)
            builder.set("username", username)
        }
        return Array(builder.finish().readableBytesView)
    }

    static func encode(_ frame: ClientFrame) -> [UInt8] {
        var builder = LegacyFrameBuilder(allocator: ByteBufferAllocator(), capacity: 16)
        let type = frame.kind.rawValue
        switch frame {
        case .hello(let version, let agent):
            builder.set("agent", agent)
            builder.set("type", type)
            builder.set("version", version)
        case .register(let id, let username, let password), .login(let id, let username, let password):
            builder.set("id", id)
            builder.set("password", password)
            builder.set("type", type)
            builder.set("username", username)
        case .logout(let id), .ping(let id), .leave(let id), .who(let id), .inbox(let id):
            builder.set("id", id)
            builder.set("type", type)
        case .chat(let id, let with):
            builder.set("id", id)
            builder.set("type", type)
            builder.set("with", with)
        case .send(let id, let body):
            builder.set("body", body)
            builder.set("id", id)
            builder.set("type", type)
        case .ack(let seq):
            builder.set("seq", seq)
            builder.set("type", type)
        case .passwd(let id, let password, let newPassword):
            builder.set("id", id)
            builder.set("new_password", newPassword)
            builder.set("password", password)
            builder.set("type", type)
        case .fetchKeys(let id, let username):
            builder.set("id", id)
            builder.set("type", type)
            builder.set("username", username)
        case .deleteAccount(let id, let password):
            builder.set("id", id)
            builder.set("password", password)
            builder.set("type", type)
        case .publishKeys:
            preconditionFailure("nested objects came after this encoder: FoundationJSONOracle checks the key frames")
        case .upload(let id, let file, let to, let size, let chunks):
            builder.set("chunks", chunks)
            builder.set("file", file)
            builder.set("id", id)
            builder.set("size", size)
            builder.set("to", to)
            builder.set("type", type)
        case .chunk(let id, let file, let index, let data):
            builder.set("data", data)
            builder.set("file", file)
            builder.set("id", id)
            builder.set("index", index)
            builder.set("type", type)
        case .download(let id, let file, let from, let count):
            builder.set("count", count)
            builder.set("file", file)
            builder.set("from", from)
            builder.set("id", id)
            builder.set("type", type)
        case .fileDone(let id, let file, let received):
            builder.set("file", file)
            builder.set("id", id)
            builder.set("outcome", received ? "received" : "rejected")
            builder.set("type", type)
        case .fileForget(let id, let file):
            builder.set("file", file)
            builder.set("id", id)
            builder.set("type", type)
        }
        return Array(builder.finish().readableBytesView)
    }
}

import NIOCore

/// Writes the JSON object of an outgoing frame straight into a `ByteBuffer`: no intermediate
/// tree, no dictionary, no sorting at run time.
///
/// The wire format is compact JSON with keys in byte order, exactly what Foundation's
/// `JSONEncoder` wrote with `.sortedKeys` and `.withoutEscapingSlashes` (tests compare the two
/// byte for byte). Callers set the members in that order; debug builds check it. Absent
/// optional fields (nil) are left out, not sent as null.
struct FrameBuilder {
    private(set) var buffer: ByteBuffer
    private var isEmpty = true
    #if DEBUG
    private var lastName: StaticString?
    #endif

    /// Starts an object in `buffer`, after whatever it already holds.
    init(buffer: ByteBuffer) {
        self.buffer = buffer
        self.buffer.writeInteger(UInt8(ascii: "{"))
    }

    /// Sets an integer field; nil leaves it out.
    mutating func set(_ name: StaticString, _ value: Int?) {
        guard let value else { return }
        writeName(name)
        buffer.writeJSONInteger(value)
    }

    /// Sets a string field; nil leaves it out.
    mutating func set(_ name: StaticString, _ value: String?) {
        guard let value else { return }
        writeName(name)
        buffer.writeJSONString(value)
    }

    /// Sets a boolean field; nil leaves it out.
    mutating func set(_ name: StaticString, _ value: Bool?) {
        guard let value else { return }
        writeName(name)
        buffer.writeStaticString(value ? "true" : "false")
    }

    /// Sets an object of integers (e.g. message counts per sender), its keys in byte order.
    mutating func set(_ name: StaticString, _ value: [String: Int]) {
        writeName(name)
        buffer.writeInteger(UInt8(ascii: "{"))
        for (offset, key) in value.keys.sorted(by: Self.byteOrder).enumerated() {
            if offset > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeJSONString(key)
            buffer.writeInteger(UInt8(ascii: ":"))
            buffer.writeJSONInteger(value[key]!)
        }
        buffer.writeInteger(UInt8(ascii: "}"))
    }

    /// Sets an array of objects of strings (e.g. the `who` list), each object's keys in byte order.
    mutating func set(_ name: StaticString, _ value: [[String: String]]) {
        writeName(name)
        buffer.writeInteger(UInt8(ascii: "["))
        for (index, object) in value.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeInteger(UInt8(ascii: "{"))
            for (offset, key) in object.keys.sorted(by: Self.byteOrder).enumerated() {
                if offset > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                buffer.writeJSONString(key)
                buffer.writeInteger(UInt8(ascii: ":"))
                buffer.writeJSONString(object[key]!)
            }
            buffer.writeInteger(UInt8(ascii: "}"))
        }
        buffer.writeInteger(UInt8(ascii: "]"))
    }

    /// Closes the object and returns the buffer.
    consuming func finish() -> ByteBuffer {
        buffer.writeInteger(UInt8(ascii: "}"))
        return buffer
    }

    /// Member names are code constants: plain ASCII needing no escapes.
    private mutating func writeName(_ name: StaticString) {
        #if DEBUG
        if let lastName {
            assert(Self.byteOrder(lastName, name), "frame members out of order: \(lastName) before \(name)")
        }
        lastName = name
        #endif
        if isEmpty {
            isEmpty = false
        } else {
            buffer.writeInteger(UInt8(ascii: ","))
        }
        buffer.writeInteger(UInt8(ascii: "\""))
        buffer.writeStaticString(name)
        buffer.writeInteger(UInt8(ascii: "\""))
        buffer.writeInteger(UInt8(ascii: ":"))
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

extension ByteBuffer {
    /// Writes `value` in decimal, without going through `String`.
    mutating func writeJSONInteger(_ value: Int) {
        // Int.min has 19 digits and a sign.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var magnitude = value.magnitude
            var start = digits.count
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 {
                start -= 1
                digits[start] = UInt8(ascii: "-")
            }
            writeBytes(UnsafeBufferPointer(rebasing: digits[start...]))
        }
    }

    /// Writes `string` as a JSON string: `"` and `\` escaped, the control characters U+0000 to
    /// U+001F as `\b \t \n \f \r` or `\u00xx`, everything else (`/`, DEL, non-ASCII) as is.
    /// Output therefore never holds a raw newline, which would split a frame.
    mutating func writeJSONString(_ string: String) {
        writeInteger(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { utf8 in
            var runStart = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                writeBytes(UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                runStart = index + 1
                writeJSONEscape(byte)
            }
            writeBytes(UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        writeInteger(UInt8(ascii: "\""))
    }

    private mutating func writeJSONEscape(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): writeStaticString("\\\"")
        case UInt8(ascii: "\\"): writeStaticString("\\\\")
        case 0x08: writeStaticString("\\b")
        case 0x09: writeStaticString("\\t")
        case 0x0A: writeStaticString("\\n")
        case 0x0C: writeStaticString("\\f")
        case 0x0D: writeStaticString("\\r")
        default:
            let hex: StaticString = "0123456789abcdef"
            writeStaticString("\\u00")
            writeInteger(hex.utf8Start[Int(byte >> 4)])
            writeInteger(hex.utf8Start[Int(byte & 0x0F)])
        }
    }
}

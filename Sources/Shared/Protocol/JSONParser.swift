/// Why `JSONParser` refused a document. `offset` is the byte where parsing stopped.
enum JSONParseError: Error, Hashable, Sendable {
    /// The input ended inside a value.
    case unexpectedEnd
    /// A byte that cannot start or continue what was being parsed.
    case unexpectedByte(offset: Int)
    /// A complete value was followed by something other than whitespace.
    case trailingBytes(offset: Int)
    /// Arrays and objects nested deeper than `JSONParser.maximumDepth`.
    case tooDeep(offset: Int)
    /// An object named the same member twice.
    case duplicateMember(String)
    /// A number whose magnitude is beyond `Double` (`1e400`).
    case numberOutOfRange(offset: Int)
    /// A bad escape: unknown letter, bad hex digits, or a UTF-16 surrogate without its partner.
    case invalidEscape(offset: Int)
    /// An unescaped control character (U+0000 to U+001F) inside a string.
    case controlCharacter(offset: Int)
    /// Bytes inside a string that are not UTF-8.
    case invalidUTF8(offset: Int)
}

/// A strict RFC 8259 JSON parser over UTF-8 bytes, written for frames: one pass, no Foundation,
/// no intermediate token list, strings without escapes copied straight from the input.
///
/// Accepts exactly one value (any type, as JSON allows) with optional whitespace around it, and
/// a leading byte-order mark (RFC 8259 allows ignoring it; Foundation did). Refuses trailing
/// commas, comments, single quotes, `NaN`, leading zeros, leading `+`, unescaped control
/// characters, lone surrogates, invalid UTF-8, duplicate member names (which two parsers could
/// read differently), numbers beyond `Double`, and nesting deeper than `maximumDepth`.
///
/// Numbers follow the rule the Foundation-based decoder had, so ids and counts decode the same:
/// a number with an integral value that fits `Int` is `.int` (`7`, `7.0`, `7e0`, `-0`); an
/// integer written without fraction or exponent that does not fit `Int` is `.double`; anything
/// else is `.double`, correctly rounded.
///
/// Recursive, with the depth bounded, so a line of 60,000 `[` fails cleanly instead of
/// overflowing the stack.
struct JSONParser {
    /// Deepest nesting of arrays and objects accepted (Foundation's scanner allowed the same).
    static let maximumDepth = 512

    // Internal rather than private, with the scanning steps below, so that `ClientFrameScanner`
    // reads the hot frames with exactly these rules instead of a copy of them.
    let bytes: UnsafeBufferPointer<UInt8>
    /// The next byte to read.
    var index = 0
    private var depth = 0
    /// Reused for strings with escapes, so only the final `String` is allocated per string.
    private var scratch: [UInt8] = []

    /// A parser at the start of `bytes`, past a byte-order mark if there is one.
    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            self.index = 3
        }
    }

    /// Parses `bytes` as one complete JSON document.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> JSONValue {
        var parser = JSONParser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue()
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw .trailingBytes(offset: parser.index) }
        return value
    }

    // MARK: - Structure

    /// Parses the value starting at `index` (after whitespace), nested containers counting
    /// towards `maximumDepth`.
    mutating func parseValue() throws(JSONParseError) -> JSONValue {
        guard index < bytes.count else { throw .unexpectedEnd }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            return try parseObject()
        case UInt8(ascii: "["):
            return try parseArray()
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try parseNumber()
        default:
            throw .unexpectedByte(offset: index)
        }
    }

    private mutating func parseObject() throws(JSONParseError) -> JSONValue {
        try enterContainer()
        index += 1  // "{"
        // Frames have a handful of members: one allocation up front instead of regrowing.
        var members: [String: JSONValue] = [:]
        members.reserveCapacity(8)
        skipWhitespace()
        if try peek() == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(members)
        }
        while true {
            guard try peek() == UInt8(ascii: "\"") else { throw .unexpectedByte(offset: index) }
            let name = try parseString()
            skipWhitespace()
            guard try peek() == UInt8(ascii: ":") else { throw .unexpectedByte(offset: index) }
            index += 1
            skipWhitespace()
            let value = try parseValue()
            guard members.updateValue(value, forKey: name) == nil else { throw .duplicateMember(name) }
            skipWhitespace()
            switch try peek() {
            case UInt8(ascii: ","):
                index += 1
                skipWhitespace()
            case UInt8(ascii: "}"):
                index += 1
                depth -= 1
                return .object(members)
            default:
                throw .unexpectedByte(offset: index)
            }
        }
    }

    private mutating func parseArray() throws(JSONParseError) -> JSONValue {
        try enterContainer()
        index += 1  // "["
        var elements: [JSONValue] = []
        skipWhitespace()
        if try peek() == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            elements.append(try parseValue())
            skipWhitespace()
            switch try peek() {
            case UInt8(ascii: ","):
                index += 1
                skipWhitespace()
            case UInt8(ascii: "]"):
                index += 1
                depth -= 1
                return .array(elements)
            default:
                throw .unexpectedByte(offset: index)
            }
        }
    }

    /// Counts one more level of nesting; the caller steps over the opening bracket.
    mutating func enterContainer() throws(JSONParseError) {
        depth += 1
        guard depth <= Self.maximumDepth else { throw .tooDeep(offset: index) }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw .unexpectedEnd }
        let expected = UnsafeBufferPointer(start: literal.utf8Start, count: count)
        for offset in 0..<count where bytes[index + offset] != expected[offset] {
            throw .unexpectedByte(offset: index + offset)
        }
        index += count
    }

    /// The byte at `index`; the end of input is an error.
    func peek() throws(JSONParseError) -> UInt8 {
        guard index < bytes.count else { throw .unexpectedEnd }
        return bytes[index]
    }

    /// Steps over JSON whitespace.
    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                index += 1
            default:
                return
            }
        }
    }

    // MARK: - Strings

    /// Parses the string starting at the opening quote. The common case (no escapes) is one scan
    /// and one copy into the `String`.
    private mutating func parseString() throws(JSONParseError) -> String {
        index += 1  // opening quote
        let start = index
        while true {
            index = Self.endOfPlainRun(bytes, from: index)
            guard index < bytes.count else { throw .unexpectedEnd }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                index += 1
                return text
            case UInt8(ascii: "\\"):
                return try parseEscapedString(from: start)
            case 0..<0x20:
                throw .controlCharacter(offset: index)
            case 0x80...:
                index += try Self.utf8SequenceLength(bytes, at: index)
            default:
                index += 1
            }
        }
    }

    /// For the frame scanners: the bytes of the string starting at the opening quote when they
    /// are plain ASCII without escapes, nil (with `index` anywhere) for any other string, valid
    /// or not, which the caller must then leave to the full parser.
    mutating func parsePlainASCIIString() -> Range<Int>? {
        index += 1  // opening quote
        let start = index
        index = Self.endOfPlainRun(bytes, from: index)
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        index += 1
        return start..<(index - 1)
    }

    /// The index of the first byte at or after `start` that a string scan must look at (a quote,
    /// a backslash, a control character or a non-ASCII byte), or `bytes.count`.
    ///
    /// Eight bytes at a time: message bodies are mostly such plain runs, and a byte-by-byte
    /// switch over them was the parser's largest cost. In each test below a borrow can only
    /// spread upwards from a byte that really matches, so the lowest flagged byte is the first
    /// match, and every matching byte is flagged.
    @inline(__always)
    static func endOfPlainRun(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var index = start
        if let base = bytes.baseAddress {
            let ones: UInt64 = 0x0101_0101_0101_0101
            while bytes.count - index >= 8 {
                // Byte 0 in the low bits, whatever the platform's byte order.
                let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
                let quotes = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
                let backslashes = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
                // A byte's top bit ends up set when it is 0 (after the XORs: a quote or a
                // backslash), below 0x20, or itself at least 0x80.
                let special =
                    (((quotes &- ones) & ~quotes) | ((backslashes &- ones) & ~backslashes)
                        | ((word &- ones &* 0x20) & ~word) | word) & 0x8080_8080_8080_8080
                if special != 0 {
                    return index + special.trailingZeroBitCount / 8
                }
                index += 8
            }
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte < 0x20 || byte >= 0x80 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { break }
            index += 1
        }
        return index
    }

    /// The rest of a string whose first escape is at `index`; `start` is just after the quote.
    private mutating func parseEscapedString(from start: Int) throws(JSONParseError) -> String {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return String(decoding: scratch, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try parseEscape()
            case 0..<0x20:
                throw .controlCharacter(offset: index)
            case 0x80...:
                let length = try Self.utf8SequenceLength(bytes, at: index)
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[index..<(index + length)]))
                index += length
            default:
                scratch.append(byte)
                index += 1
            }
        }
        throw .unexpectedEnd
    }

    /// One escape sequence at `index` (the backslash), appended to `scratch` as UTF-8.
    private mutating func parseEscape() throws(JSONParseError) {
        let escapeStart = index
        index += 1
        guard index < bytes.count else { throw .unexpectedEnd }
        let letter = bytes[index]
        index += 1
        switch letter {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"):
            scratch.append(letter)
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"):
            let unit = try parseHex4()
            let scalarValue: UInt32
            switch unit {
            case 0xD800...0xDBFF:
                // A high surrogate must be followed at once by an escaped low surrogate.
                guard bytes.count - index >= 2, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                else { throw .invalidEscape(offset: escapeStart) }
                index += 2
                let low = try parseHex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw .invalidEscape(offset: escapeStart) }
                scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
            case 0xDC00...0xDFFF:
                throw .invalidEscape(offset: escapeStart)
            default:
                scalarValue = UInt32(unit)
            }
            // Not a surrogate, at most 0x10FFFF: always a valid scalar.
            let scalar = Unicode.Scalar(scalarValue)!
            scratch.append(contentsOf: UTF8.encode(scalar)!)
        default:
            throw .invalidEscape(offset: escapeStart)
        }
    }

    private mutating func parseHex4() throws(JSONParseError) -> UInt16 {
        guard bytes.count - index >= 4 else { throw .unexpectedEnd }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw .invalidEscape(offset: index)
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }

    /// The length of the well-formed UTF-8 sequence whose lead byte (0x80 or above) is at
    /// `offset`: no overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629, table 3-7
    /// of the Unicode standard).
    static func utf8SequenceLength(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int) throws(JSONParseError) -> Int {
        let lead = bytes[offset]
        let length: Int
        // The allowed range of the second byte depends on the lead; the rest are 0x80...0xBF.
        let second: ClosedRange<UInt8>
        switch lead {
        case 0xC2...0xDF: length = 2; second = 0x80...0xBF
        case 0xE0: length = 3; second = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3; second = 0x80...0xBF
        case 0xED: length = 3; second = 0x80...0x9F
        case 0xF0: length = 4; second = 0x90...0xBF
        case 0xF1...0xF3: length = 4; second = 0x80...0xBF
        case 0xF4: length = 4; second = 0x80...0x8F
        default: throw .invalidUTF8(offset: offset)
        }
        guard bytes.count - offset >= length, second.contains(bytes[offset + 1]) else {
            throw .invalidUTF8(offset: offset)
        }
        for continuation in (offset + 2)..<(offset + length) where bytes[continuation] & 0xC0 != 0x80 {
            throw .invalidUTF8(offset: offset)
        }
        return length
    }

    /// True when all of `bytes` is well-formed UTF-8 (the same rules as inside strings).
    static func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var offset = 0
        while offset < bytes.count {
            if bytes[offset] < 0x80 {
                offset += 1
            } else if let length = try? utf8SequenceLength(bytes, at: offset) {
                offset += length
            } else {
                return false
            }
        }
        return true
    }

    // MARK: - Numbers

    private mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = index
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        // Integer part: "0" alone, or a non-zero digit and more digits.
        guard index < bytes.count else { throw .unexpectedEnd }
        let integerStart = index
        switch bytes[index] {
        case UInt8(ascii: "0"):
            index += 1
        case UInt8(ascii: "1")...UInt8(ascii: "9"):
            skipDigits()
        default:
            throw .unexpectedByte(offset: index)
        }
        let integerEnd = index
        // Fraction and exponent each need at least one digit.
        var fractionIsZero = true
        var hasExponent = false
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            let fractionStart = index
            skipDigits()
            guard index > fractionStart else { throw index < bytes.count ? .unexpectedByte(offset: index) : .unexpectedEnd }
            fractionIsZero = bytes[fractionStart..<index].allSatisfy { $0 == UInt8(ascii: "0") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            hasExponent = true
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            let exponentStart = index
            skipDigits()
            guard index > exponentStart else { throw index < bytes.count ? .unexpectedByte(offset: index) : .unexpectedEnd }
        }

        if fractionIsZero && !hasExponent {
            // Written as an integer (maybe with ".0"): exact, or a double when beyond Int.
            if let value = Self.integer(bytes[integerStart..<integerEnd], negative: negative) {
                return .int(value)
            }
        }
        // The grammar above is a subset of what Double's parser (strtod) reads, and it rounds
        // correctly.
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw .numberOutOfRange(offset: start) }
        if fractionIsZero && !hasExponent {
            return .double(value)  // an integer too big for Int
        }
        if let integer = Int(exactly: value) {
            return .int(integer)
        }
        return .double(value)
    }

    private mutating func skipDigits() {
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
            index += 1
        }
    }

    /// The decimal `digits` as an Int, or nil when it does not fit. Accumulated negatively so
    /// that `Int.min` itself fits.
    private static func integer(_ digits: Slice<UnsafeBufferPointer<UInt8>>, negative: Bool) -> Int? {
        var value = 0
        for digit in digits {
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = shifted.subtractingReportingOverflow(Int(digit &- UInt8(ascii: "0")))
            if overflow1 || overflow2 { return nil }
            value = next
        }
        if negative { return value }
        return value == Int.min ? nil : -value
    }
}

extension JSONParser {
    /// The walk both frame scanners (`ClientFrameScanner`, `ServerFrameScanner`) make over a
    /// line: one top-level object whose member names are plain ASCII, each name handed to
    /// `member` with the parser on its value. `member` reads the value and answers false to
    /// give the line up (to the general path). True when the whole line is such an object and
    /// `member` took every member; parse errors are thrown as the general path would meet them.
    @inline(__always)
    mutating func walkPlainObject(
        _ member: (inout JSONParser, Range<Int>) throws(JSONParseError) -> Bool
    ) throws(JSONParseError) -> Bool {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { return false }
        try enterContainer()  // so nested values count their depth as in the general path
        index += 1
        skipWhitespace()
        while true {
            guard try peek() == UInt8(ascii: "\""), let name = parsePlainASCIIString() else { return false }
            skipWhitespace()
            guard try peek() == UInt8(ascii: ":") else { return false }
            index += 1
            skipWhitespace()
            guard try member(&self, name) else { return false }
            skipWhitespace()
            switch try peek() {
            case UInt8(ascii: ","):
                index += 1
                skipWhitespace()
            case UInt8(ascii: "}"):
                index += 1
                skipWhitespace()
                return index == bytes.count
            default:
                return false
            }
        }
    }

    /// True when the bytes in `range` are exactly `literal` (at most 16 bytes, as every name
    /// the frame scanners use is): two overlapping word loads a side instead of a loop.
    func bytes(in range: Range<Int>, equal literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard range.count == count, let base = bytes.baseAddress else { return false }
        let actual = UnsafeRawPointer(base + range.lowerBound)
        let expected = UnsafeRawPointer(literal.utf8Start)
        switch count {
        case 8...16:
            return Self.load(UInt64.self, actual, expected, at: 0) && Self.load(UInt64.self, actual, expected, at: count - 8)
        case 4..<8:
            return Self.load(UInt32.self, actual, expected, at: 0) && Self.load(UInt32.self, actual, expected, at: count - 4)
        case 2..<4:
            return Self.load(UInt16.self, actual, expected, at: 0) && Self.load(UInt16.self, actual, expected, at: count - 2)
        default:
            precondition(count < 2, "names here are at most 16 bytes")
            return count == 0 || actual.load(as: UInt8.self) == expected.load(as: UInt8.self)
        }
    }

    /// True when `a` and `b` hold the same `T` at `offset`.
    @inline(__always)
    private static func load<T: FixedWidthInteger>(_: T.Type, _ a: UnsafeRawPointer, _ b: UnsafeRawPointer, at offset: Int) -> Bool {
        a.loadUnaligned(fromByteOffset: offset, as: T.self) == b.loadUnaligned(fromByteOffset: offset, as: T.self)
    }
}

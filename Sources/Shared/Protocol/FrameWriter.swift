/// The second pass of encoding a frame: writes the JSON object through a raw pointer into space
/// that `FrameSizer` measured beforehand.
///
/// Every write checks that it stays inside that space (one comparison per piece, not per
/// byte), so a sizer that ever disagreed would stop the process instead of writing past the
/// buffer.
struct FrameWriter: FrameBuilder {
    private let space: UnsafeMutableRawBufferPointer
    /// Bytes written so far.
    private(set) var count = 0
    /// True when the sizer found that no string needs an escape: strings are then copied as
    /// they are, without a second scan. (Were it ever wrong, the copy would still stay inside
    /// `space`, and the frame would hold a raw control character: tests compare the bytes.)
    private let isPlain: Bool
    private var isEmpty = true
    #if DEBUG
    private var lastName: StaticString?
    #endif

    /// Starts the object at the beginning of `space`; `isPlain` is `FrameSizer.isPlain`.
    @inline(__always)
    init(_ space: UnsafeMutableRawBufferPointer, isPlain: Bool) {
        self.space = space
        self.isPlain = isPlain
        byte(UInt8(ascii: "{"))
    }

    /// Closes the object; returns the bytes written.
    @inline(__always)
    mutating func finish() -> Int {
        byte(UInt8(ascii: "}"))
        return count
    }

    @inline(__always)
    mutating func set(_ name: StaticString, _ value: Int?) {
        guard let value else { return }
        member(name)
        integer(value)
    }

    @inline(__always)
    mutating func set(_ name: StaticString, _ value: String?) {
        guard let value else { return }
        member(name)
        Self.withUTF8(value) { string($0) }
    }

    @inline(__always)
    mutating func set(_ name: StaticString, constant value: StaticString) {
        let utf8 = UnsafeBufferPointer(start: value.utf8Start, count: value.utf8CodeUnitCount)
        assert(Self.firstByteToEscape(utf8, from: 0) == utf8.count, "constant \(value) needs escaping")
        member(name)
        byte(UInt8(ascii: "\""))
        bytes(utf8)
        byte(UInt8(ascii: "\""))
    }

    @inline(__always)
    mutating func set(_ name: StaticString, _ value: Bool?) {
        guard let value else { return }
        member(name)
        staticString(value ? "true" : "false")
    }

    mutating func set(_ name: StaticString, _ value: [String: Int]) {
        member(name)
        byte(UInt8(ascii: "{"))
        for (offset, key) in value.keys.sorted(by: Self.byteOrder).enumerated() {
            if offset > 0 { byte(UInt8(ascii: ",")) }
            Self.withUTF8(key) { string($0) }
            byte(UInt8(ascii: ":"))
            integer(value[key]!)
        }
        byte(UInt8(ascii: "}"))
    }

    mutating func set(_ name: StaticString, _ value: [[String: String]]) {
        member(name)
        byte(UInt8(ascii: "["))
        for (index, object) in value.enumerated() {
            if index > 0 { byte(UInt8(ascii: ",")) }
            byte(UInt8(ascii: "{"))
            for (offset, key) in object.keys.sorted(by: Self.byteOrder).enumerated() {
                if offset > 0 { byte(UInt8(ascii: ",")) }
                Self.withUTF8(key) { string($0) }
                byte(UInt8(ascii: ":"))
                Self.withUTF8(object[key]!) { string($0) }
            }
            byte(UInt8(ascii: "}"))
        }
        byte(UInt8(ascii: "]"))
    }

    mutating func set(_ name: StaticString, _ value: [String]) {
        member(name)
        byte(UInt8(ascii: "["))
        for (index, text) in value.enumerated() {
            if index > 0 { byte(UInt8(ascii: ",")) }
            Self.withUTF8(text) { string($0) }
        }
        byte(UInt8(ascii: "]"))
    }

    mutating func set(_ name: StaticString, object build: (inout FrameWriter) -> Void) {
        member(name)
        nested(build)
    }

    mutating func set<Element>(_ name: StaticString, objects elements: [Element], _ build: (Element, inout FrameWriter) -> Void) {
        member(name)
        byte(UInt8(ascii: "["))
        for (index, element) in elements.enumerated() {
            if index > 0 { byte(UInt8(ascii: ",")) }
            nested { build(element, &$0) }
        }
        byte(UInt8(ascii: "]"))
    }

    /// Writes `{`, the members `build` sets (checked for order among themselves), then `}`.
    private mutating func nested(_ build: (inout FrameWriter) -> Void) {
        byte(UInt8(ascii: "{"))
        let outerIsEmpty = isEmpty
        isEmpty = true
        #if DEBUG
        let outerName = lastName
        lastName = nil
        #endif
        build(&self)
        isEmpty = outerIsEmpty
        #if DEBUG
        lastName = outerName
        #endif
        byte(UInt8(ascii: "}"))
    }

    /// Runs `body` on the UTF-8 of `text`: in place for a native string (or a copy on the stack
    /// for a small one), without the mutable copy `String.withUTF8` needs.
    @inline(__always)
    static func withUTF8<Result>(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        if let result = text.utf8.withContiguousStorageIfAvailable(body) {
            return result
        }
        var text = text
        return text.withUTF8(body)
    }

    /// The order JSONEncoder's `.sortedKeys` produced: by UTF-8 bytes.
    static func byteOrder(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// Writes `"name":`, after a comma unless first. Member names are code constants: plain
    /// ASCII needing no escapes.
    @inline(__always)
    private mutating func member(_ name: StaticString) {
        #if DEBUG
        if let lastName {
            assert(
                UnsafeBufferPointer(start: lastName.utf8Start, count: lastName.utf8CodeUnitCount)
                    .lexicographicallyPrecedes(UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)),
                "frame members out of order: \(lastName) before \(name)")
        }
        lastName = name
        #endif
        // One bounds check and direct stores: inlined, the name's length is a constant.
        let length = name.utf8CodeUnitCount
        let comma = isEmpty ? 0 : 1
        precondition(comma + length + 3 <= space.count - count, "FrameWriter overflow: FrameSizer undercounted")
        let start = space.baseAddress! + count
        // Without a branch: for the first member the quote below overwrites the comma.
        start.storeBytes(of: UInt8(ascii: ","), as: UInt8.self)
        (start + comma).storeBytes(of: UInt8(ascii: "\""), as: UInt8.self)
        (start + comma + 1).copyMemory(from: name.utf8Start, byteCount: length)
        (start + comma + 1 + length).storeBytes(of: UInt8(ascii: "\""), as: UInt8.self)
        (start + comma + 2 + length).storeBytes(of: UInt8(ascii: ":"), as: UInt8.self)
        count += comma + length + 3
        isEmpty = false
    }

    // MARK: - Bytes

    @inline(__always)
    private mutating func byte(_ byte: UInt8) {
        precondition(count < space.count, "FrameWriter overflow: FrameSizer undercounted")
        space[count] = byte
        count += 1
    }

    @inline(__always)
    private mutating func bytes(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes(UnsafeRawBufferPointer(bytes))
    }

    @inline(__always)
    private mutating func bytes(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        precondition(bytes.count <= space.count - count, "FrameWriter overflow: FrameSizer undercounted")
        (space.baseAddress! + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    @inline(__always)
    private mutating func staticString(_ text: StaticString) {
        bytes(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    // MARK: - Numbers

    /// Bytes `integer(value)` will write.
    @inline(__always)
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

    /// "00" to "99", for writing two digits at a time.
    private static var digitPairs: StaticString {
        """
        00010203040506070809101112131415161718192021222324252627282930313233343536373839\
        40414243444546474849505152535455565758596061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899
        """
    }

    /// `value` in decimal at the writer's place.
    private mutating func integer(_ value: Int) {
        let length = Self.integerBytes(value)
        precondition(length <= space.count - count, "FrameWriter overflow: FrameSizer undercounted")
        Self.writeInteger(value, length: length, at: space.baseAddress! + count)
        count += length
    }

    /// `value` in decimal at `start`, where `length` (`integerBytes(value)`) bytes are free:
    /// written from its last digit back, so no scratch space, two digits a step.
    @inline(__always)
    static func writeInteger(_ value: Int, length: Int, at start: UnsafeMutableRawPointer) {
        if value < 0 { start.storeBytes(of: UInt8(ascii: "-"), as: UInt8.self) }
        var end = start + length
        var magnitude = value.magnitude
        let pairs = UnsafeRawPointer(Self.digitPairs.utf8Start)
        while magnitude >= 100 {
            let pair = Int(magnitude % 100)
            magnitude /= 100
            end -= 2
            end.copyMemory(from: pairs + 2 * pair, byteCount: 2)
        }
        if magnitude >= 10 {
            end -= 2
            end.copyMemory(from: pairs + 2 * Int(magnitude), byteCount: 2)
        } else {
            end -= 1
            end.storeBytes(of: UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude), as: UInt8.self)
        }
    }

    // MARK: - Strings

    /// Bytes `string(utf8)` will write: the quotes, and each byte or its escape.
    static func stringBytes(_ utf8: UnsafeBufferPointer<UInt8>) -> Int {
        var total = utf8.count + 2
        var index = firstByteToEscape(utf8, from: 0)
        while index < utf8.count {
            total += escapeBytes(utf8[index]) - 1
            index = firstByteToEscape(utf8, from: index + 1)
        }
        return total
    }

    /// `utf8` as a JSON string: `"` and `\` escaped, the control characters U+0000 to U+001F as
    /// `\b \t \n \f \r` or `\u00xx`, everything else (`/`, DEL, non-ASCII) as is. The output
    /// therefore never holds a raw newline, which would split a frame.
    @inline(__always)
    private mutating func string(_ utf8: UnsafeBufferPointer<UInt8>) {
        byte(UInt8(ascii: "\""))
        if isPlain {
            bytes(utf8)
            byte(UInt8(ascii: "\""))
            return
        }
        var runStart = 0
        var index = Self.firstByteToEscape(utf8, from: 0)
        while index < utf8.count {
            bytes(UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
            escape(utf8[index])
            runStart = index + 1
            index = Self.firstByteToEscape(utf8, from: runStart)
        }
        bytes(UnsafeBufferPointer(rebasing: utf8[runStart...]))
        byte(UInt8(ascii: "\""))
    }

    /// The index of the first byte at or after `start` that needs an escape (a quote, a
    /// backslash or a control character), or `utf8.count`.
    ///
    /// Eight bytes at a time, as `JSONParser.endOfPlainRun` does: bodies rarely hold any, and
    /// both passes scan every string. A borrow only spreads upwards from a byte that really
    /// matches, so the lowest flagged byte is the first match.
    static func firstByteToEscape(_ utf8: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var index = start
        if let base = utf8.baseAddress {
            let ones: UInt64 = 0x0101_0101_0101_0101
            while utf8.count - index >= 8 {
                // Byte 0 in the low bits, whatever the platform's byte order.
                let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
                let quotes = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
                let backslashes = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
                // A byte's top bit ends up set when it is 0 after the XORs (a quote or a
                // backslash) or below 0x20; `& ~x` keeps bytes of 0x80 and above out.
                let special =
                    (((quotes &- ones) & ~quotes) | ((backslashes &- ones) & ~backslashes)
                        | ((word &- ones &* 0x20) & ~word)) & 0x8080_8080_8080_8080
                if special != 0 {
                    return index + special.trailingZeroBitCount / 8
                }
                index += 8
            }
        }
        while index < utf8.count {
            let byte = utf8[index]
            if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { break }
            index += 1
        }
        return index
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

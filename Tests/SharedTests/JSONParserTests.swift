import Testing
import TestSupport

@testable import Shared

/// The hand-written JSON parser that replaced Foundation's on the frame path: every rule of
/// RFC 8259 it enforces, the number rule frames rely on, and the limits that protect the server.
@Suite struct JSONParserTests {
    private func parse(_ bytes: [UInt8]) -> Result<JSONValue, JSONParseError> {
        bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(JSONParseError) in try JSONParser.parse(buffer) }
        }
    }

    private func parse(_ text: String) -> Result<JSONValue, JSONParseError> {
        self.parse(Array(text.utf8))
    }

    private func value(_ text: String) -> JSONValue? {
        try? self.parse(text).get()
    }

    private func error(_ text: String) -> JSONParseError? {
        self.error(Array(text.utf8))
    }

    private func error(_ bytes: [UInt8]) -> JSONParseError? {
        guard case .failure(let error) = self.parse(bytes) else { return nil }
        return error
    }

    // MARK: Values

    @Test func scalarsAndContainers() {
        #expect(self.value("true") == .bool(true))
        #expect(self.value("false") == .bool(false))
        #expect(self.value("null") == .null)
        #expect(self.value(#""hi""#) == .string("hi"))
        #expect(self.value("[]") == .array([]))
        #expect(self.value("{}") == .object([:]))
        #expect(self.value(#"[1,"a",null,[true],{"k":false}]"#)
            == .array([.int(1), .string("a"), .null, .array([.bool(true)]), .object(["k": .bool(false)])]))
        #expect(self.value(#" {"a" : [ 1 , 2 ] ,"b":{}} "#) == .object(["a": .array([.int(1), .int(2)]), "b": .object([:])]))
        #expect(self.value("\t\r\n 7 \n") == .int(7))
        #expect(self.value("\u{FEFF}{}") == .object([:]), "a leading byte-order mark is ignored, as Foundation did")
    }

    // MARK: Numbers

    /// Integral values that fit Int are integers however written: ids and counts stay exact.
    @Test(arguments: [
        ("0", 0), ("-0", 0), ("7", 7), ("-7", -7), ("1.0", 1), ("-0.0", 0), ("1e2", 100), ("1E2", 100), ("2.5e1", 25),
        ("1.0e0", 1), ("0e0", 0), ("4.5e15", 4_500_000_000_000_000), ("1e-400", 0),
        ("9223372036854775807", Int.max), ("-9223372036854775808", Int.min),
        ("9007199254740993", 9_007_199_254_740_993), ("9007199254740993.000", 9_007_199_254_740_993),
    ])
    func integralNumbers(_ text: String, _ expected: Int) {
        #expect(self.value(text) == .int(expected))
    }

    @Test(arguments: [
        ("1.5", 1.5), ("-1.5e-3", -0.0015), ("1e-2", 0.01), ("123.456e-2", 1.23456), ("1e300", 1e300),
        ("1.7976931348623157e308", 1.7976931348623157e308),
        // Integers beyond Int, written as integers, become doubles (as with Foundation).
        ("9223372036854775808", 9_223_372_036_854_775_808.0), ("-9223372036854775809", -9_223_372_036_854_775_808.0),
        ("12345678901234567890123", 1.2345678901234568e22),
    ])
    func fractionalAndHugeNumbers(_ text: String, _ expected: Double) {
        #expect(self.value(text) == .double(expected))
    }

    @Test(arguments: ["1e400", "-1e400", "1e309", "1e1000000000000", "-1.8e308"])
    func numbersBeyondDoubleAreRefused(_ text: String) {
        guard case .numberOutOfRange = self.error(text) else {
            Issue.record("\(text): \(String(describing: self.error(text)))")
            return
        }
    }

    @Test(arguments: ["01", "-01", "00", "1.", ".5", "+1", "-", "1e", "1e+", "1.e3", "-.5", "0x10", "NaN", "Infinity",
                      "-Infinity", "1_000", "--1", "1ee2"])
    func malformedNumbersAreRefused(_ text: String) {
        #expect(self.error(text) != nil, "\(text) was accepted")
        #expect(self.error("[\(text)]") != nil, "[\(text)] was accepted")
    }

    // MARK: Strings

    @Test func everyEscape() {
        #expect(self.value(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{08}\u{0C}\n\r\t"))
        #expect(self.value(#""\u0041\u00e9\u00E9\u20AC\u0000""#) == .string("Aéé€\u{0}"))
        #expect(self.value(#""a\nb" "#) == .string("a\nb"))
        #expect(self.value(#""plain then \" escaped""#) == .string("plain then \" escaped"))
    }

    @Test func surrogatePairsCombine() {
        #expect(self.value(#""\ud83d\ude00""#) == .string("😀"))
        #expect(self.value(#""\uD83D\uDE00!""#) == .string("😀!"))
        #expect(self.value(#""\udbff\udfff""#) == .string("\u{10FFFF}"))
    }

    @Test(arguments: [
        #""\ud83d""#, #""\ude00""#, #""\ud83d\u0041""#, #""\ud83dx""#, #""\ud83d\""#, #""\ude00\ud83d""#,
        #""\ud83d\ud83d""#, #""\ud83d\n""#,
    ])
    func loneSurrogatesAreRefused(_ text: String) {
        guard case .invalidEscape = self.error(text) else {
            Issue.record("\(text): \(String(describing: self.error(text)))")
            return
        }
    }

    @Test(arguments: [#""\x41""#, #""\U0041""#, #""\u00G0""#, #""\u12""#, #""\a""#, #""\'""#, #""\"#, #""\u"#])
    func badEscapesAreRefused(_ text: String) {
        #expect(self.error(text) != nil, "\(text) was accepted")
    }

    @Test func rawControlCharactersAreRefused() {
        for byte in UInt8(0)..<0x20 {
            guard case .controlCharacter = self.error([0x22, 0x61, byte, 0x22]) else {
                Issue.record("raw 0x\(String(byte, radix: 16)) in a string was not refused as a control character")
                continue
            }
        }
        // DEL and the C1 range are not JSON control characters.
        #expect(self.value("\"a\u{7F}b\u{85}\"") == .string("a\u{7F}b\u{85}"))
    }

    @Test func rawUTF8IsKept() {
        #expect(self.value("\"é😀€\"") == .string("é😀€"))
        #expect(self.value("{\"clé\":\"\\\"é\\\"\"}") == .object(["clé": .string("\"é\"")]))
    }

    /// Overlong forms, surrogates, code points past U+10FFFF, stray continuation bytes and
    /// sequences cut short: all refused, with or without an escape earlier in the string.
    @Test(arguments: [
        [0xFF], [0xFE], [0x80], [0xBF], [0xC0, 0xAF], [0xC1, 0xBF], [0xC3], [0xC3, 0x41], [0xE0, 0x80, 0x80],
        [0xE0, 0x9F, 0xBF], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF], [0xF0, 0x80, 0x80, 0x80],
        [0xF0, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xF0, 0x9F, 0x98],
        [0xF0, 0x9F, 0x98, 0x41],
    ] as [[UInt8]])
    func invalidUTF8IsRefused(_ bad: [UInt8]) {
        for prefix in [[], Array(#"\n"#.utf8)] {
            let input = [0x22] + prefix + bad + [0x22]
            guard case .invalidUTF8 = self.error(input) else {
                Issue.record("\(input): \(String(describing: self.error(input)))")
                continue
            }
            input.withUnsafeBufferPointer { #expect(!JSONParser.isValidUTF8($0)) }
        }
    }

    /// The validator agrees with the standard library's on every 1-, 2- and 3-byte input built
    /// from the interesting byte values, and on the boundaries of each sequence length.
    @Test func utf8ValidatorMatchesTheStandardLibrary() {
        let interesting: [UInt8] = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                                    0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
        var inputs: [[UInt8]] = interesting.map { [$0] }
        for a in interesting {
            for b in interesting {
                inputs.append([a, b])
                for c in interesting { inputs.append([a, b, c]) }
            }
        }
        for lead: UInt8 in [0xF0, 0xF1, 0xF4] {
            for second: UInt8 in [0x8F, 0x90, 0xBF] { inputs.append([lead, second, 0x80, 0x80]) }
        }
        for input in inputs {
            let expected = String(validating: input, as: UTF8.self) != nil
            let actual = input.withUnsafeBufferPointer { JSONParser.isValidUTF8($0) }
            #expect(actual == expected, "\(input)")
        }
    }

    // MARK: Structure

    @Test(arguments: [
        "", " ", "{", "}", "[", "]", "[1,]", "[,1]", "[1 2]", #"{"a":1,}"#, #"{"a" 1}"#, #"{"a":}"#, "{a:1}", "{'a':1}",
        #"{"a":1 "b":2}"#, "{,}", "{1:2}", "tru", "nul", "truex", "True", "{} x", "{}{}", "1 2", "[1]]", "/* c */ 1",
        "\u{0}", "[\u{0}]", #""abc"#, "\u{FEFF}\u{FEFF}{}",
    ])
    func malformedDocumentsAreRefused(_ text: String) {
        #expect(self.error(text) != nil, "\(text.debugDescription) was accepted")
    }

    @Test func trailingBytesAreNamed() {
        #expect(self.error(#"{"type":"ping","id":1} trailing"#) == .trailingBytes(offset: 23))
        #expect(self.error("{}\u{0}") == .trailingBytes(offset: 2))
    }

    /// Two parsers can read `{"a":1,"a":2}` differently (first wins, last wins), which is how
    /// request smuggling starts; a frame naming a member twice is refused outright.
    @Test func duplicateMembersAreRefused() {
        #expect(self.error(#"{"id":1,"id":2}"#) == .duplicateMember("id"))
        #expect(self.error(#"{"type":"ping","id":1,"type":"login"}"#) == .duplicateMember("type"))
        #expect(self.error(#"{"a":{"b":1,"b":1}}"#) == .duplicateMember("b"))
        // Equal after unescaping counts as equal.
        #expect(self.error(#"{"a":1,"\u0061":2}"#) == .duplicateMember("a"))
        #expect(self.value(#"[{"a":1},{"a":2}]"#) == .array([.object(["a": .int(1)]), .object(["a": .int(2)])]))
    }

    @Test func nestingIsLimited() {
        let limit = JSONParser.maximumDepth
        let deepest = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        #expect(self.value(deepest) != nil)
        let tooDeep = String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)
        guard case .tooDeep = self.error(tooDeep) else {
            Issue.record("\(limit + 1) levels: \(String(describing: self.error(tooDeep)))")
            return
        }
        let objects = String(repeating: #"{"a":"#, count: limit + 1) + "1" + String(repeating: "}", count: limit + 1)
        guard case .tooDeep = self.error(objects) else {
            Issue.record("\(limit + 1) object levels: \(String(describing: self.error(objects)))")
            return
        }
        // Far past the limit, and never closed: still a clean error, not a stack overflow.
        guard case .tooDeep = self.error(String(repeating: "[", count: 60_000)) else {
            Issue.record("60,000 open brackets were not refused as too deep")
            return
        }
    }

    @Test func truncatedInputAtEveryPoint() {
        let frame = Array(#"{"body":"h\u00e9 \ud83d\ude00 \"x\"","id":-12.5e1,"ok":[true,false,null]}"#.utf8)
        #expect(self.value(String(decoding: frame, as: UTF8.self)) != nil)
        for length in 0..<frame.count {
            #expect(self.error(Array(frame[0..<length])) != nil, "accepted the first \(length) bytes")
        }
    }
}

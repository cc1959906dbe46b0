import NIOCore
import Testing
import TestSupport

@testable import Shared

/// The hand-written JSON codec against the Foundation codec it replaced: the writer must give
/// the same bytes (clients, docs and tests depend on them), and the parser must read what
/// Foundation read, except for the two tightenings it makes on purpose.
@Suite struct JSONDifferentialTests {
    /// Strings that exercise every escaping rule.
    static let awkwardStrings: [String] = [
        "", "plain", #"quote " backslash \ slash /"#,
        String(decoding: (0..<0x20).map { UInt8($0) }, as: UTF8.self),
        "tab\tnew\nline\rfeed\u{0C}bell\u{07}esc\u{1B}[31m", "del \u{7F} c1 \u{85}\u{9B}",
        "é ü 😀 € \u{2028}\u{2029} \u{FEFF} \u{10FFFF}", "<script>&'</script>", String(repeating: "long ", count: 500),
    ]

    static func serverFrames() -> [ServerFrame] {
        var frames: [ServerFrame] = [
            .hello(version: 1, agent: "chat-server/0.1.0"),
            .ok(id: 1), .ok(id: Int.max, username: "alice"), .ok(id: Int.min, username: ""),
            .error(ProtocolError(.invalidJSON)), .error(ProtocolError(.throttled, message: "wait", id: 4, retryAfter: 30)),
            .error(.unknownType("dance", id: -1)), .notice(.displaced), .notice(code: .unknown("future"), message: "x"),
            .delivered(messageIDs: ["m", "m-2"]), .delivered(messageIDs: []), .receipt(id: 9, messageID: "m-2", status: .stored),
            .inbox(id: nil, counts: [:], expired: 0),
            .inbox(id: 3, counts: ["user10": 1, "user9": 2, "a_b": 3, "a.b": 4, "a-b": 5, "b": 6, "a": 7, "0": 8], expired: 2),
            .who(id: 5, users: []),
            .who(id: 6, users: [.init(username: "zed", status: .free), .init(username: "amy", status: .chatting)]),
            .ok(id: 7, username: "alice", identityKey: TestKeys.publicKey(1), preKeys: 1_000),
            .keys(id: 8, bundle: TestKeys.keys(preKeys: []).bundle(username: "bob", preKey: TestKeys.preKey(3))),
            .keys(id: 9, bundle: TestKeys.keys(preKeys: []).bundle(username: "bob", preKey: nil)),
        ]
        for text in awkwardStrings {
            frames.append(.message(ChatMessage(id: "id-\(text.count)", from: "bob", body: text, sentAtMilliseconds: 1_700_000_000_123, stored: text.isEmpty)))
            frames.append(.error(ProtocolError(.invalidField, message: text, id: 7)))
            frames.append(.notice(code: .partnerLeft, message: text))
            frames.append(.hello(version: -3, agent: text))
            frames.append(.ok(id: 0, username: text))
        }
        return frames
    }

    static func clientFrames() -> [ClientFrame] {
        var frames: [ClientFrame] = [
            .hello(version: 1, agent: "chat-client/0.1.0"), .logout(id: 1), .ping(id: Int.max), .leave(id: 0),
            .who(id: -1), .inbox(id: 12), .ack(seq: 7),
            .publishKeys(id: 13, keys: TestKeys.keys(preKeys: 1...30)), .publishKeys(id: 14, keys: TestKeys.keys(preKeys: [])),
        ]
        for text in awkwardStrings {
            frames.append(.register(id: 1, username: text, password: text + "!"))
            frames.append(.login(id: 2, username: "alice", password: text))
            frames.append(.chat(id: 3, with: text))
            frames.append(.send(id: 4, body: text))
            frames.append(.fetchKeys(id: 5, username: text))
        }
        return frames
    }

    @Test func serverFramesAreByteIdenticalToFoundation() throws {
        for frame in Self.serverFrames() {
            let encoded = frame.encode(allocator: ByteBufferAllocator())
            let mine = String(decoding: encoded.readableBytesView, as: UTF8.self)
            let foundation = String(decoding: FoundationJSONOracle.reference(encoded), as: UTF8.self)
            #expect(mine == foundation)
            #expect(try ServerFrame.decode(encoded).get() == frame)
        }
    }

    @Test func clientFramesAreByteIdenticalToFoundation() throws {
        for frame in Self.clientFrames() {
            let encoded = frame.encode(allocator: ByteBufferAllocator())
            let mine = String(decoding: encoded.readableBytesView, as: UTF8.self)
            let foundation = String(decoding: FoundationJSONOracle.reference(encoded), as: UTF8.self)
            #expect(mine == foundation)
            #expect(try ClientFrame.decode(encoded).get() == frame)
        }
    }

    @Test func encodedFramesNeverHoldARawNewline() {
        for frame in Self.serverFrames() {
            #expect(!frame.encode().contains(UInt8(ascii: "\n")))
        }
        for frame in Self.clientFrames() {
            #expect(!frame.encode().contains(UInt8(ascii: "\n")))
        }
    }

    /// Where the two parsers may disagree: Foundation accepted trailing commas (`[1,]`) and
    /// duplicate member names (keeping the first); the new parser refuses both. Foundation
    /// checks a string's UTF-8 only when it reads the string, so invalid UTF-8 in the repeat
    /// of a member, which it drops unread, passed too; the new parser refuses it wherever it is.
    private static func isDeliberateTightening(_ error: JSONParseError, _ input: [UInt8]) -> Bool {
        switch error {
        case .duplicateMember, .invalidUTF8:
            return true
        case .unexpectedByte(let offset):
            guard offset < input.count, input[offset] == UInt8(ascii: "]") || input[offset] == UInt8(ascii: "}") else {
                return false
            }
            let before = input[..<offset].last { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
            return before == UInt8(ascii: ",")
        default:
            return false
        }
    }

    private static func compare(_ input: [UInt8]) -> String? {
        let mine = input.withUnsafeBufferPointer { buffer in
            Result { () throws(JSONParseError) in try JSONParser.parse(buffer) }
        }
        let foundation = FoundationJSONOracle.parse(input)
        switch (mine, foundation) {
        case (.success(let value), .some(let expected)):
            return value == expected ? nil : "read differently: \(value) against Foundation's \(expected)"
        case (.success(let value), nil):
            return "accepted what Foundation refused: \(value)"
        case (.failure(let error), .some):
            return isDeliberateTightening(error, input) ? nil : "refused what Foundation accepted: \(error)"
        case (.failure, nil):
            return nil
        }
    }

    @Test func parserAgreesWithFoundationOnHandPickedInputs() {
        let inputs = [
            "1", "1.0", "1.5", "1e2", "-0", "-0.0", "0.0", "1e-400", "9223372036854775807", "9223372036854775808",
            "-9223372036854775808", "-9223372036854775809", "12345678901234567890123", "100000000000000000000.0",
            "2.5e1", "9007199254740993", "9007199254740993.0", "4.5e15", "1.0000000000000000001", "1e400", "01", "1.",
            "[1,]", #"{"a":1,}"#, #"{"a":1,"a":2}"#, #""\ud83d\ude00""#, #""\ud83d""#, #""\u0000""#, "\"a\u{7F}b\"",
            "\u{FEFF}{}", "{} x", " 1 ", "[]", "{}", #"{"type":"ping","id":1,"future":{"a":[1,2.5,-3e10,true,null]}}"#,
        ]
        for input in inputs {
            if let problem = Self.compare(Array(input.utf8)) {
                Issue.record("\(input.debugDescription): \(problem)")
            }
        }
    }

    /// 20,000 mutated corpus frames through both parsers.
    @Test func parserAgreesWithFoundationOnMutatedFrames() throws {
        let corpus = try FrameMutator.loadCorpus("client-frames.jsonl") + FrameMutator.loadCorpus("server-frames.jsonl")
        var mutator = FrameMutator(seed: 0x0DD_F00D, corpus: corpus)
        var disagreements = 0
        for index in 0..<20_000 {
            let input = mutator.mutatedInput()
            if let problem = Self.compare(input) {
                disagreements += 1
                Issue.record("input \(index) \(input): \(problem)")
                if disagreements > 10 { return }
            }
        }
    }
}

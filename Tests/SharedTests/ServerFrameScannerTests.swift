import NIOCore
import Testing
import TestSupport

@testable import Shared

/// `ServerFrameScanner`, the client's fast path for the frames of a conversation, against the
/// general decoder (the whole line parsed to a dictionary, then `FrameFields`), which stays the
/// reference. Any difference, in what is accepted or in how it is refused, is a bug.
@Suite struct ServerFrameScannerTests {
    private static let paths = ScannerAgreement<ServerFrame>(
        general: { ServerFrame.decodeInGeneral($0) }, scanner: { ServerFrameScanner.frame(in: $0) },
        decode: { ServerFrame.decode($0) }, decodeBuffer: { ServerFrame.decode($0) })

    /// Both paths on one line; nil when they agree, else what differs.
    private static func disagreement(_ input: [UInt8]) -> String? {
        paths.disagreement(input)
    }

    @Test func scannerTakesTheConversationFramesOfTheCorpusAndAgrees() throws {
        for line in try FrameMutator.loadCorpus("server-frames.jsonl") {
            let text = String(decoding: line, as: UTF8.self)
            #expect(Self.disagreement(line) == nil, "\(text)")
            let fast = line.withUnsafeBufferPointer { ServerFrameScanner.frame(in: $0) }
            let conversation = ["\"message\"}", "\"receipt\"}", "\"delivered\"}"].contains { text.hasSuffix($0) }
            #expect((fast != nil) == conversation, "\(text)")
        }
    }

    @Test func scannerAgreesOnHandPickedLines() {
        let message = #""body":"hi","from":"alice","message_id":"m1","sent_at":5,"seq":1"#
        let lines = [
            "{\(message),\"type\":\"message\"}", "{\(message),\"stored\":true,\"type\":\"message\"}",
            "{\(message),\"stored\":null,\"type\":\"message\"}", "{\(message),\"stored\":1,\"type\":\"message\"}",
            "{\(message),\"seq\":2,\"type\":\"message\"}", "{\(message),\"type\":\"message\",\"extra\":1}",
            "{\(message),\"id\":\"x\",\"type\":\"message\"}", "{\(message),\"id\":3,\"type\":\"message\"}",
            "{\(message),\"status\":\"sent\",\"type\":\"message\"}", "{\(message),\"type\":\"receipt\"}",
            #"{"body":"hi","from":"alice","message_id":"m1","sent_at":5,"type":"message"}"#,
            #"{"body":"hi","from":"alice","message_id":"m1","seq":1,"type":"message"}"#,
            #"{"body":null,"from":"alice","message_id":"m1","sent_at":5,"seq":1,"type":"message"}"#,
            #"{"body":7,"from":"alice","message_id":"m1","sent_at":5,"seq":1,"type":"message"}"#,
            #"{"body":"hi","from":"alice","message_id":"m1","sent_at":5.0,"seq":1,"type":"message"}"#,
            #"{"body":"hi","from":"alice","message_id":"m1","sent_at":-1,"seq":1e0,"type":"message"}"#,
            #"{"body":"a\"b\\c\/d\n\u00e9\ud83d\ude00","from":"alice","message_id":"m1","sent_at":5,"seq":1,"type":"message"}"#,
            #"{"body":"\ud800","from":"alice","message_id":"m1","sent_at":5,"seq":1,"type":"message"}"#,
            #"{"\u0062ody":"hi","from":"alice","message_id":"m1","sent_at":5,"seq":1,"type":"message"}"#,
            "{\(message),\"type\":\"m\\u0065ssage\"}", "{\(message),\"type\":\"Message\"}", "{\(message),\"type\":\"messages\"}",
            "{\(message),\"type\":\"message\",}", "{\(message),\"type\":\"message\"} x", "[{\(message),\"type\":\"message\"}]",
            " \t{ \"type\" : \"receipt\" , \"message_id\" : \"m1\" , \"status\" : \"sent\" } \r\n",
            #"{"id":7,"message_id":"m1","status":"stored","type":"receipt"}"#,
            #"{"message_id":"m1","status":"sent","type":"receipt"}"#,
            #"{"id":null,"message_id":"m1","status":"sent","type":"receipt"}"#,
            #"{"id":1.0,"message_id":"m1","status":"sent","type":"receipt"}"#,
            #"{"id":"7","message_id":"m1","status":"sent","type":"receipt"}"#,
            #"{"id":7,"message_id":"m1","status":"lost","type":"receipt"}"#,
            #"{"id":7,"message_id":"m1","status":"s\u0065nt","type":"receipt"}"#,
            #"{"id":7,"message_id":"m1","status":null,"type":"receipt"}"#,
            #"{"id":7,"status":"sent","type":"receipt"}"#, #"{"id":7,"message_id":"m1","type":"receipt"}"#,
            #"{"id":7,"id":7,"message_id":"m1","status":"sent","type":"receipt"}"#,
            #"{"message_ids":[],"type":"delivered"}"#, #"{"message_ids":["a","b"],"type":"delivered"}"#,
            #"{"message_ids":["a",1],"type":"delivered"}"#, #"{"message_ids":"a","type":"delivered"}"#,
            #"{"message_ids":null,"type":"delivered"}"#, #"{"type":"delivered"}"#,
            #"{"message_ids":[["a"]],"type":"delivered"}"#, #"{"message_ids":["a"],"type":"delivered","type":"delivered"}"#,
            #"{"message_id":"a","type":"delivered"}"#, #"{"type":"deliver","message_ids":[]}"#,
            "\u{FEFF}{\"message_ids\":[\"a\"],\"type\":\"delivered\"}", "{}", "", #"{"type":null}"#, #"{"type":7}"#,
            #"{"id":1,"type":"ok"}"#, #"{"code":"shutdown","message":"bye","type":"notice"}"#,
            #"{"message_ids":["a"],"type":"delivered""#, #"{"message_ids":["a"],"#, "{\"message_ids\":[\"a\"]\u{0}}",
        ]
        for line in lines {
            if let problem = Self.disagreement(Array(line.utf8)) {
                Issue.record("\(line.debugDescription): \(problem)")
            }
        }
        for bad: [UInt8] in [[0xFF], [0xC3], [0xED, 0xA0, 0x80], [0xC0, 0x80]] {
            for prefix in [#"{"from":"a","message_id":"m","sent_at":1,"seq":1,"type":"message","body":""#, #"{""#] {
                let line = Array(prefix.utf8) + bad + Array(#"x"}"#.utf8)
                if let problem = Self.disagreement(line) { Issue.record("\(line): \(problem)") }
            }
        }
    }

    /// Mutated corpus frames through both decoding paths; the scanner must also really be the
    /// path the conversation frames take.
    @Test func scannerAgreesOnMutatedFrames() async throws {
        var mutator = FrameMutator(seed: 0x5E4F_A57, corpus: try FrameMutator.loadCorpus("server-frames.jsonl"))
        var fast = 0
        var disagreements = 0
        for index in 0..<100_000 {
            if index % 500 == 0 { await Task.yield() }
            let input = mutator.mutatedInput()
            if let problem = Self.disagreement(input) {
                disagreements += 1
                Issue.record("input \(index) \(input): \(problem)")
                if disagreements > 10 { return }
            }
            if input.withUnsafeBufferPointer({ ServerFrameScanner.frame(in: $0) }) != nil { fast += 1 }
        }
        #expect(fast > 1_000, "the scanner took \(fast) mutated frames")
    }
}

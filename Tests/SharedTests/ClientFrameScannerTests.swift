import NIOCore
import Testing
import TestSupport

@testable import Shared

/// `ClientFrameScanner`, the server's fast path for client frames, against the general decoder
/// (the whole line parsed to a dictionary, then `FrameFields`), which stays the reference. Any
/// difference, in what is accepted or in how it is refused, is a bug.
@Suite struct ClientFrameScannerTests {
    private static let paths = ScannerAgreement<ClientFrame>(
        general: { ClientFrame.decodeInGeneral($0) }, scanner: { ClientFrameScanner.frame(in: $0) },
        decode: { ClientFrame.decode($0) }, decodeBuffer: { ClientFrame.decode($0) })

    /// Both paths on one line; nil when they agree, else what differs.
    private static func disagreement(_ input: [UInt8]) -> String? {
        paths.disagreement(input)
    }

    @Test func scannerTakesTheUsualCorpusFramesAndAgrees() throws {
        for line in try FrameMutator.loadCorpus("client-frames.jsonl") {
            let text = String(decoding: line, as: UTF8.self)
            #expect(Self.disagreement(line) == nil, "\(text)")
            // Only the line with an unknown member, the key frames and delete_account are left to
            // the general path.
            let fast = line.withUnsafeBufferPointer { ClientFrameScanner.frame(in: $0) }
            let rare = text.contains("\"extra\"") || text.contains("_keys\"") || text.contains("delete_account")
            #expect((fast == nil) == rare, "\(text)")
        }
    }

    @Test func scannerAgreesOnHandPickedLines() {
        let lines = [
            #"{"id":1,"id":2,"type":"ping"}"#, #"{"body":"a","body":"b","id":1,"type":"send"}"#,
            #"{"seq":1,"type":"ack","seq":1}"#, #"{"type":"ping","id":1,"type":"ping"}"#,
            #"{"type":"ping","id":1,"x":1,"x":2}"#, #"{"type":"ping","id":1,"x":{"a":1,"a":2}}"#,
            #"{"\u0069d":1,"type":"ping"}"#, #"{"id":1,"\u0074ype":"ping"}"#, #"{"id":1,"type":"\u0070ing"}"#,
            #"{"id":1,"type":"ping","id":1}"#, #"{"id":null,"type":"ping"}"#, #"{"id":1.0,"type":"ping"}"#,
            #"{"id":1e0,"type":"ping"}"#, #"{"id":-0,"type":"ping"}"#, #"{"id":1.5,"type":"ping"}"#,
            #"{"id":9223372036854775807,"type":"ping"}"#, #"{"id":9223372036854775808,"type":"ping"}"#,
            #"{"id":-9223372036854775808,"type":"ping"}"#, #"{"id":01,"type":"ping"}"#, #"{"id":"1","type":"ping"}"#,
            #"{"id":true,"type":"ping"}"#, #"{"id":1,"type":"ping",}"#, #"{"id":1,,"type":"ping"}"#,
            #"{"id":1 "type":"ping"}"#, #"{"id":1,"type":"ping"} x"#, #"{"id":1,"type":"ping"}}"#,
            "\u{FEFF}{\"id\":1,\"type\":\"ping\"}", " \t\r\n{ \"id\" : 1 , \"type\" : \"ping\" } \n",
            #"[{"id":1,"type":"ping"}]"#, #""ping""#, "{}", "", " ", #"{"type":null,"id":1}"#, #"{"type":1,"id":1}"#,
            #"{"type":"Ping","id":1}"#, #"{"type":"pin","id":1}"#, #"{"type":"pings","id":1}"#, #"{"type":"","id":1}"#,
            #"{"type":"ping"}"#, #"{"id":1}"#, #"{"id":1,"type":"ping","body":5}"#, #"{"id":1,"type":"send"}"#,
            #"{"id":1,"type":"send","body":null}"#, #"{"id":1,"type":"send","body":7}"#,
            #"{"body":"a\"b\\c\/d\n\u00e9\ud83d\ude00","id":1,"type":"send"}"#, #"{"body":"é中😀","id":1,"type":"send"}"#,
            "{\"body\":\"a\u{1}b\",\"id\":1,\"type\":\"send\"}", "{\"body\":\"\u{7F}\",\"id\":1,\"type\":\"send\"}",
            #"{"body":"\ud800","id":1,"type":"send"}"#, #"{"body":"abc,"id":1,"type":"send"}"#,
            #"{"body":"","id":1,"type":"send"}"#, #"{"seq":2,"type":"ack","id":"not an int"}"#,
            #"{"seq":"5","type":"ack"}"#, #"{"type":"ack"}"#, #"{"agent":"a","type":"hello","version":1}"#,
            #"{"agent":"a","type":"hello","version":"1"}"#, #"{"agent":"a","type":"hello"}"#,
            #"{"id":1,"password":"p","type":"login","username":"u"}"#, #"{"id":1,"password":"p","type":"register"}"#,
            #"{"id":1,"type":"chat","with":"bob"}"#, #"{"id":1,"type":"chat","with":["bob"]}"#,
            #"{"id":1,"type":"logout"}"#, #"{"id":1,"type":"leave"}"#, #"{"id":1,"type":"login"}"#,
            #"{"id":1,"type":"who"}"#, #"{"id":1,"type":"inbox"}"#, #"{"id":1,"type":"dance"}"#,
            #"{"typé":"ping","id":1}"#, #"{"id":1,"type":"ping","nested":"# + String(repeating: "[", count: 511)
                + String(repeating: "]", count: 511) + "}",
            #"{"id":1,"type":"ping","nested":"# + String(repeating: "[", count: 512) + String(repeating: "]", count: 512) + "}",
            #"{"id":1,"type":"ping""#, #"{"id":1,"type":"#, #"{"id":1,"#, #"{"id""#, "{", "{\"id\":1,\"type\":\"ping\"\u{0}}",
        ]
        for line in lines {
            if let problem = Self.disagreement(Array(line.utf8)) {
                Issue.record("\(line.debugDescription): \(problem)")
            }
        }
        // Invalid UTF-8 anywhere: the general path words it (invalid_utf8, not invalid_json).
        for bad: [UInt8] in [[0xFF], [0xC3], [0xED, 0xA0, 0x80], [0xC0, 0x80]] {
            for prefix in [#"{"id":1,"type":"ping","body":""#, #"{"id":1,"type":"ping"}"#, #"{""#] {
                let line = Array(prefix.utf8) + bad + Array(#"x"}"#.utf8)
                if let problem = Self.disagreement(line) { Issue.record("\(line): \(problem)") }
            }
        }
    }

    /// Mutated corpus frames through both decoding paths; the scanner must also really be the
    /// path that most valid frames take.
    @Test func scannerAgreesOnMutatedFrames() async throws {
        var mutator = FrameMutator(seed: 0x5CA9_4E55, corpus: try FrameMutator.loadCorpus("client-frames.jsonl"))
        var fast = 0
        var accepted = 0
        var disagreements = 0
        for index in 0..<100_000 {
            if index % 500 == 0 { await Task.yield() }
            let input = mutator.mutatedInput()
            if let problem = Self.disagreement(input) {
                disagreements += 1
                Issue.record("input \(index) \(input): \(problem)")
                if disagreements > 10 { return }
            }
            if case .success = ClientFrame.decodeInGeneral(input) { accepted += 1 }
            if input.withUnsafeBufferPointer({ ClientFrameScanner.frame(in: $0) }) != nil { fast += 1 }
        }
        #expect(fast > accepted / 2, "the scanner took \(fast) of \(accepted) accepted frames")
    }
}

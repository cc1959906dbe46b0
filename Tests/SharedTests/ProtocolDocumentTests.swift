import Foundation
import Shared
import Testing

/// docs/PROTOCOL.md is what client authors read; these tests keep it in step with the code.
@Suite struct ProtocolDocumentTests {
    private static func document() throws -> String {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/PROTOCOL.md")
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// Every JSON line in the document's ```json blocks, in order.
    private static func jsonExamples(_ document: String) -> [String] {
        var examples: [String] = []
        var inJSON = false
        for line in document.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                inJSON = line == "```json"
            } else if inJSON && !line.isEmpty {
                examples.append(String(line))
            }
        }
        return examples
    }

    /// One line of the example conversation: who, which direction, and the frame's JSON.
    private struct TranscriptLine {
        var user: String
        var fromClient: Bool
        var json: String
    }

    /// Every non-empty line in the document's ```text blocks, which hold the example conversation as
    /// `alice -> {json}` (client to server) and `bob   <- {json}` (server to client). Nil for a line
    /// of another shape, so a typo in the transcript fails the test instead of being skipped.
    private static func transcript(_ document: String) -> [TranscriptLine?] {
        var lines: [TranscriptLine?] = []
        var inText = false
        for line in document.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                inText = line == "```text"
                continue
            }
            guard inText, !line.isEmpty else { continue }
            guard let match = line.wholeMatch(of: /([a-z0-9_.-]+) +(->|<-) (\{.*\})/) else {
                lines.append(nil)
                continue
            }
            lines.append(TranscriptLine(user: String(match.1), fromClient: match.2 == "->", json: String(match.3)))
        }
        return lines
    }

    @Test func everyErrorCodeIsInTheTable() throws {
        let document = try Self.document()
        for code in ErrorCode.known {
            #expect(document.contains("| `\(code.rawValue)` |"), "missing \(code.rawValue)")
        }
        for code in NoticeCode.known {
            #expect(document.contains("| `\(code.rawValue)` |"), "missing \(code.rawValue)")
        }
    }

    /// The JSON `example` decoded as a client frame and encoded again, if it decodes as one.
    private static func clientReencoding(_ example: String) -> String? {
        guard case .success(let frame) = ClientFrame.decode(Array(example.utf8)) else { return nil }
        return String(decoding: frame.encode(), as: UTF8.self)
    }

    /// The JSON `example` decoded as a server frame and encoded again, if it decodes as one.
    private static func serverReencoding(_ example: String) -> String? {
        guard case .success(let frame) = ServerFrame.decode(Array(example.utf8)) else { return nil }
        return String(decoding: frame.encode(), as: UTF8.self)
    }

    /// Each example decodes, and encoding it again gives the same bytes: the examples are exactly
    /// what the implementation sends. `inbox` and `who` exist in both directions (and a server
    /// `who` also decodes as a client `who`, extra fields ignored), so an example passes when either
    /// side re-encodes it exactly.
    @Test func examplesAreExactEncodings() throws {
        let examples = Self.jsonExamples(try Self.document())
        #expect(examples.count >= 26)
        for example in examples {
            let client = Self.clientReencoding(example)
            let server = Self.serverReencoding(example)
            if client == nil && server == nil {
                Issue.record("example does not decode: \(example)")
            } else {
                #expect(client == example || server == example, "not an exact encoding: \(example)")
            }
        }
    }

    /// The example conversation: `->` lines are exact client encodings, `<-` lines exact server
    /// encodings, and together they show every chat frame.
    @Test func transcriptIsExactEncodings() throws {
        let lines = Self.transcript(try Self.document())
        #expect(lines.count >= 20)
        var clientKinds: Set<ClientFrame.Kind> = []
        var serverKinds: Set<ServerFrame.Kind> = []
        for line in lines {
            guard let line else {
                Issue.record("transcript line is not 'user -> {json}' or 'user <- {json}'")
                continue
            }
            let bytes = Array(line.json.utf8)
            if line.fromClient {
                guard case .success(let frame) = ClientFrame.decode(bytes) else {
                    Issue.record("not a client frame: \(line.json)")
                    continue
                }
                clientKinds.insert(frame.kind)
                #expect(String(decoding: frame.encode(), as: UTF8.self) == line.json)
            } else {
                guard case .success(let frame) = ServerFrame.decode(bytes) else {
                    Issue.record("not a server frame: \(line.json)")
                    continue
                }
                serverKinds.insert(frame.kind)
                #expect(String(decoding: frame.encode(), as: UTF8.self) == line.json)
            }
        }
        #expect(clientKinds.isSuperset(of: [.chat, .send, .ack, .who, .leave]))
        #expect(serverKinds.isSuperset(of: [.message, .receipt, .inbox, .who, .notice]))
    }

    @Test func defaultTextsMatchTheTable() throws {
        let document = try Self.document()
        let fixed: [ErrorCode] = [
            .invalidUTF8, .invalidJSON, .versionMismatch, .helloRequired, .alreadyHello, .notLoggedIn,
            .alreadyLoggedIn, .invalidUsername, .invalidPassword, .usernameTaken, .badCredentials,
            .tooManyErrors, .internal, .notChatting, .invalidMessage, .inboxFull, .notStored,
            .identityChanged, .tooManyPreKeys, .noKeys, .accountLocked, .passwordChangeRequired,
        ]
        for code in fixed {
            #expect(document.contains("| `\(code.rawValue)` | \(code.defaultMessage) |"), "\(code.rawValue)")
        }
        for code in NoticeCode.known {
            #expect(document.contains("| `\(code.rawValue)` | \(code.defaultMessage) |"), "\(code.rawValue)")
        }
    }
}

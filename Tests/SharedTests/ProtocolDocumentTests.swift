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

    @Test func everyErrorCodeIsInTheTable() throws {
        let document = try Self.document()
        for code in ErrorCode.known {
            #expect(document.contains("| `\(code.rawValue)` |"), "missing \(code.rawValue)")
        }
        for code in NoticeCode.known {
            #expect(document.contains("| `\(code.rawValue)` |"), "missing \(code.rawValue)")
        }
    }

    /// Each example decodes, and encoding it again gives the same bytes: the examples are exactly
    /// what the implementation sends.
    @Test func examplesAreExactEncodings() throws {
        let examples = Self.jsonExamples(try Self.document())
        #expect(examples.count >= 13)
        for example in examples {
            let bytes = Array(example.utf8)
            if case .success(let frame) = ClientFrame.decode(bytes) {
                #expect(String(decoding: frame.encode(), as: UTF8.self) == example)
            } else if case .success(let frame) = ServerFrame.decode(bytes) {
                #expect(String(decoding: frame.encode(), as: UTF8.self) == example)
            } else {
                Issue.record("example does not decode: \(example)")
            }
        }
    }

    @Test func defaultTextsMatchTheTable() throws {
        let document = try Self.document()
        let fixed: [ErrorCode] = [
            .invalidUTF8, .invalidJSON, .versionMismatch, .helloRequired, .alreadyHello, .notLoggedIn,
            .alreadyLoggedIn, .invalidUsername, .invalidPassword, .usernameTaken, .badCredentials,
            .tooManyErrors, .internal,
        ]
        for code in fixed {
            #expect(document.contains("| `\(code.rawValue)` | \(code.defaultMessage) |"), "\(code.rawValue)")
        }
    }
}

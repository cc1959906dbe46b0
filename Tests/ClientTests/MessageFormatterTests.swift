import Shared
import Testing

@testable import Client

@Suite("Client message formatting")
struct MessageFormatterTests {
    private let plain = MessageFormatter(environment: ["LANG": "C.UTF-8"], outputIsTerminal: false)

    @Test("text from the network cannot drive the terminal")
    func controlCharactersNeutralised() {
        let hostile = ChatMessage(
            id: "1", from: "bob", body: "hi\u{1B}[2J\u{1B}]0;pwned\u{07}\rthere\u{9B}31m", sentAtMilliseconds: 0, stored: false)
        let line = plain.message(hostile)
        #expect(!line.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
        #expect(line.hasSuffix("bob: hi?[2J?]0;pwned??there?31m"))
        #expect(MessageFormatter.printable("tab\tkept ünï ✓") == "tab\tkept ünï ✓")
    }

    @Test("a multi-line message is one indented block; bidirectional overrides are neutralised")
    func multiLineAndBidi() {
        let message = ChatMessage(
            id: "1", from: "bob", body: "first\nsecond\r\nthird \u{202E}txt.exe\u{2066}x\u{2069}", sentAtMilliseconds: 0,
            stored: false)
        let lines = plain.message(message).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3)
        #expect(lines[0].hasSuffix("bob: first"))
        #expect(lines[1] == "    second")
        #expect(lines[2] == "    third ?txt.exe?x?")
        #expect(MessageFormatter.printable("one\ntwo") == "one?two", "notices and names stay on one line")
    }

    @Test("colour only on a terminal without NO_COLOR; ASCII marks outside UTF-8 locales")
    func colourAndMarks() {
        let coloured = MessageFormatter(environment: ["LANG": "en_US.UTF-8", "TERM": "xterm"], outputIsTerminal: true)
        #expect(coloured.useColor && coloured.useUnicode)
        #expect(!MessageFormatter(environment: ["NO_COLOR": "1", "TERM": "xterm"], outputIsTerminal: true).useColor)
        #expect(!MessageFormatter(environment: ["TERM": "xterm"], outputIsTerminal: false).useColor)
        let ascii = MessageFormatter(environment: ["LANG": "C"], outputIsTerminal: false)
        #expect(ascii.mark(.stored) == "[stored]")
        #expect(ascii.mark(.delivered) == "[delivered]")
        #expect(plain.mark(.delivered) == "\u{2713}\u{2713}")
        let message = ChatMessage(id: "1", from: "bob", body: "hello", sentAtMilliseconds: 0, stored: true)
        #expect(!plain.message(message).contains("\u{1B}"), "no escape codes in a pipe")
        #expect(coloured.message(message).contains("\u{1B}[1;36mbob\u{1B}[0m"))
    }

    @Test("the inbox summary names senders by count, then name")
    func summary() {
        #expect(MessageFormatter.inboxSummary([:]) == "No new messages.")
        #expect(MessageFormatter.inboxSummary(["bob": 1]) == "1 new message from bob")
        #expect(MessageFormatter.inboxSummary(["carol": 1, "bob": 3, "al": 1]) == "3 new messages from bob, 1 from al, 1 from carol")
    }
}

import Shared
import Testing

@Suite("ChatText")
struct ChatTextTests {
    @Test("a new_message notice's text gives back its count and sender; other texts give nothing")
    func newMessagesRoundTrip() {
        for (count, sender) in [(1, "carol"), (2, "bob"), (1_240, "a.b-c_d")] {
            let parsed = ChatText.parseNewMessages(ChatText.newMessages(count, from: sender))
            #expect(parsed?.count == count && parsed?.sender == sender)
        }
        for text in ["", "now chatting with bob", "1 new messages from bob - /chat bob to read",
            "2 new message from bob - /chat bob to read", "0 new messages from bob - /chat bob to read",
            "1 new message from bob - /chat carol to read", "x new message from bob - /chat bob to read"]
        {
            #expect(ChatText.parseNewMessages(text) == nil, "\(text)")
        }
    }

    @Test("displayable: controls and bidi overrides become ?, line breaks only with a continuation")
    func displayable() {
        #expect(ChatText.displayable("a\u{1B}[31mb\u{7}c\u{202E}d\u{2068}e") == "a?[31mb?c?d?e")
        #expect(ChatText.displayable("one\r\ntwo\nthree", continuation: "  ") == "one\n  two\n  three")
        #expect(ChatText.displayable("one\ntwo") == "one?two")
        #expect(ChatText.displayable("lone\rreturn", continuation: "  ") == "lone?return")
        #expect(ChatText.displayable("tab\tand ünïcödé ✓") == "tab\tand ünïcödé ✓")
    }
}

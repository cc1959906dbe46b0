/// Texts and text rules both ends agree on: how a client makes another user's text safe to
/// print, and the notices the server words.
public enum ChatText {
    /// True for characters that can drive a terminal: C0 controls (escape, carriage return,
    /// bell, newline...) except tab, DEL, and the C1 controls (0x80-0x9F, e.g. CSI).
    public static func isTerminalControl(_ scalar: Unicode.Scalar) -> Bool {
        (scalar.value < 0x20 && scalar != "\t") || (0x7F...0x9F).contains(scalar.value)
    }

    /// The bidirectional embeddings, overrides and isolates (U+202A-202E, U+2066-2069): they
    /// reorder the text after them, so "txt.exe" can be made to look like "exe.txt".
    public static func isBidiControl(_ scalar: Unicode.Scalar) -> Bool {
        (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value)
    }

    /// Text from another user made safe to print: every terminal or bidirectional control
    /// becomes "?", except that a line break (LF or CR LF) is kept as a newline followed by
    /// `continuation`, so a multi-line message stays one indented block. `nil` turns line
    /// breaks into "?" too, for text that must stay on one line.
    public static func displayable(_ text: String, continuation: String? = nil) -> String {
        var result = String.UnicodeScalarView()
        var scalars = text.unicodeScalars.makeIterator()
        var pending = scalars.next()
        while let scalar = pending {
            pending = scalars.next()
            if let continuation, scalar == "\n" || (scalar == "\r" && pending == "\n") {
                if scalar == "\r" { pending = scalars.next() }
                result.append("\n")
                result.append(contentsOf: continuation.unicodeScalars)
            } else if isTerminalControl(scalar) || isBidiControl(scalar) {
                result.append("?")
            } else {
                result.append(scalar)
            }
        }
        return String(result)
    }

    /// "1 new message from NAME - /chat NAME to read" / "N new messages from NAME - ...".
    public static func newMessages(_ count: Int, from sender: String) -> String {
        "\(count) new message\(count == 1 ? "" : "s") from \(sender) - /chat \(sender) to read"
    }

    /// The count and sender of a `new_message` notice's text (`newMessages(_:from:)`), or nil
    /// for any other text.
    public static func parseNewMessages(_ text: String) -> (count: Int, sender: String)? {
        let words = text.split(separator: " ", maxSplits: 4, omittingEmptySubsequences: false)
        guard words.count == 5, let count = Int(words[0]), count > 0,
            words[1] == "new", words[2] == (count == 1 ? "message" : "messages"), words[3] == "from"
        else { return nil }
        let sender = words[4].prefix { $0 != " " }
        guard !sender.isEmpty, words[4].dropFirst(sender.count).hasPrefix(" - /chat \(sender) to read") else { return nil }
        return (count, String(sender))
    }

    /// "1 stored message expired unread" / "N stored messages expired unread".
    public static func expired(_ count: Int) -> String {
        count == 1 ? "1 stored message expired unread" : "\(count) stored messages expired unread"
    }

    /// The `invited` notice: `user` has chosen you and waits for you to choose them back.
    public static func invited(by user: String) -> String {
        "\(user) wants to chat - /chat \(user) to answer"
    }
}

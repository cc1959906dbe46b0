/// Text rules both sides must agree on, kept in one place so the server's refusal and the
/// client's display cannot drift apart.
public enum ChatText {
    /// True for characters that can drive a terminal: C0 controls (escape, carriage return,
    /// bell, newline...) except tab, DEL, and the C1 controls (0x80-0x9F, e.g. CSI).
    /// The server refuses message bodies containing them; the client shows any it
    /// receives as "?".
    public static func isTerminalControl(_ scalar: Unicode.Scalar) -> Bool {
        (scalar.value < 0x20 && scalar != "\t") || (0x7F...0x9F).contains(scalar.value)
    }

    /// "1 new message from NAME - /chat NAME to read" / "N new messages from NAME - ...".
    public static func newMessages(_ count: Int, from sender: String) -> String {
        "\(count) new message\(count == 1 ? "" : "s") from \(sender) - /chat \(sender) to read"
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

import Foundation
import Shared

/// How chat lines look: time, sender, receipt marks; colour only on a terminal without
/// NO_COLOR, Unicode marks only in a UTF-8 locale (ASCII otherwise).
struct MessageFormatter {
    let useColor: Bool
    let useUnicode: Bool
    private let today: DateFormatter
    private let otherDay: DateFormatter

    init(environment: [String: String] = ProcessInfo.processInfo.environment, outputIsTerminal: Bool = isatty(1) == 1) {
        useColor = outputIsTerminal && environment["NO_COLOR"] == nil && environment["TERM"] != "dumb"
        let locale = environment["LC_ALL"] ?? environment["LC_CTYPE"] ?? environment["LANG"] ?? ""
        useUnicode = locale.uppercased().contains("UTF-8") || locale.uppercased().contains("UTF8")
        today = DateFormatter()
        today.dateFormat = "HH:mm"
        otherDay = DateFormatter()
        otherDay.dateFormat = "MMM d HH:mm"
    }

    /// "[14:03] bob: hello" (with the date when not today); the further lines of a
    /// multi-line message follow, indented under the first.
    func message(_ message: ChatMessage) -> String {
        "\(time(message.sentAtMilliseconds)) \(name(Self.printable(message.from), own: false)): "
            + ChatText.displayable(message.body, continuation: Self.continuation)
    }

    /// Where the second and later lines of a message start.
    static let continuation = "    "

    /// Text from the network made safe for one line of a terminal: control characters
    /// (escape sequences, carriage returns, bells, newlines) and bidirectional overrides
    /// become "?", so nobody can redraw your screen or reorder what you read.
    static func printable(_ text: String) -> String {
        ChatText.displayable(text)
    }

    /// The sender's own line once the server has it: "[14:03] you: hello ✓ stored".
    /// How far one of the user's own messages has got.
    enum Mark {
        case sent, stored, delivered

        init(_ status: ReceiptStatus) {
            switch status {
            case .sent: self = .sent
            case .stored: self = .stored
            }
        }
    }

    func ownMessage(_ body: String, sentAt: Date, status: Mark) -> String {
        "\(time(Int64(sentAt.timeIntervalSince1970 * 1000))) \(name("you", own: true)): "
            + "\(ChatText.displayable(body, continuation: Self.continuation))  \(mark(status))"
    }

    /// The later notice that a message reached the partner's screen.
    func delivered(to partner: String, body: String) -> String {
        let preview = body.count > 40 ? body.prefix(40) + "..." : Substring(body)
        return "  \(mark(.delivered)) \(partner) received: \(Self.printable(String(preview)))"
    }

    /// A server notice or client remark, set apart from chat lines.
    func notice(_ text: String) -> String {
        let line = "* " + Self.printable(text)
        return useColor ? "\u{1B}[2m\(line)\u{1B}[0m" : line
    }

    /// A warning that must not be missed: every line marked "!!", red and bold on a
    /// colour terminal.
    func warning(_ lines: [String]) -> String {
        lines.map { line in
            let marked = "!! " + Self.printable(line)
            return useColor ? "\u{1B}[1;31m\(marked)\u{1B}[0m" : marked
        }.joined(separator: "\n")
    }

    /// One line of `/history`: "[Dec 6 14:03] you: hello" (`from` nil for the user's own).
    func historyLine(_ text: String, from sender: String?, at date: Date) -> String {
        "\(time(Int64(date.timeIntervalSince1970 * 1000))) \(name(sender.map(Self.printable) ?? "you", own: sender == nil)): "
            + ChatText.displayable(text, continuation: Self.continuation)
    }

    func mark(_ status: Mark) -> String {
        switch (status, useUnicode) {
        case (.sent, true): "\u{2713}"
        case (.stored, true): "\u{2713} stored"
        case (.delivered, true): "\u{2713}\u{2713}"
        case (.sent, false): "[sent]"
        case (.stored, false): "[stored]"
        case (.delivered, false): "[delivered]"
        }
    }

    private func time(_ milliseconds: Int64) -> String {
        let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        let formatter = Calendar.current.isDateInToday(date) ? today : otherDay
        return "[\(formatter.string(from: date))]"
    }

    private func name(_ name: String, own: Bool) -> String {
        guard useColor else { return name }
        return own ? "\u{1B}[32m\(name)\u{1B}[0m" : "\u{1B}[1;36m\(name)\u{1B}[0m"
    }

    /// "3 new messages from bob, 1 from carol", or "No new messages."
    static func inboxSummary(_ counts: [String: Int]) -> String {
        let senders = counts.filter { $0.value > 0 }.sorted { ($0.value, $1.key) > ($1.value, $0.key) }
        guard let first = senders.first else { return "No new messages." }
        var parts = ["\(first.value) new message\(first.value == 1 ? "" : "s") from \(first.key)"]
        parts += senders.dropFirst().map { "\($0.value) from \($0.key)" }
        return parts.joined(separator: ", ")
    }
}

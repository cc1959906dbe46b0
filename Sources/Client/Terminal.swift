import Dispatch
import Foundation
import Shared

/// The user's side of the screen: prompts, typed lines, and lines printed above the prompt.
///
/// On a terminal it runs its own small line editor with the terminal in raw mode (no
/// canonical input, no echo, signals kept), because only then can a message arriving
/// mid-typing be printed above the prompt and the half-typed line drawn again. Password
/// prompts are not echoed at all. The terminal's settings are restored by `restore()`,
/// which every way out calls (exit, Ctrl-C, errors, the server hanging up).
///
/// When standard input is not a terminal (scripts, tests), nothing about the terminal is
/// touched: prompts are printed plainly and lines are read as they come.
///
/// `@unchecked Sendable`: the editor state lives in `editor`'s lock; reads happen on the
/// private serial `queue` only.
final class Terminal: @unchecked Sendable {
    /// True when standard input is a terminal.
    let isInteractive: Bool

    private struct Editor {
        var prompt = ""
        var line: [UInt8] = []
        var hidden = false
        var active = false
        /// Erase the line on Enter (chat lines come back formatted, with a receipt mark).
        var transient = false
        /// Rows printed above the prompt so far (on a terminal), to find a line again.
        var rowsPrinted = 0
        /// A progress line drawn in place of the prompt (a file on its way), redrawn below
        /// whatever is printed meanwhile.
        var progress: String?
    }

    /// Where `printAbove` put a text: its first row (counted from the start of the session)
    /// and how many rows it took.
    struct PrintedLines {
        let firstRow: Int
        let rows: Int
    }

    private let queue = DispatchQueue(label: "terminal-input")
    private let editor = Locked(Editor())
    private let savedSettings = Locked<termios?>(nil)
    private var pipeBuffer: [UInt8] = []
    private var reachedEnd = false

    init() {
        isInteractive = isatty(STDIN_FILENO) == 1
    }

    /// Shows `prompt`, reads one line on the input queue and reports it through `deliver`.
    /// With `hidden`, nothing typed is shown; with `transient`, the line is erased on Enter.
    func requestLine(
        prompt: String, hidden: Bool, transient: Bool = false, deliver: @escaping @Sendable (ClientEvent) -> Void
    ) {
        if isInteractive { enterRawMode() }
        editor.withLock { editor in
            // `transient` only matters to the terminal editor; a pipe never echoes anyway.
            editor = Editor(
                prompt: prompt, line: [], hidden: hidden, active: true, transient: transient,
                rowsPrinted: editor.rowsPrinted, progress: nil)
            Console.write(prompt)
        }
        queue.async {
            let line = self.isInteractive ? self.editLine() : self.readPipedLine()
            if !self.isInteractive {
                self.editor.withLock { editor in
                    // A pipe echoes nothing; end the prompt's line so the transcript reads well.
                    if editor.active, line != nil { Console.write("\n") }
                    editor.active = false
                }
            }
            deliver(line.map(ClientEvent.line) ?? .endOfInput)
        }
    }

    /// Prints `text` as whole lines above the prompt, then redraws the prompt and what has
    /// been typed so far (not for hidden input). Returns where it went, for `rewrite`.
    @discardableResult
    func printAbove(_ text: String) -> PrintedLines {
        editor.withLock { editor in
            guard isInteractive else {
                // No redrawing in a pipe: just start on a line of our own.
                Console.write((editor.active ? "\n" : "") + text + "\n")
                editor.active = false
                return PrintedLines(firstRow: 0, rows: 0)
            }
            let printed = PrintedLines(
                firstRow: editor.rowsPrinted, rows: ScreenRows.rows(of: text, columns: Self.columns()))
            editor.rowsPrinted += printed.rows
            guard editor.active else {
                if let progress = editor.progress {
                    Console.write("\r\u{1B}[2K" + text.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n" + progress)
                } else {
                    Console.write(text + "\n")
                }
                return printed
            }
            var output = "\r\u{1B}[2K" + text.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n" + editor.prompt
            if !editor.hidden { output += String(decoding: editor.line, as: UTF8.self) }
            Console.write(output)
            return printed
        }
    }

    /// Replaces what `printAbove` printed with `text` in place, if it is still on screen and
    /// `text` takes as many rows; false (nothing written) otherwise, and always in a pipe,
    /// so the caller prints a line of its own instead.
    func rewrite(_ printed: PrintedLines, with text: String) -> Bool {
        guard isInteractive, printed.rows > 0, let size = Self.windowSize() else { return false }
        return editor.withLock { editor in
            // Rows from the block's first row down to the prompt's row.
            let up = editor.rowsPrinted - printed.firstRow
            guard up >= printed.rows, up < size.rows,
                ScreenRows.rows(of: text, columns: size.columns) == printed.rows
            else { return false }
            var output = "\r\u{1B}[\(up)A"
            for row in 0..<printed.rows {
                output += "\u{1B}[2K" + (row < printed.rows - 1 ? "\u{1B}[1B" : "")
            }
            if printed.rows > 1 { output += "\u{1B}[\(printed.rows - 1)A" }
            output += "\r" + text.replacingOccurrences(of: "\n", with: "\r\n")
            output += "\u{1B}[\(up - printed.rows + 1)B\r"
            if editor.active {
                output += "\u{1B}[2K" + editor.prompt
                if !editor.hidden { output += String(decoding: editor.line, as: UTF8.self) }
            }
            Console.write(output)
            return true
        }
    }

    /// Draws (or redraws) a progress line where the prompt would be, on a terminal; nil
    /// takes it away. Nothing in a pipe: the caller prints whole lines there instead.
    func showProgress(_ text: String?) {
        guard isInteractive else { return }
        editor.withLock { editor in
            guard !editor.active else { return }
            editor.progress = text
            Console.write("\r\u{1B}[2K" + (text ?? ""))
        }
    }

    private static func windowSize() -> (rows: Int, columns: Int)? {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_row > 0, size.ws_col > 0 else { return nil }
        return (Int(size.ws_row), Int(size.ws_col))
    }

    private static func columns() -> Int {
        windowSize()?.columns ?? 80
    }

    /// Rings the terminal's bell (on a terminal only).
    func bell() {
        guard isInteractive else { return }
        Console.write("\u{07}")
    }

    /// Replaces the prompt being shown, keeping what has been typed (on a terminal; a
    /// pipe has printed its prompt already).
    func changePrompt(to prompt: String) {
        editor.withLock { editor in
            guard editor.active, editor.prompt != prompt else { return }
            editor.prompt = prompt
            guard isInteractive else { return }
            var output = "\r\u{1B}[2K" + prompt
            if !editor.hidden { output += String(decoding: editor.line, as: UTF8.self) }
            Console.write(output)
        }
    }

    /// Puts the terminal back as it was. Safe to call at any time, from any thread, twice.
    func restore() {
        guard isInteractive else { return }
        savedSettings.withLock { saved in
            guard var original = saved else { return }
            tcsetattr(STDIN_FILENO, TCSANOW, &original)
            saved = nil
        }
    }

    // MARK: - Raw mode line editor

    private func enterRawMode() {
        savedSettings.withLock { saved in
            guard saved == nil else { return }
            var settings = termios()
            guard tcgetattr(STDIN_FILENO, &settings) == 0 else { return }
            saved = settings
            // No line buffering, no echo (we echo, except passwords); ISIG stays, so Ctrl-C
            // is still SIGINT and reaches the signal watcher that restores this.
            settings.c_lflag &= ~tcflag_t(ICANON | ECHO)
            withUnsafeMutableBytes(of: &settings.c_cc) { cc in
                cc[Int(VMIN)] = 1
                cc[Int(VTIME)] = 0
            }
            tcsetattr(STDIN_FILENO, TCSANOW, &settings)
        }
    }

    /// Edits one line: printable text, Backspace, Ctrl-U, Enter; Ctrl-D on an empty line is
    /// end of input; escape sequences (arrow keys) are ignored.
    private func editLine() -> String? {
        var escape = 0  // bytes of an escape sequence still to skip
        while let byte = readByte() {
            if escape > 0 {
                // ESC [ ... final byte in 0x40-0x7E ends a CSI sequence.
                if escape == 2 && byte != UInt8(ascii: "[") && byte != UInt8(ascii: "O") { escape = 0; continue }
                escape = (escape == 2) ? 1 : ((0x40...0x7E).contains(byte) ? 0 : 1)
                continue
            }
            switch byte {
            case 0x0D, 0x0A:  // Enter
                return editor.withLock { editor in
                    editor.active = false
                    Console.write(editor.transient ? "\r\u{1B}[2K" : "\r\n")
                    if !editor.transient {
                        let shown = editor.prompt + (editor.hidden ? "" : String(decoding: editor.line, as: UTF8.self))
                        editor.rowsPrinted += ScreenRows.rows(of: shown, columns: Self.columns())
                    }
                    return String(decoding: editor.line, as: UTF8.self)
                }
            case 0x04:  // Ctrl-D
                let empty = editor.withLock { $0.line.isEmpty }
                if empty {
                    editor.withLock { $0.active = false }
                    return nil
                }
            case 0x7F, 0x08:  // Backspace
                editor.withLock { editor in
                    guard !editor.line.isEmpty else { return }
                    // Remove a whole UTF-8 character: drop continuation bytes (10xxxxxx),
                    // then the lead byte.
                    while let last = editor.line.last, (last & 0xC0) == 0x80 { editor.line.removeLast() }
                    if !editor.line.isEmpty { editor.line.removeLast() }
                    if !editor.hidden { Console.write("\u{8} \u{8}") }
                }
            case 0x15:  // Ctrl-U
                editor.withLock { editor in
                    editor.line.removeAll()
                    Console.write("\r\u{1B}[2K" + editor.prompt)
                }
            case 0x1B:
                escape = 2
            case 0x00..<0x20:
                continue  // other control keys do nothing
            default:
                editor.withLock { editor in
                    guard editor.line.count < 65_536 else { return }
                    editor.line.append(byte)
                    if !editor.hidden { Console.writeBytes([byte]) }
                }
            }
        }
        editor.withLock { $0.active = false }
        return nil
    }

    private func readByte() -> UInt8? {
        var byte: UInt8 = 0
        while true {
            let count = read(STDIN_FILENO, &byte, 1)
            if count == 1 { return byte }
            if count < 0 && errno == EINTR { continue }
            return nil
        }
    }

    // MARK: - Piped input

    /// One line from a pipe, without "\n" (and "\r"); nil at end of input. Invalid UTF-8
    /// is repaired rather than rejected: the server judges what it receives.
    private func readPipedLine() -> String? {
        while true {
            if let newline = pipeBuffer.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(pipeBuffer[..<newline])
                pipeBuffer.removeSubrange(...newline)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            if reachedEnd {
                guard !pipeBuffer.isEmpty else { return nil }
                defer { pipeBuffer.removeAll() }
                return String(decoding: pipeBuffer, as: UTF8.self)
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = chunk.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
            if count > 0 {
                pipeBuffer.append(contentsOf: chunk[0..<count])
            } else if count == 0 || errno != EINTR {
                reachedEnd = true
            }
        }
    }
}

import Dispatch
import Foundation
import NIOConcurrencyHelpers
import Shared

/// Reads the user's lines from standard input, one on request, with echo switched off
/// for passwords when standard input is a terminal.
///
/// Reads block, so they run on a private serial queue and their result arrives as a
/// `ClientEvent`. When standard input is not a terminal (a pipe in scripts and tests),
/// nothing about the terminal is touched and passwords are read as ordinary lines.
///
/// `@unchecked Sendable`: the line buffer is touched only on `queue`; the saved terminal
/// settings are guarded by `savedSettings`' lock, because `restore()` is also called from
/// the signal queue on Ctrl-C.
final class TerminalInput: @unchecked Sendable {
    /// True when standard input is a terminal (then hidden input means echo off).
    let isTerminal: Bool
    private let queue = DispatchQueue(label: "terminal-input")
    private var buffer: [UInt8] = []
    private var reachedEnd = false
    private let savedSettings = NIOLockedValueBox<termios?>(nil)

    init() {
        isTerminal = isatty(STDIN_FILENO) == 1
    }

    /// Reads one line on the input queue and reports it through `deliver`.
    /// With `hidden`, the terminal does not echo what is typed.
    func requestLine(hidden: Bool, deliver: @escaping @Sendable (ClientEvent) -> Void) {
        if hidden { echo(false) }
        queue.async {
            let line = self.readLine()
            if hidden {
                self.echo(true)
            }
            // A terminal echoed the Enter key, except in a hidden read; a pipe echoes
            // nothing. Either way the next output should start on a new line.
            if line != nil, hidden || !self.isTerminal {
                Console.write("\n")
            }
            deliver(line.map(ClientEvent.line) ?? .endOfInput)
        }
    }

    /// Puts echo back if a hidden read switched it off. Safe to call at any time and
    /// more than once: the way out of every path (exit, Ctrl-C, errors) calls it.
    func restore() {
        echo(true)
    }

    private func echo(_ on: Bool) {
        guard isTerminal else { return }
        savedSettings.withLockedValue { saved in
            if on {
                guard var original = saved else { return }
                tcsetattr(STDIN_FILENO, TCSANOW, &original)
                saved = nil
            } else {
                guard saved == nil else { return }
                var settings = termios()
                guard tcgetattr(STDIN_FILENO, &settings) == 0 else { return }
                saved = settings
                settings.c_lflag &= ~tcflag_t(ECHO)
                tcsetattr(STDIN_FILENO, TCSANOW, &settings)
            }
        }
    }

    /// One line from fd 0, without "\n" (and "\r"); nil at end of input. Invalid UTF-8
    /// is repaired rather than rejected: the server judges what it receives.
    private func readLine() -> String? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            if reachedEnd {
                guard !buffer.isEmpty else { return nil }
                defer { buffer.removeAll() }
                return String(decoding: buffer, as: UTF8.self)
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = chunk.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
            if count > 0 {
                buffer.append(contentsOf: chunk[0..<count])
            } else if count == 0 || errno != EINTR {
                reachedEnd = true
            }
        }
    }
}

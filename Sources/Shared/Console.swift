#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Unbuffered writes to the standard streams.
///
/// Swift 6 refuses the C `stdout` global, and `print` is block-buffered when stdout is a
/// pipe, so a line a test waits for (or the last line before a crash) could sit unseen.
public enum Console {
    /// Writes `text` and a newline to standard output in one `write(2)`.
    public static func writeLine(_ text: String) {
        write(text + "\n", to: 1)
    }

    /// Writes `text` to standard output as is (prompts have no newline).
    public static func write(_ text: String) {
        write(text, to: 1)
    }

    /// Writes raw bytes to standard output (a typed byte echoed by a line editor).
    /// Bytes, not a String: a multi-byte character arrives one byte at a time.
    public static func writeBytes(_ bytes: [UInt8]) {
        write(bytes, to: 1)
    }

    /// Writes `text` and a newline to standard error.
    public static func errorLine(_ text: String) {
        write(text + "\n", to: 2)
    }

    private static func write(_ text: String, to descriptor: Int32) {
        write(Array(text.utf8), to: descriptor)
    }

    private static func write(_ bytes: [UInt8], to descriptor: Int32) {
        var bytes = bytes
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { raw in
                #if canImport(Glibc)
                Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                #else
                Darwin.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                #endif
            }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }
}

internal import COpenSSL

/// Reads and clears OpenSSL's thread-local error queue: the one reader of it in the
/// project (TLS, scrypt, the client's vault).
///
/// The queue is per thread, and an event loop thread serves many connections: an
/// error left behind by one connection would be blamed on the next. So every SSL
/// call is preceded by `clear()` and every failure is followed by `drain()`.
public enum OpenSSLErrorQueue {
    public static func clear() {
        ERR_clear_error()
    }

    /// Every queued error as OpenSSL's one-line text, oldest first; the queue is left empty.
    public static func drain() -> [String] {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return messages
    }

    /// The queued errors joined for a message, or `fallback` when the queue is empty.
    public static func drainDescription(fallback: String) -> String {
        let messages = drain()
        return messages.isEmpty ? fallback : messages.joined(separator: "; ")
    }
}

internal import COpenSSL

/// OpenSSL's thread-local error queue, as this module reads it: cleared before each call that
/// can fail, drained into one sentence after a failure, so an error left by an earlier call on
/// the same thread is never blamed on this one. (`Shared` has the same reader; this module
/// does not link `Shared`, which brings NIO.)
enum OpenSSLFailure {
    static func clear() {
        ERR_clear_error()
    }

    /// The queued errors joined into one line, or `fallback` if OpenSSL queued none.
    static func drain(fallback: String) -> String {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return messages.isEmpty ? fallback : messages.joined(separator: "; ")
    }
}

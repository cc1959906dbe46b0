/// What goes inside a Signal message: the text, framed and padded, so that a ciphertext's
/// length tells the server only the text's length to the next 64 bytes.
///
///     u8   format = 1
///     u8   kind   = 1 (text)
///     u32  length of the text in bytes (big-endian)
///     [..] the text, UTF-8
///     [..] zero bytes up to the next multiple of 64 (the whole envelope)
///
/// Later kinds (files) get their own number; a reader refuses a kind it does not know.
public enum MessageEnvelope {
    static let format: UInt8 = 1
    static let textKind: UInt8 = 1
    static let headerLength = 6
    /// The padding block.
    public static let block = 64
    /// The longest text a message carries, in UTF-8 bytes; the server's body limit leaves
    /// room for the Signal header and base64 on top of the padded envelope.
    public static let maximumTextBytes = 8_192

    /// The padded envelope of `text`.
    public static func seal(_ text: String) -> [UInt8] {
        let utf8 = Array(text.utf8)
        let length = UInt32(utf8.count)
        var bytes: [UInt8] = [format, textKind]
        bytes += [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
        bytes += utf8
        let padded = (bytes.count + block - 1) / block * block
        bytes += [UInt8](repeating: 0, count: padded - bytes.count)
        return bytes
    }

    /// The text inside an envelope; nil for anything that is not one (an unknown format
    /// or kind, a length past the end, padding that is not zeros, text that is not UTF-8).
    public static func open(_ bytes: [UInt8]) -> String? {
        guard bytes.count >= headerLength, bytes[0] == format, bytes[1] == textKind else { return nil }
        let length = bytes[2..<6].reduce(0) { $0 << 8 | Int($1) }
        guard length <= bytes.count - headerLength else { return nil }
        let text = bytes[headerLength..<headerLength + length]
        guard bytes[(headerLength + length)...].allSatisfy({ $0 == 0 }) else { return nil }
        return String(validating: text, as: UTF8.self)
    }
}

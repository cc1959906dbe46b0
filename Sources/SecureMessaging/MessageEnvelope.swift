import Foundation

/// What goes inside a Signal message: the text, framed and padded, so that a ciphertext's
/// length tells the server only the text's length to the next 64 bytes.
///
///     u8   format = 1
///     u8   kind   = 1 (text) or 2 (a file offer: `FileOffer` as JSON)
///     u32  length of the text in bytes (big-endian)
///     [..] the text, UTF-8
///     [..] zero bytes up to the next multiple of 64 (the whole envelope)
///
/// A reader refuses a kind it does not know.
public enum MessageEnvelope {
    static let format: UInt8 = 1
    static let textKind: UInt8 = 1
    static let fileKind: UInt8 = 2
    static let headerLength = 6
    /// The padding block.
    public static let block = 64
    /// The longest text a message carries, in UTF-8 bytes; the server's body limit leaves
    /// room for the Signal header and base64 on top of the padded envelope.
    public static let maximumTextBytes = 8_192

    /// The padded envelope of `text`.
    public static func seal(_ text: String) -> [UInt8] {
        seal(Array(text.utf8), kind: textKind)
    }

    /// The padded envelope of a file offer.
    public static func seal(_ offer: FileOffer) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        // Encoding a struct of strings, numbers and bytes cannot fail.
        return seal(Array(try! encoder.encode(offer)), kind: fileKind)
    }

    /// What an envelope holds; nil for anything that is not one, or an offer that is not
    /// well formed.
    public static func content(_ bytes: [UInt8]) -> Content? {
        guard bytes.count >= headerLength, bytes[0] == format else { return nil }
        let kind = bytes[1]
        guard kind == textKind || kind == fileKind, let payload = payload(bytes) else { return nil }
        if kind == textKind {
            return String(validating: payload, as: UTF8.self).map(Content.text)
        }
        guard let offer = try? JSONDecoder().decode(FileOffer.self, from: Data(payload)), offer.isWellFormed else {
            return nil
        }
        return .file(offer)
    }

    /// What an envelope carries.
    public enum Content: Hashable, Sendable {
        case text(String)
        case file(FileOffer)
    }

    private static func payload(_ bytes: [UInt8]) -> ArraySlice<UInt8>? {
        let length = bytes[2..<6].reduce(0) { $0 << 8 | Int($1) }
        guard length <= bytes.count - headerLength else { return nil }
        guard bytes[(headerLength + length)...].allSatisfy({ $0 == 0 }) else { return nil }
        return bytes[headerLength..<headerLength + length]
    }

    private static func seal(_ utf8: [UInt8], kind: UInt8) -> [UInt8] {
        let length = UInt32(utf8.count)
        var bytes: [UInt8] = [format, kind]
        bytes += [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
        bytes += utf8
        let padded = (bytes.count + block - 1) / block * block
        bytes += [UInt8](repeating: 0, count: padded - bytes.count)
        return bytes
    }

    /// The text inside an envelope; nil for anything that is not one (an unknown format
    /// or kind, a length past the end, padding that is not zeros, text that is not UTF-8).
    public static func open(_ bytes: [UInt8]) -> String? {
        guard case .text(let text) = content(bytes) else { return nil }
        return text
    }
}

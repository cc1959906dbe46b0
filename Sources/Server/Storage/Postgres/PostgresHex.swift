/// Text and bytes as hexadecimal, for `bytea` columns: a body may hold any Unicode text,
/// U+0000 included, which PostgreSQL's `text` refuses and a libpq parameter (a C string)
/// would cut short, and a key is bytes. Both are sent as hex (`decode($1, 'hex')`) and read
/// back as hex (`encode(body, 'hex')`).
enum PostgresHex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// The UTF-8 bytes of `text`, two lower-case hex digits each.
    static func encode(_ text: String) -> String {
        encode(bytes: text.utf8)
    }

    /// `bytes`, two lower-case hex digits each.
    static func encode(bytes: some Collection<UInt8>) -> String {
        var hex: [UInt8] = []
        hex.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    /// The text whose UTF-8 bytes `hex` spells; nil if it is not hex or not UTF-8.
    static func decode(_ hex: String) -> String? {
        decodeBytes(hex).flatMap { String(validating: $0, as: UTF8.self) }
    }

    /// The bytes `hex` spells; nil if it is not hex.
    static func decodeBytes(_ hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else {
            return nil
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else {
                return nil
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func value(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

internal import COpenSSL

/// Fresh message ids: random (version 4) UUIDs in lower case, the same form as before.
///
/// Made from OpenSSL's random generator rather than Foundation's `UUID()`, which opens,
/// reads and closes /dev/urandom for every id: 7 % of the server's CPU in a relay flood,
/// for one id per message.
enum MessageID {
    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A new id, such as "3f2c9a4e-7d1b-4e58-9c0a-6b2d8e1f4a37".
    static func random() -> String {
        // OpenSSL's RAND_bytes, as for password salts: its DRBG runs in user space, so an id
        // costs no system call (SystemRandomNumberGenerator makes one getrandom call per
        // word). Should it ever fail, the system generator takes over.
        var words: (UInt64, UInt64) = (0, 0)
        let filled = withUnsafeMutableBytes(of: &words) { RAND_bytes($0.baseAddress, Int32($0.count)) }
        if filled != 1 {
            var generator = SystemRandomNumberGenerator()
            words = (generator.next(), generator.next())
        }
        // Version 4 in the 13th hex digit, variant 10xx in the 17th (RFC 9562).
        let high = words.0 & 0xFFFF_FFFF_FFFF_0FFF | 0x0000_0000_0000_4000
        let low = words.1 & 0x3FFF_FFFF_FFFF_FFFF | 0x8000_0000_0000_0000
        var text = [UInt8]()
        text.reserveCapacity(36)
        for (index, word) in [high, low].enumerated() {
            for nibble in 0..<16 {
                let position = index * 16 + nibble
                if position == 8 || position == 12 || position == 16 || position == 20 {
                    text.append(UInt8(ascii: "-"))
                }
                text.append(hexDigits[Int((word >> UInt64(60 - 4 * nibble)) & 0xF)])
            }
        }
        return String(decoding: text, as: UTF8.self)
    }
}

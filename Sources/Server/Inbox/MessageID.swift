internal import COpenSSL
import Synchronization

/// Message ids: unique, and cheap enough to make one per relayed message.
///
/// An id is this process's random 64-bit prefix and a counter, both in hex:
/// `9f86d081884c7d65-000000000000002a`. The prefix is drawn once per start from OpenSSL's
/// DRBG, so ids from a restarted server (or from another node on the same database) do not
/// collide with earlier ones: two starts share a prefix with probability 2^-64. Ids need not
/// be secret: they name a message to its sender and recipient only, who both have it, and
/// nothing is granted by knowing one (acks name a connection's own `seq`).
enum MessageID {
    private static let hexDigits: StaticString = "0123456789abcdef"
    private static let prefix = randomPrefix()
    private static let counter = Atomic<UInt64>(0)

    /// A new id, never handed out before by this process.
    static func next() -> String {
        let count = counter.add(1, ordering: .relaxed).newValue
        let prefix = Self.prefix
        return String(unsafeUninitializedCapacity: 33) { buffer in
            let digits = hexDigits.utf8Start
            for index in 0..<16 {
                buffer[index] = digits[Int((prefix >> UInt64(60 - 4 * index)) & 0xF)]
                buffer[17 + index] = digits[Int((count >> UInt64(60 - 4 * index)) & 0xF)]
            }
            buffer[16] = UInt8(ascii: "-")
            return 33
        }
    }

    private static func randomPrefix() -> UInt64 {
        // OpenSSL's RAND_bytes, as for password salts; should it ever fail, the system
        // generator takes over.
        var prefix: UInt64 = 0
        let filled = withUnsafeMutableBytes(of: &prefix) { RAND_bytes($0.baseAddress, Int32($0.count)) }
        if filled != 1 {
            var generator = SystemRandomNumberGenerator()
            prefix = generator.next()
        }
        return prefix
    }
}

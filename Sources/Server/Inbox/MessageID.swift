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
    private static let counter = Atomic<UInt64>(0)
    /// The prefix and its dash, written out once: `hex(prefix)` then `-`.
    private static let prefixText: (UInt64, UInt64, UInt8) = {
        var text: (UInt64, UInt64, UInt8) = (0, 0, UInt8(ascii: "-"))
        withUnsafeMutableBytes(of: &text) { writeHex(randomPrefix(), to: $0.baseAddress!) }
        return text
    }()

    /// A new id, never handed out before by this process.
    static func next() -> String {
        let count = counter.add(1, ordering: .relaxed).newValue
        var prefix = Self.prefixText
        return String(unsafeUninitializedCapacity: 33) { buffer in
            let base = UnsafeMutableRawPointer(buffer.baseAddress!)
            withUnsafeBytes(of: &prefix) { base.copyMemory(from: $0.baseAddress!, byteCount: 17) }
            writeHex(count, to: base + 17)
            return 33
        }
    }

    /// "00" to "ff": each byte's two digits in one step.
    private static var hexPairs: StaticString {
        """
        000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
        202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f\
        404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f\
        606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f\
        808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f\
        a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\
        c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf\
        e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff
        """
    }

    /// `value` as 16 lower-case hex digits at `destination`, most significant first.
    private static func writeHex(_ value: UInt64, to destination: UnsafeMutableRawPointer) {
        let pairs = UnsafeRawPointer(hexPairs.utf8Start)
        for index in 0..<8 {
            let byte = Int((value >> UInt64(56 - 8 * index)) & 0xFF)
            (destination + 2 * index).copyMemory(from: pairs + 2 * byte, byteCount: 2)
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

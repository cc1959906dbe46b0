/// The number two users compare (read aloud, or side by side) to check that each sees the
/// other's real identity key: 60 digits, the same on both sides.
///
/// Computed as Signal's `NumericFingerprintGenerator` does (libomemo-c dropped
/// fingerprint.h): for each side, SHA-512 iterated 5200 times, starting from
/// `0x00 0x00 || identity key || identifier` and hashing `previous || identity key` each
/// round; the first 30 bytes make 30 digits (six 5-byte big-endian chunks, each mod 100000);
/// the two halves are joined in sorted order, so both users get the same string.
public struct SafetyNumber: Hashable, Sendable, CustomStringConvertible {
    /// The 60 digits.
    public let digits: String

    /// Signal's iteration count for displayable fingerprints.
    public static let iterations = 5200
    /// Signal's fingerprint version, the first two bytes hashed.
    static let version: [UInt8] = [0x00, 0x00]

    /// The safety number of two identities, each with its stable identifier (the user name).
    public init(
        localIdentifier: String, localKey: IdentityKey, remoteIdentifier: String, remoteKey: IdentityKey,
        iterations: Int = SafetyNumber.iterations
    ) throws(EncryptionError) {
        let local = try Self.half(identifier: localIdentifier, key: localKey, iterations: iterations)
        let remote = try Self.half(identifier: remoteIdentifier, key: remoteKey, iterations: iterations)
        digits = local <= remote ? local + remote : remote + local
    }

    /// The digits in twelve groups of five.
    public var groups: [String] {
        stride(from: 0, to: digits.count, by: 5).map { start in
            let from = digits.index(digits.startIndex, offsetBy: start)
            return String(digits[from..<digits.index(from, offsetBy: 5)])
        }
    }

    /// The groups separated by spaces, as users read them.
    public var description: String {
        groups.joined(separator: " ")
    }

    private static func half(identifier: String, key: IdentityKey, iterations: Int) throws(EncryptionError) -> String {
        guard let digest = SHA512Digest() else { throw .library(operation: "SHA-512", code: 0) }
        var hash = version + key.bytes + Array(identifier.utf8)
        for _ in 0..<iterations {
            let updated = hash.withUnsafeBytes { digest.update($0) } && key.bytes.withUnsafeBytes { digest.update($0) }
            guard updated, let next = digest.finish() else { throw .library(operation: "SHA-512", code: 0) }
            hash = next
        }
        return stride(from: 0, to: 30, by: 5).map { offset in
            let chunk = hash[offset..<offset + 5].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let number = String(chunk % 100_000)
            return String(repeating: "0", count: 5 - number.count) + number
        }.joined()
    }
}

internal import COpenSSL

/// Randomness for libomemo-c's keys, registration ids and signature nonces: OpenSSL's CSPRNG
/// (`RAND_bytes`). Every primitive libomemo-c borrows from its host comes from OpenSSL
/// (this, `HMACSHA256`, `SHA512Digest`, `AESCipher`); nothing is implemented by hand.
enum SecureRandom {
    /// Fills `count` bytes at `buffer`. False if the CSPRNG failed.
    static func fill(_ buffer: UnsafeMutableRawPointer, count: Int) -> Bool {
        guard count >= 0, count <= Int(Int32.max) else { return false }
        if count == 0 { return true }
        return RAND_bytes(buffer.assumingMemoryBound(to: UInt8.self), Int32(count)) == 1
    }
}

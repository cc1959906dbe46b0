/// The passwords `reset-password` hands out: random, easy to read out or type from a note,
/// and far above `PasswordPolicy`'s minimum.
enum OneTimePassword {
    /// Letters and digits without the ones easily mistaken for each other (0/O, 1/l/I).
    static let alphabet = Array("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
    /// Four groups of four: 22 characters with the dashes, about 125 bits.
    static let groups = 4
    static let groupLength = 4

    /// A fresh one-time password, such as `Kq7d-mPz4-...`, from OpenSSL's CSPRNG.
    ///
    /// - Throws: `PasswordHasherError.randomFailed` if the CSPRNG fails.
    static func generate() throws(PasswordHasherError) -> String {
        let count = groups * groupLength
        var characters: [Character] = []
        characters.reserveCapacity(count)
        // Rejection sampling: a byte past the last whole multiple of the alphabet's size is
        // drawn again, so every character is equally likely.
        let limit = 256 - 256 % alphabet.count
        while characters.count < count {
            for byte in try PasswordHasher.randomBytes(count: count) where Int(byte) < limit && characters.count < count {
                characters.append(alphabet[Int(byte) % alphabet.count])
            }
        }
        return stride(from: 0, to: count, by: groupLength)
            .map { String(characters[$0..<$0 + groupLength]) }
            .joined(separator: "-")
    }
}

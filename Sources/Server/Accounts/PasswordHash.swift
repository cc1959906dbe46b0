import Foundation

/// A stored password hash: scrypt's output with the salt and the cost parameters that
/// made it, so a later server can verify it after the defaults have been raised.
///
/// Stored as JSON with flat fields:
/// `{"algorithm":"scrypt","logN":14,"r":8,"p":1,"salt":"<base64>","hash":"<base64>"}`.
struct PasswordHash: Sendable, Hashable, Codable {
    /// The only algorithm written and accepted.
    static let algorithm = "scrypt"

    /// The scrypt parameters the hash was made with.
    let parameters: ScryptParameters
    /// The random per-password salt.
    let salt: [UInt8]
    /// scrypt's output.
    let hash: [UInt8]

    /// Wraps values computed by `PasswordHasher`, or read back from storage.
    init(parameters: ScryptParameters, salt: [UInt8], hash: [UInt8]) {
        self.parameters = parameters
        self.salt = salt
        self.hash = hash
    }

    /// Whether `password` is the one this hash was made from.
    ///
    /// Blocking (tens of milliseconds with the default parameters): run it on a
    /// `NIOThreadPool`, never on an event loop. The comparison is constant-time.
    ///
    /// - Throws: `PasswordHasherError` when the stored parameters are outside the
    ///   supported limits or OpenSSL fails; a wrong password is `false`, not an error.
    func verify(password: String) throws(PasswordHasherError) -> Bool {
        let candidate = try PasswordHasher.derive(
            password: PasswordHasher.passwordBytes(password),
            salt: salt,
            parameters: parameters,
            length: hash.count
        )
        return PasswordHasher.constantTimeEquals(candidate, hash)
    }

    /// Whether the hash should be recomputed with `current` parameters (and the current
    /// salt and output lengths) at the next successful login.
    func needsRehash(current: ScryptParameters) -> Bool {
        parameters != current
            || salt.count != PasswordHasher.saltLength
            || hash.count != PasswordHasher.hashLength
    }

    // MARK: - Codable

    private enum CodingKeys: String, CodingKey {
        case algorithm, logN, r, p, salt, hash
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let algorithm = try container.decode(String.self, forKey: .algorithm)
        guard algorithm == Self.algorithm else {
            throw DecodingError.dataCorruptedError(
                forKey: .algorithm, in: container,
                debugDescription: PasswordHasherError.unsupportedAlgorithm(algorithm).description
            )
        }
        parameters = ScryptParameters(
            logN: try container.decode(Int.self, forKey: .logN),
            r: try container.decode(Int.self, forKey: .r),
            p: try container.decode(Int.self, forKey: .p)
        )
        salt = try Self.decodeBase64(container, .salt)
        hash = try Self.decodeBase64(container, .hash)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.algorithm, forKey: .algorithm)
        try container.encode(parameters.logN, forKey: .logN)
        try container.encode(parameters.r, forKey: .r)
        try container.encode(parameters.p, forKey: .p)
        try container.encode(Data(salt).base64EncodedString(), forKey: .salt)
        try container.encode(Data(hash).base64EncodedString(), forKey: .hash)
    }

    /// Base64 is spelled out here rather than left to `JSONEncoder`'s data strategy, so
    /// the stored format does not depend on how some encoder happens to be configured.
    private static func decodeBase64(
        _ container: KeyedDecodingContainer<CodingKeys>,
        _ key: CodingKeys
    ) throws -> [UInt8] {
        let text = try container.decode(String.self, forKey: key)
        guard let data = Data(base64Encoded: text), !data.isEmpty,
              data.count <= PasswordHasher.maximumHashLength
        else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: container,
                debugDescription: "\(key.stringValue) must be 1-\(PasswordHasher.maximumHashLength) bytes of base64"
            )
        }
        return Array(data)
    }
}

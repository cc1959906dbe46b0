internal import COpenSSL
import Foundation
import OpenSSLSupport
import Shared

/// Hashes and verifies passwords with scrypt (OpenSSL's `EVP_PBE_scrypt`).
///
/// scrypt rather than Argon2 because the system OpenSSL (3.0) has no Argon2 before 3.2.
/// Every call is deliberately slow and blocking (tens of milliseconds with the default
/// parameters): callers run it on a `NIOThreadPool`, never on an event loop.
struct PasswordHasher: Sendable {
    /// Bytes of random salt per password.
    static let saltLength = 16
    /// Bytes of scrypt output stored per password.
    static let hashLength = 32
    /// Longest salt or output accepted from storage; bounds the work a damaged record causes.
    static let maximumHashLength = 64

    /// The parameters new hashes are made with.
    let parameters: ScryptParameters

    /// A hash nobody's password matches, made with `parameters`: verifying against it
    /// costs the same as verifying a real account's password. (Internal, not private, so a
    /// test can check its parameters: equal cost is asserted by construction, not by a
    /// timed test on a shared machine.)
    let dummyHash: PasswordHash

    /// Creates a hasher that makes new hashes with `parameters`.
    ///
    /// - Throws: `PasswordHasherError.unsupportedParameters` if they are out of limits.
    init(parameters: ScryptParameters = .default) throws(PasswordHasherError) {
        guard parameters.isSupported else {
            throw .unsupportedParameters(parameters)
        }
        self.parameters = parameters
        // A fixed salt and an all-zero output: scrypt never yields all zeros in practice,
        // and dummyVerify returns false regardless.
        dummyHash = PasswordHash(
            parameters: parameters,
            salt: Array(repeating: 0x5A, count: Self.saltLength),
            hash: Array(repeating: 0, count: Self.hashLength)
        )
    }

    /// Hashes `password` with a fresh random salt and the hasher's parameters. Blocking.
    func hash(password: String) throws(PasswordHasherError) -> PasswordHash {
        let salt = try Self.randomBytes(count: Self.saltLength)
        let output = try Self.derive(
            password: Self.passwordBytes(password),
            salt: salt,
            parameters: parameters,
            length: Self.hashLength
        )
        return PasswordHash(parameters: parameters, salt: salt, hash: output)
    }

    /// Verifies `password` against `stored`, or, when there is no such account, spends
    /// the same time on a dummy hash and answers false. Blocking.
    ///
    /// Use this for logins so "no such user" and "wrong password" cannot be told apart
    /// by timing.
    func verify(password: String, against stored: PasswordHash?) throws(PasswordHasherError) -> Bool {
        guard let stored else {
            return try dummyVerify(password: password)
        }
        return try stored.verify(password: password)
    }

    /// Runs a full verification against a fixed dummy hash with the hasher's parameters
    /// and returns false. Blocking: it costs as much as checking a real password.
    @discardableResult
    func dummyVerify(password: String) throws(PasswordHasherError) -> Bool {
        _ = try dummyHash.verify(password: password)
        return false
    }

    // MARK: - Primitives (the only OpenSSL calls)

    /// The bytes that are hashed for `password`: its UTF-8 in Unicode NFC.
    ///
    /// Normalising first means "é" typed as one code point or as "e" plus a combining
    /// accent (terminals and input methods differ) is the same password.
    static func passwordBytes(_ password: String) -> [UInt8] {
        Array(password.precomposedStringWithCanonicalMapping.utf8)
    }

    /// scrypt of `password` and `salt` with `parameters`, `length` bytes long.
    static func derive(
        password: [UInt8],
        salt: [UInt8],
        parameters: ScryptParameters,
        length: Int
    ) throws(PasswordHasherError) -> [UInt8] {
        guard parameters.isSupported else {
            throw .unsupportedParameters(parameters)
        }
        guard (1...maximumHashLength).contains(length), (1...maximumHashLength).contains(salt.count) else {
            throw .malformedHash("salt and output must be 1-\(maximumHashLength) bytes")
        }
        do {
            return try Scrypt.derive(
                password: password, salt: salt, n: parameters.n, r: UInt64(parameters.r), p: UInt64(parameters.p),
                length: length)
        } catch {
            throw .derivationFailed(error.reason)
        }
    }

    /// Compares two byte strings in time that depends only on their length
    /// (`CRYPTO_memcmp`), so a timing attacker learns nothing about where they differ.
    static func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        // The lengths are public (fixed by the stored hash), so this early exit leaks nothing.
        guard lhs.count == rhs.count else {
            return false
        }
        guard !lhs.isEmpty else {
            return true
        }
        return lhs.withUnsafeBytes { left in
            rhs.withUnsafeBytes { right in
                CRYPTO_memcmp(left.baseAddress, right.baseAddress, left.count) == 0
            }
        }
    }

    /// `count` bytes from OpenSSL's CSPRNG.
    static func randomBytes(count: Int) throws(PasswordHasherError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        OpenSSLErrorQueue.clear()
        let status = bytes.withUnsafeMutableBufferPointer { buffer in
            RAND_bytes(buffer.baseAddress, Int32(buffer.count))
        }
        guard status == 1 else {
            throw .randomFailed(openSSLErrors())
        }
        return bytes
    }

    private static func openSSLErrors() -> String {
        OpenSSLErrorQueue.drainDescription(fallback: "unknown OpenSSL error")
    }
}

/// Failures of password hashing and verification.
///
/// A wrong password is not an error: `verify` returns false for it. These are the
/// cases where no answer could be computed at all.
enum PasswordHasherError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The parameters are outside the limits in `ScryptParameters.isSupported`.
    case unsupportedParameters(ScryptParameters)
    /// A stored hash names an algorithm this server does not implement.
    case unsupportedAlgorithm(String)
    /// A stored hash has a salt or hash that cannot be used (wrong length or encoding).
    case malformedHash(String)
    /// OpenSSL's random generator failed; never fall back to a weaker source.
    case randomFailed(String)
    /// OpenSSL's scrypt failed (for example it could not allocate its memory).
    case derivationFailed(String)

    var description: String {
        switch self {
        case .unsupportedParameters(let parameters):
            return "unsupported password hash parameters \(parameters)"
        case .unsupportedAlgorithm(let name):
            return "unsupported password hash algorithm \"\(name)\""
        case .malformedHash(let reason):
            return "malformed password hash: \(reason)"
        case .randomFailed(let reason):
            return "cannot generate a random salt: \(reason)"
        case .derivationFailed(let reason):
            return "scrypt failed: \(reason)"
        }
    }
}

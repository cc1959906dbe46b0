/// The rule every new password must meet: 8 to 1024 bytes of UTF-8.
///
/// Length is counted in UTF-8 bytes, not characters, because bytes are what is sent
/// and hashed. The upper bound keeps a request from making the server hash megabytes;
/// there are no composition rules, which push users toward predictable patterns. The
/// server enforces it; a client checks it before asking for the confirmation.
public enum PasswordPolicy {
    /// Shortest accepted password, in UTF-8 bytes.
    public static let minimumBytes = 8
    /// Longest accepted password, in UTF-8 bytes.
    public static let maximumBytes = 1024

    /// Checks `password` against the policy.
    ///
    /// - Throws: `PasswordPolicy.Violation` saying what is wrong, fit to show the user.
    public static func validate(_ password: String) throws(Violation) {
        let count = password.utf8.count
        if count < minimumBytes {
            throw .tooShort(minimum: minimumBytes)
        }
        if count > maximumBytes {
            throw .tooLong(maximum: maximumBytes)
        }
    }

    /// Why a password was refused.
    public enum Violation: Error, Equatable, Sendable, CustomStringConvertible {
        /// Fewer than `minimum` bytes.
        case tooShort(minimum: Int)
        /// More than `maximum` bytes.
        case tooLong(maximum: Int)

        public var description: String {
            switch self {
            case .tooShort(let minimum):
                return "password must be at least \(minimum) bytes"
            case .tooLong(let maximum):
                return "password must be at most \(maximum) bytes"
            }
        }
    }

    /// The rule in one line, as `invalid_password` states it.
    public static let ruleText = "password must be \(minimumBytes)-\(maximumBytes) bytes long"
}

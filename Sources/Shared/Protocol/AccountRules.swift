/// The username and password rules both sides apply, so the client can refuse a bad name before
/// sending it and the server enforces exactly the same thing.
public enum AccountRules {
    /// Allowed username length, in characters (all allowed characters are ASCII).
    public static let usernameLength = 1...32
    /// Allowed password length, in UTF-8 bytes.
    public static let passwordLength = 8...1024

    /// The text of `ErrorCode.invalidUsername`.
    public static let usernameRuleText =
        "username must be 1-32 characters from a-z, 0-9, '_', '.' and '-'"
    /// The text of `ErrorCode.invalidPassword`.
    public static let passwordRuleText = "password must be 8-1024 bytes long"

    /// Returns the canonical (lower-case) form of `username`, or nil if it breaks the rules.
    ///
    /// Usernames are case-insensitive: `Alice` and `alice` are the same account. Only ASCII letters
    /// are folded, by hand, because Unicode case mapping could turn a non-ASCII letter into an
    /// allowed ASCII one (`K`, the Kelvin sign, lower-cases to `k`) and let two spellings collide.
    public static func normalizedUsername(_ username: String) -> String? {
        let bytes = Array(username.utf8)
        guard usernameLength.contains(bytes.count) else { return nil }
        var folded: [UInt8] = []
        folded.reserveCapacity(bytes.count)
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"):
                folded.append(byte)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                folded.append(byte + 32)
            default:
                return nil
            }
        }
        return String(decoding: folded, as: UTF8.self)
    }

    /// Whether `password` has an acceptable length. Its content is not restricted.
    public static func isValidPassword(_ password: String) -> Bool {
        passwordLength.contains(password.utf8.count)
    }
}

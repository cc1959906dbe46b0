/// A validated, normalised username: 1-32 characters of `a-z`, `0-9`, `_`, `.`, `-`.
///
/// Usernames are case-insensitive: input is lower-cased, so "Alice" and "alice" are the
/// same account. Only ASCII letters are folded; anything else is rejected before any
/// case mapping, so Unicode tricks (the Kelvin sign lower-cases to "k") cannot produce
/// a second spelling of someone else's name.
///
/// The one statement of the rule: the server enforces it, a client may check it before
/// sending, and `ErrorCode.invalidUsername`'s text summarises it.
public struct Username: Sendable, Hashable, CustomStringConvertible {
    /// Longest accepted username, in characters (all ASCII, so also bytes).
    public static let maximumLength = 32

    /// The normalised (lower-case) name; also the account's storage key.
    public let value: String

    /// Validates and normalises `raw`.
    ///
    /// - Throws: `Username.ValidationError` saying what is wrong, fit to show the user.
    public init(_ raw: String) throws(ValidationError) {
        guard !raw.isEmpty else {
            throw .empty
        }
        var normalised = ""
        normalised.reserveCapacity(min(raw.utf8.count, Self.maximumLength))
        var length = 0
        for scalar in raw.unicodeScalars {
            guard let allowed = Self.normalise(scalar) else {
                throw .invalidCharacter(Character(scalar))
            }
            length += 1
            guard length <= Self.maximumLength else {
                throw .tooLong(maximum: Self.maximumLength)
            }
            normalised.unicodeScalars.append(allowed)
        }
        value = normalised
    }

    public var description: String { value }

    /// The lower-case form of an allowed character, or nil for anything else.
    private static func normalise(_ scalar: Unicode.Scalar) -> Unicode.Scalar? {
        switch scalar {
        case "a"..."z", "0"..."9", "_", ".", "-":
            return scalar
        case "A"..."Z":
            return Unicode.Scalar(scalar.value + 0x20)
        default:
            return nil
        }
    }

    /// Why a username was refused.
    public enum ValidationError: Error, Equatable, Sendable, CustomStringConvertible {
        /// The name was empty.
        case empty
        /// The name was longer than `maximum` characters.
        case tooLong(maximum: Int)
        /// The name contained a character outside `a-z 0-9 _ . -`.
        case invalidCharacter(Character)

        public var description: String {
            switch self {
            case .empty:
                return "username must not be empty"
            case .tooLong(let maximum):
                return "username must be at most \(maximum) characters"
            case .invalidCharacter(let character):
                let shown = character.isWhitespace || character.unicodeScalars.contains { $0.properties.generalCategory == .control }
                    ? character.unicodeScalars.map { "U+" + String($0.value, radix: 16, uppercase: true) }.joined(separator: " ")
                    : "'\(character)'"
                return "username may contain only letters a-z, digits 0-9, '_', '.' and '-' (found \(shown))"
            }
        }
    }

    /// The rule in one line, as `invalid_username` states it.
    public static let ruleText = "username must be 1-\(maximumLength) characters from a-z, 0-9, '_', '.' and '-'"
}

import Shared
import Testing

@testable import Server

@Suite("Username and password rules")
struct CredentialRulesTests {
    @Test(
        "valid usernames are accepted and lower-cased",
        arguments: [
            ("alice", "alice"),
            ("Alice", "alice"),
            ("BOB_42", "bob_42"),
            ("a", "a"),
            ("first.last-name_9", "first.last-name_9"),
            (String(repeating: "x", count: 32), String(repeating: "x", count: 32)),
        ]
    )
    func validUsernames(input: String, expected: String) throws {
        #expect(try Username(input).value == expected)
    }

    @Test(
        "invalid usernames are refused with the reason",
        arguments: [
            ("", Username.ValidationError.empty),
            (String(repeating: "x", count: 33), .tooLong(maximum: 32)),
            ("alice smith", .invalidCharacter(" ")),
            ("alice@example", .invalidCharacter("@")),
            ("al/ice", .invalidCharacter("/")),
            ("ålice", .invalidCharacter("å")),
            ("\u{212A}elvin", .invalidCharacter("\u{212A}")),  // Kelvin sign lower-cases to "k"
            ("tab\there", .invalidCharacter("\t")),
            ("nul\u{0}", .invalidCharacter("\u{0}")),
        ]
    )
    func invalidUsernames(input: String, expected: Username.ValidationError) {
        #expect(throws: expected) { try Username(input) }
    }

    @Test("username reasons are readable and show invisible characters as code points")
    func usernameMessages() {
        #expect(Username.ValidationError.tooLong(maximum: 32).description == "username must be at most 32 characters")
        #expect(Username.ValidationError.invalidCharacter("@").description.contains("(found '@')"))
        #expect(Username.ValidationError.invalidCharacter("\t").description.contains("(found U+9)"))
    }

    @Test(
        "password length is counted in UTF-8 bytes, 8 to 1024",
        arguments: [
            (String(repeating: "a", count: 7), PasswordPolicy.Violation?.some(.tooShort(minimum: 8))),
            (String(repeating: "a", count: 8), nil),
            (String(repeating: "a", count: 1024), nil),
            (String(repeating: "a", count: 1025), .tooLong(maximum: 1024)),
            ("", .tooShort(minimum: 8)),
            // 4 characters, but 8 bytes of UTF-8.
            ("éééé", nil),
            // 3 characters, 6 bytes.
            ("ééé", .tooShort(minimum: 8)),
            // 512 characters, 1026 bytes.
            (String(repeating: "é", count: 513), .tooLong(maximum: 1024)),
        ]
    )
    func passwordLength(password: String, expected: PasswordPolicy.Violation?) {
        if let expected {
            #expect(throws: expected) { try PasswordPolicy.validate(password) }
        } else {
            #expect(throws: Never.self) { try PasswordPolicy.validate(password) }
        }
    }
}

import Shared
import Testing

@Suite struct AccountRulesTests {
    /// The normalised name, or nil when the rules refuse it.
    static func normalizedUsername(_ name: String) -> String? { (try? Username(name))?.value }

    static func isValidPassword(_ password: String) -> Bool { (try? PasswordPolicy.validate(password)) != nil }

    @Test func usernamesAreFoldedToLowerCase() {
        #expect(Self.normalizedUsername("Alice") == "alice")
        #expect(Self.normalizedUsername("a.b-c_9") == "a.b-c_9")
        #expect(Self.normalizedUsername("x") == "x")
        #expect(Self.normalizedUsername(String(repeating: "Z", count: 32)) == String(repeating: "z", count: 32))
    }

    @Test(arguments: [
        "", String(repeating: "a", count: 33), "a b", "al!ce", "zoë", "\u{212A}elvin", "a\n", "a/b", "İ",
    ])
    func invalidUsernames(_ name: String) {
        #expect(Self.normalizedUsername(name) == nil)
    }

    @Test func passwordLengthInBytes() {
        #expect(!Self.isValidPassword("1234567"))
        #expect(Self.isValidPassword("12345678"))
        #expect(Self.isValidPassword(String(repeating: "x", count: 1024)))
        #expect(!Self.isValidPassword(String(repeating: "x", count: 1025)))
        // Four characters, eight bytes.
        #expect(Self.isValidPassword("éééé"))
    }
}

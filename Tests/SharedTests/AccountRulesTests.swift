import Shared
import Testing

@Suite struct AccountRulesTests {
    @Test func usernamesAreFoldedToLowerCase() {
        #expect(AccountRules.normalizedUsername("Alice") == "alice")
        #expect(AccountRules.normalizedUsername("a.b-c_9") == "a.b-c_9")
        #expect(AccountRules.normalizedUsername("x") == "x")
        #expect(AccountRules.normalizedUsername(String(repeating: "Z", count: 32)) == String(repeating: "z", count: 32))
    }

    @Test(arguments: [
        "", String(repeating: "a", count: 33), "a b", "al!ce", "zoë", "\u{212A}elvin", "a\n", "a/b", "İ",
    ])
    func invalidUsernames(_ name: String) {
        #expect(AccountRules.normalizedUsername(name) == nil)
    }

    @Test func passwordLengthInBytes() {
        #expect(!AccountRules.isValidPassword("1234567"))
        #expect(AccountRules.isValidPassword("12345678"))
        #expect(AccountRules.isValidPassword(String(repeating: "x", count: 1024)))
        #expect(!AccountRules.isValidPassword(String(repeating: "x", count: 1025)))
        // Four characters, eight bytes.
        #expect(AccountRules.isValidPassword("éééé"))
    }
}

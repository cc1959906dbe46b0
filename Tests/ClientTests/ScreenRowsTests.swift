import Testing

@testable import Client

@Suite("Screen rows")
struct ScreenRowsTests {
    @Test("escape sequences take no room; wide characters two columns; long lines wrap")
    func rows() {
        #expect(ScreenRows.width(of: "\u{1B}[1;36mbob\u{1B}[0m: hi") == 7)
        #expect(ScreenRows.width(of: "漢字 ✓") == 6)
        #expect(ScreenRows.width(of: "e\u{301}") == 1)
        #expect(ScreenRows.rows(of: String(repeating: "x", count: 80), columns: 80) == 1)
        #expect(ScreenRows.rows(of: String(repeating: "x", count: 81), columns: 80) == 2)
        #expect(ScreenRows.rows(of: "one\n    two", columns: 80) == 2)
        #expect(ScreenRows.rows(of: "", columns: 80) == 1)
    }
}

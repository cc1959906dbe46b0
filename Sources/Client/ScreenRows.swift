/// How many rows of a terminal `cols` wide a text takes, for redrawing a line that is
/// still on screen. Escape sequences take no room; wide characters (CJK, most emoji) take
/// two columns, combining marks none. An estimate for the rest of Unicode, which is why a
/// redraw that would change a block's row count is not attempted.
enum ScreenRows {
    static func rows(of text: String, columns: Int) -> Int {
        guard columns > 0 else { return 1 }
        var total = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let width = self.width(of: line)
            total += max(1, (width + columns - 1) / columns)
        }
        return total
    }

    /// Display columns of `text`, escape sequences (ESC [ ... final byte) left out.
    static func width(of text: Substring) -> Int {
        var width = 0
        var inEscape = false
        var sawBracket = false
        for scalar in text.unicodeScalars {
            if inEscape {
                if !sawBracket {
                    sawBracket = true
                    if scalar != "[" { inEscape = false }
                } else if (0x40...0x7E).contains(scalar.value) {
                    inEscape = false
                }
                continue
            }
            switch scalar.value {
            case 0x1B:
                inEscape = true
                sawBracket = false
            case 0..<0x20, 0x7F:
                continue
            case 0x0300...0x036F, 0x200B...0x200F, 0xFE00...0xFE0F:
                continue  // combining marks, zero-width spaces, variation selectors
            case 0x1100...0x115F, 0x2E80...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F,
                0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x1F300...0x1FAFF, 0x20000...0x3FFFD:
                width += 2
            default:
                width += 1
            }
        }
        return width
    }
}

import Foundation

/// Names for received files that cannot escape the downloads directory, hide, or play
/// tricks on a terminal, and paths that never replace a file already there.
enum SafeFileName {
    /// The longest name kept, in UTF-8 bytes (file systems allow 255).
    static let maximumBytes = 200

    /// `name` as a file name of its own: the last path component only (a sender's "/" and
    /// "\\" are separators), control characters (C0, DEL, C1) and bidirectional overrides
    /// dropped, no leading dots or spaces (no hidden files, no "." or ".."), trailing dots
    /// and spaces dropped, at most `maximumBytes` bytes (the extension kept); "file" when
    /// nothing is left.
    static func sanitized(_ name: String) -> String {
        let lastComponent = name.split(omittingEmptySubsequences: false) { $0 == "/" || $0 == "\\" }.last.map(String.init) ?? ""
        var scalars = String.UnicodeScalarView()
        for scalar in lastComponent.unicodeScalars where !isRefused(scalar) {
            scalars.append(scalar)
        }
        var text = String(scalars)
        while let first = text.first, first == "." || first == " " { text.removeFirst() }
        while let last = text.last, last == "." || last == " " { text.removeLast() }
        text = shortened(text)
        return text.isEmpty ? "file" : text
    }

    /// The first of `name`, "stem (1).ext", "stem (2).ext", ... for which `claim` succeeds
    /// (it makes the file, failing when the name is taken), so an existing file is never
    /// replaced, even by one that appears meanwhile.
    static func claimUnusedName(_ name: String, claim: (String) throws -> Bool) rethrows -> String? {
        let (stem, suffix) = split(name)
        for attempt in 0..<10_000 {
            let candidate = attempt == 0 ? name : shortened(stem, reserving: " (\(attempt))\(suffix)".utf8.count)
                + " (\(attempt))\(suffix)"
            if try claim(candidate) { return candidate }
        }
        return nil
    }

    private static func isRefused(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: return true  // C0, DEL, C1
        case 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true  // bidi marks and overrides
        case 0x2F, 0x5C: return true  // separators
        default: return false
        }
    }

    /// "report" and ".pdf"; a name without a dot past its start has no extension.
    private static func split(_ name: String) -> (String, String) {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return (name, "") }
        let suffix = String(name[dot...])
        guard suffix.utf8.count <= 16 else { return (name, "") }
        return (String(name[..<dot]), suffix)
    }

    private static func shortened(_ name: String, reserving reserved: Int = 0) -> String {
        let limit = maximumBytes - reserved
        guard name.utf8.count > limit else { return name }
        let (stem, suffix) = split(name)
        var kept = ""
        for character in stem {
            guard kept.utf8.count + character.utf8.count + suffix.utf8.count <= limit else { break }
            kept.append(character)
        }
        return kept + suffix
    }
}

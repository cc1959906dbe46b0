import Foundation

/// A seeded, reproducible source of hostile inputs for the fuzz tests: valid frames from
/// the committed corpus, bent by the mutations that break hand-written parsers (flipped
/// bits, cut escapes, half a UTF-8 sequence, huge numbers, deep nesting, splices).
///
/// Seeded rather than random so a failure names an input that the next run reproduces;
/// the seed is in the test's failure message.
public struct FrameMutator {
    private var state: UInt64
    public let corpus: [[UInt8]]

    public init(seed: UInt64, corpus: [[UInt8]]) {
        precondition(!corpus.isEmpty, "an empty corpus gives the mutator nothing to bend")
        self.state = seed
        self.corpus = corpus
    }

    /// Loads `name` from `Tests/FuzzCorpus`, one input per non-empty line.
    public static func loadCorpus(_ name: String) throws -> [[UInt8]] {
        let url = RepositoryPaths.root.appendingPathComponent("Tests/FuzzCorpus").appendingPathComponent(name)
        let text = try String(contentsOf: url, encoding: .utf8)
        return text.split(separator: "\n").filter { !$0.isEmpty }.map { Array($0.utf8) }
    }

    /// SplitMix64: tiny, fast and good enough to spread mutations evenly.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<bound` (bound > 0).
    public mutating func below(_ bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }

    /// Byte strings that parsers get wrong: escapes cut short, lone surrogates, overlong
    /// and truncated UTF-8, numbers past Int64, structural characters.
    private static let interesting: [[UInt8]] = [
        [0x00], [0xFF], [0x7F], [0x0A], [0x0D], [0x22], [0x5C], [0x7B], [0x7D], [0x5B], [0x5D], [0x3A], [0x2C],
        [0xC0, 0x80], [0xC3], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xF0, 0x9F, 0x98],
        Array(#"\u"#.utf8), Array(#"\ud800"#.utf8), Array(#"\udc00\ud800"#.utf8), Array(#"\u00"#.utf8),
        Array(#"\x41"#.utf8), Array(#"\"#.utf8),
        Array("9223372036854775808".utf8), Array("-9223372036854775809".utf8), Array("1e309".utf8),
        Array("-0".utf8), Array("0.0".utf8), Array("01".utf8), Array("1.".utf8), Array("NaN".utf8),
        Array("true".utf8), Array("null".utf8), Array(#""type""#.utf8), Array(#""id""#.utf8),
        Array(#"{"a":"#.utf8), Array(String(repeating: "[", count: 600).utf8),
        Array(String(repeating: #"{"a":"#, count: 300).utf8),
    ]

    /// One mutated input: a corpus entry with one to four mutations applied.
    public mutating func mutatedInput() -> [UInt8] {
        var bytes = corpus[below(corpus.count)]
        for _ in 0...below(4) {
            mutate(&bytes)
        }
        return bytes
    }

    private mutating func mutate(_ bytes: inout [UInt8]) {
        let position = bytes.isEmpty ? 0 : below(bytes.count + 1)
        switch below(9) {
        case 0:  // flip one bit
            if bytes.isEmpty {
                bytes.append(UInt8(truncatingIfNeeded: next()))
            } else {
                let index = below(bytes.count)
                bytes[index] ^= UInt8(1 << below(8))
            }
        case 1:  // a random byte in
            bytes.insert(UInt8(truncatingIfNeeded: next()), at: position)
        case 2:  // a span out
            guard !bytes.isEmpty else { return }
            let start = below(bytes.count)
            let length = min(bytes.count - start, 1 + below(8))
            bytes.removeSubrange(start..<(start + length))
        case 3:  // something parsers hate, inserted
            bytes.insert(contentsOf: Self.interesting[below(Self.interesting.count)], at: position)
        case 4:  // something parsers hate, overwriting
            let piece = Self.interesting[below(Self.interesting.count)]
            let end = min(bytes.count, position + piece.count)
            bytes.replaceSubrange(position..<end, with: piece)
        case 5:  // cut short
            bytes.removeSubrange(position..<bytes.count)
        case 6:  // splice with another entry
            let other = corpus[below(corpus.count)]
            let cut = below(other.count + 1)
            bytes = Array(bytes[0..<position]) + Array(other[cut...])
        case 7:  // repeat a span (long strings, repeated keys)
            guard !bytes.isEmpty else { return }
            let start = below(bytes.count)
            let length = min(bytes.count - start, 1 + below(16))
            let span = bytes[start..<(start + length)]
            for _ in 0..<(1 + below(64)) { bytes.insert(contentsOf: span, at: start) }
        default:  // swap a digit run for an extreme number
            let numbers = ["0", "-1", "2147483648", "9223372036854775807", "1e3", "1.5", "-0.0"]
            bytes.insert(contentsOf: Array(numbers[below(numbers.count)].utf8), at: position)
        }
    }
}

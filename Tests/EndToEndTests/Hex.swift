import Foundation

extension Array where Element == UInt8 {
    /// Bytes from a hex string (whitespace ignored); traps on bad input, tests only.
    init(hex: String) {
        let digits = hex.filter { !$0.isWhitespace }.map { UInt8(String($0), radix: 16)! }
        precondition(digits.count % 2 == 0)
        self = stride(from: 0, to: digits.count, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
    }

    var hex: String {
        map { String(format: "%02x", $0) }.joined()
    }
}

import Foundation

/// Number formatting for the results table.
enum Format {
    /// `value` with exactly `digits` decimals.
    static func decimal(_ value: Double, digits: Int) -> String {
        String(format: "%.\(digits)f", value)
    }

    /// An integer with thousands separators: 12,345.
    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (offset, character) in digits.enumerated() {
            if offset > 0, (digits.count - offset) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return value < 0 ? "-" + out : out
    }

    /// A rate: grouped when large, one decimal when small.
    static func rate(_ value: Double) -> String {
        value >= 100 ? grouped(Int(value.rounded())) : decimal(value, digits: 1)
    }

    /// KiB as "12.3 MiB" or "850 KiB".
    static func memory(kib: Int) -> String {
        kib >= 10_240 ? decimal(Double(kib) / 1_024, digits: 1) + " MiB" : "\(kib) KiB"
    }
}

import ArgumentParser
import NIOCore

/// A length of time as the command line writes it: a whole number with `s`, `m`, `h` or
/// `d` (`30d`, `12h`, `90m`, `45s`); a bare number is seconds.
struct TimeSpan: Sendable, Hashable, ExpressibleByArgument, CustomStringConvertible {
    /// Whole seconds.
    let seconds: Int64

    init(seconds: Int64) {
        self.seconds = seconds
    }

    init(_ amount: TimeAmount) {
        self.seconds = amount.nanoseconds / 1_000_000_000
    }

    init?(argument: String) {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
        var text = Substring(argument)
        var unit: Int64 = 1
        if let last = text.last, let scale = units[last] {
            unit = scale
            text = text.dropLast()
        }
        guard let number = Int64(text), number >= 0, number <= Int64.max / unit / 1_000_000_000 else { return nil }
        self.seconds = number * unit
    }

    var timeAmount: TimeAmount { .seconds(seconds) }

    var timeInterval: Double { Double(seconds) }

    /// The largest unit that divides it evenly: `30d`, not `2592000s`.
    var description: String {
        for (suffix, scale) in [("d", Int64(86_400)), ("h", 3_600), ("m", 60)] where seconds > 0 && seconds % scale == 0 {
            return "\(seconds / scale)\(suffix)"
        }
        return "\(seconds)s"
    }

    var defaultValueDescription: String { description }
}

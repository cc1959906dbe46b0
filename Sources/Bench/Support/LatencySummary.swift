import Histogram

/// Percentiles of one latency histogram, in microseconds.
struct LatencySummary: Sendable {
    var count: Int
    var p50: Int
    var p99: Int
    var p999: Int
    var max: Int

    /// No samples.
    static let empty = LatencySummary(count: 0, p50: 0, p99: 0, p999: 0, max: 0)

    /// Reads the percentiles of a histogram recorded in microseconds.
    init(_ histogram: Histogram<UInt64>) {
        count = Int(histogram.totalCount)
        guard count > 0 else {
            self = .empty
            return
        }
        p50 = Int(histogram.valueAtPercentile(50))
        p99 = Int(histogram.valueAtPercentile(99))
        p999 = Int(histogram.valueAtPercentile(99.9))
        max = Int(histogram.max)
    }

    init(count: Int, p50: Int, p99: Int, p999: Int, max: Int) {
        self.count = count
        self.p50 = p50
        self.p99 = p99
        self.p999 = p999
        self.max = max
    }

    /// A new empty histogram for microsecond latencies up to 10 minutes, 3 significant digits.
    static func makeHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    }

    /// "0.21 / 0.85 / 1.9 / 4.2 ms", or "-" without samples.
    var text: String {
        guard count > 0 else { return "-" }
        return [p50, p99, p999, max].map(Self.milliseconds).joined(separator: " / ") + " ms"
    }

    private static func milliseconds(_ micros: Int) -> String {
        let ms = Double(micros) / 1_000
        if ms < 10 { return Format.decimal(ms, digits: 2) }
        if ms < 100 { return Format.decimal(ms, digits: 1) }
        return Format.decimal(ms, digits: 0)
    }
}

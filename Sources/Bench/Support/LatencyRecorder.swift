import Histogram
import Shared

/// Latencies in named time windows ("flood", "rate", "before", "storm"): a sample belongs
/// to the window in which its message was *sent*, so messages still in flight when a
/// window closes are counted in it when they arrive.
///
/// Thread-safe (one lock; a record is a few tens of nanoseconds under it).
final class LatencyRecorder: Sendable {
    private struct Window {
        let name: String
        let start: UInt64
        var end: UInt64 = .max
        var histogram = LatencySummary.makeHistogram()
    }

    private let windows = Locked<[Window]>([])

    /// Opens window `name` at `time` (monotonic ns), closing the one before it.
    func begin(_ name: String, at time: UInt64) {
        windows.withLock { windows in
            if let last = windows.indices.last, windows[last].end == .max {
                windows[last].end = time
            }
            windows.append(Window(name: name, start: time))
        }
    }

    /// Closes the open window at `time`.
    func end(at time: UInt64) {
        windows.withLock { windows in
            if let last = windows.indices.last, windows[last].end == .max {
                windows[last].end = time
            }
        }
    }

    /// Records one message sent at `sentAt` and received at `receivedAt` (monotonic ns);
    /// ignored unless it was sent inside a window.
    func record(sentAt: UInt64, receivedAt: UInt64) {
        let micros = min((receivedAt &- sentAt) / 1_000, 600_000_000)
        windows.withLock { windows in
            var index = windows.count - 1
            while index >= 0 {
                if windows[index].start <= sentAt {
                    if sentAt < windows[index].end {
                        _ = windows[index].histogram.record(micros)
                    }
                    return
                }
                index -= 1
            }
        }
    }

    /// The percentiles of window `name` (empty if there was none).
    func summary(_ name: String) -> LatencySummary {
        windows.withLock { windows in
            windows.last(where: { $0.name == name }).map { LatencySummary($0.histogram) } ?? .empty
        }
    }
}

import Shared

/// Progress for the person watching: one line at a time on standard error, so standard
/// output holds only results.
enum Progress {
    /// Writes one progress line.
    static func say(_ text: String) {
        Console.errorLine("chat-bench: \(text)")
    }

    /// Writes `status()` every `interval` seconds until the returned task is cancelled.
    static func every(_ interval: Double, _ status: @escaping @Sendable () -> String) -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
                if Task.isCancelled { break }
                say(status())
            }
        }
    }
}

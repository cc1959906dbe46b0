import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns SIGINT/SIGTERM into a callback on a private queue instead of killing the process,
/// so the server can close GDBM and say goodbye, and the client can restore the terminal.
///
/// `@unchecked Sendable`: the sources are created in `init` and never replaced, and
/// DispatchSource's `cancel()` is thread-safe.
public final class SignalWatcher: @unchecked Sendable {
    private let sources: [DispatchSourceSignal]
    private let queue = DispatchQueue(label: "signal-watcher")

    /// Starts watching; the default action of each signal is disabled until `cancel()`.
    public init(signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
        var sources: [DispatchSourceSignal] = []
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { handler(number) }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    /// Stops watching and restores the default action.
    public func cancel() {
        for source in sources {
            source.cancel()
            signal(Int32(source.handle), SIG_DFL)
        }
    }
}

import Foundation
import Shared

/// Turns a call that answers through a completion into one that blocks until it does.
enum BlockingCall {
    /// Starts the call with a completion, then waits for that completion to run.
    static func wait<Value: Sendable>(
        _ start: (@escaping @Sendable (Result<Value, StorageError>) -> Void) -> Void
    ) throws(StorageError) -> Value {
        let outcome = Outcome<Value>()
        start { result in outcome.set(result) }
        return try outcome.wait().get()
    }

    /// One result, handed from the completion's thread to the waiting one.
    private final class Outcome<Value: Sendable>: Sendable {
        private let result = Locked<Result<Value, StorageError>?>(nil)
        private let done = DispatchSemaphore(value: 0)

        func set(_ value: Result<Value, StorageError>) {
            result.withLock { $0 = value }
            done.signal()
        }

        func wait() -> Result<Value, StorageError> {
            done.wait()
            // Set before the signal, and only once.
            return result.withLock { $0! }
        }
    }
}

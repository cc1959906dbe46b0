import NIOPosix

/// Threads of a GDBM store's own for its blocking calls (file reads, writes, syncs), so
/// they never run on a caller's thread: neither an event loop nor a task of Swift's
/// cooperative pool may block on the disk.
///
/// Shut down by the store's `close()` (or deinit); calls after that throw the store's
/// "closed" error.
final class GDBMThreads: Sendable {
    private let pool: NIOThreadPool

    /// What `run` throws once the threads are shut down.
    private let closedError: StorageError

    /// Starts `count` threads.
    init(count: Int, closedError: StorageError) {
        self.closedError = closedError
        pool = NIOThreadPool(numberOfThreads: count)
        pool.start()
    }

    deinit {
        // NIOThreadPool asserts it was shut down before it goes; a store dropped without
        // close() must not crash the process for that.
        pool.shutdownGracefully { _ in }
    }

    /// Runs `body` on one of the threads and returns what it returned or threw.
    ///
    /// - Throws: what `body` threw; the closed error once `shutDown()` has begun (work still
    ///   queued then is dropped, not run).
    func run<Value: Sendable>(_ body: @escaping @Sendable () throws(StorageError) -> Value) async throws(StorageError) -> Value {
        let result: Result<Value, StorageError>
        do {
            result = try await pool.runIfActive { Result { () throws(StorageError) -> Value in try body() } }
        } catch {
            // The pool refused the work: it is shut down, or the calling task was cancelled
            // before a thread took it.
            throw closedError
        }
        return try result.get()
    }

    /// Stops the threads once the work they are running is done. Calling it again does
    /// nothing.
    func shutDown() async {
        try? await pool.shutdownGracefully()
    }
}

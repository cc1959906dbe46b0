import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The writes waiting for a store's writer thread, and that thread's life: the group commit
/// the stores share (`GDBMInboxStore`, `PostgresInboxStore`, `GDBMFileStore`).
///
/// Callers (the store's async methods) only append to the queue and signal; the writer
/// takes everything queued at once, so whatever arrived while it was busy (above all,
/// while it waited for the disk to sync) becomes the next batch: one pass over the file
/// and one `gdbm_sync`, or one transaction and one COMMIT, for all of it. The batch size
/// follows the load by itself; nothing waits on a timer.
final class WriteQueue<Operation: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: every stored property is read and written only while
    // `condition` is locked.

    private let condition = NSCondition()
    private var operations: [Operation] = []
    private var isClosed = false
    private var writerFinished = false
    private var writer: pthread_t?

    /// Queues `operation` for the writer; false (and nothing queued) once closed.
    func enqueue(_ operation: Operation) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !isClosed else {
            return false
        }
        operations.append(operation)
        if operations.count == 1 {
            condition.signal()
        }
        return true
    }

    /// For the writer: waits for work and takes all of it; nil once closed and empty.
    func next() -> [Operation]? {
        condition.lock()
        defer { condition.unlock() }
        while operations.isEmpty && !isClosed {
            condition.wait()
        }
        if operations.isEmpty {
            return nil
        }
        let batch = operations
        operations.removeAll(keepingCapacity: true)
        return batch
    }

    /// For the writer, first thing on its thread: lets `isWriterThread` recognise it.
    func writerStarted() {
        condition.lock()
        writer = pthread_self()
        condition.unlock()
    }

    /// For the writer, last thing: it has answered everything and will touch nothing more.
    func writerStopped() {
        condition.lock()
        writerFinished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Whether the calling thread is the writer (which must never wait for itself).
    var isWriterThread: Bool {
        condition.lock()
        defer { condition.unlock() }
        guard let writer else {
            return false
        }
        return pthread_equal(writer, pthread_self()) != 0
    }

    /// Starts the writer: a thread of its own named `name` that takes every batch queued and
    /// hands it to `write` with `owner`, until the queue is closed and empty. `owner` is held
    /// strongly only for one batch at a time, so dropping its last outside reference still
    /// ends it (its deinit closes the queue and the loop ends); batches that come after it
    /// is gone go to `orphaned`.
    func startWriter<Owner: AnyObject & Sendable>(
        named name: String, for owner: Owner,
        write: @escaping @Sendable (Owner, [Operation]) -> Void,
        orphaned: @escaping @Sendable ([Operation]) -> Void
    ) {
        let thread = Thread { [weak owner, self] in
            self.writerStarted()
            while let batch = self.next() {
                if let owner {
                    write(owner, batch)
                } else {
                    orphaned(batch)
                }
            }
            self.writerStopped()
        }
        thread.name = name
        thread.start()
    }

    /// Refuses new operations; the writer still takes what is queued, then stops.
    func close() {
        condition.lock()
        isClosed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until the writer has stopped (after `close()`).
    func waitForWriter() {
        condition.lock()
        while !writerFinished {
            condition.wait()
        }
        condition.unlock()
    }
}

import Shared

/// One GDBM file of records, served one call at a time from a thread of its own: the shape
/// of the account and key stores, whose calls are few and each a read, or a write and its
/// sync, under one lock.
///
/// GDBM handles are not thread-safe, so every call on the file runs under the lock, on the
/// file's own thread (`GDBMThreads`), and no caller's thread waits for the disk.
///
/// After a failed call (a full disk, say) GDBM refuses every further call on the handle, so
/// the handle is closed and the next call reopens the file: one failed write must not stop
/// the store until a restart.
final class GDBMRecordFile: Sendable {
    /// Path of the file.
    let path: String

    /// Failures to inject into every handle this opens (tests); nil in production.
    private let faults: GDBMFaults?

    /// The open handle; nil after a failed call until the next call reopens it, and after
    /// `close()` (then `isClosed`).
    private let file: Locked<(file: GDBMFile?, isClosed: Bool)>

    /// One thread: the calls run one at a time under the lock anyway.
    private let threads: GDBMThreads

    /// Opens (or creates) the file at `path`, on the calling thread.
    ///
    /// - Throws: `StorageError` if the file cannot be opened.
    init(path: String, faults: GDBMFaults?) throws(StorageError) {
        self.path = path
        self.faults = faults
        file = Locked((try GDBMFile(path: path, faults: faults), false))
        threads = GDBMThreads(count: 1, closedError: .closed(path))
    }

    deinit {
        closeNow()
    }

    /// Runs `body` with the open handle on the file's thread, reopening the file first if an
    /// earlier call failed; if `body` fails, the handle is closed so the next call starts on
    /// a fresh one.
    ///
    /// - Throws: what `body` threw; `StorageError` when the file cannot be reopened, or after
    ///   `close()`.
    func run<Value: Sendable>(_ body: @escaping @Sendable (GDBMFile) throws(StorageError) -> Value) async throws(StorageError) -> Value {
        try await threads.run { () throws(StorageError) -> Value in
            try self.withFile(body)
        }
    }

    /// Opens a second handle on the file, outside the lock: for undoing a write of unknown
    /// durability after `body`'s handle has failed (the caller closes it).
    func openFresh() throws(StorageError) -> GDBMFile {
        try GDBMFile(path: path, faults: faults)
    }

    /// Closes the file once the call running is done; later calls throw `closed`. Calling it
    /// again does nothing.
    func close() async {
        // Fails only if an earlier close has shut the thread down, and that one closed the file.
        _ = try? await threads.run { self.closeNow() }
        await threads.shutDown()
    }

    /// `close()` on the calling thread.
    private func closeNow() {
        file.withLock { state in
            // Every write was synced before it returned, so a failing close loses nothing
            // that was acknowledged; the handle is released either way.
            try? state.file?.close()
            state.file = nil
            state.isClosed = true
        }
    }

    private func withFile<Value>(_ body: (GDBMFile) throws(StorageError) -> Value) throws(StorageError) -> Value {
        try file.withLock { state throws(StorageError) in
            guard !state.isClosed else {
                throw StorageError.closed(path)
            }
            let open: GDBMFile
            if let file = state.file {
                open = file
            } else {
                open = try GDBMFile(path: path, faults: faults)
                state.file = open
            }
            do throws(StorageError) {
                return try body(open)
            } catch {
                try? open.close()
                state.file = nil
                throw error
            }
        }
    }
}

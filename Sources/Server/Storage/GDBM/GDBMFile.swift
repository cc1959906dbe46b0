internal import CGDBM

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One open GDBM database file, seen as a map from byte strings to byte strings.
///
/// This is the only place that touches GDBM's C API: `datum`, `GDBM_FILE` and the
/// `malloc`ed buffers GDBM hands back never leave this file.
///
/// The file is opened as the single writer (GDBM takes its own lock on it), without
/// mmap, and created with mode 0600 because it holds password hashes and messages.
///
/// Durability: `store` and `delete` only reach the kernel's page cache. GDBM's
/// `GDBM_SYNC` flag is not enough either (it syncs only when the header or directory
/// changes), so callers must call `sync()` before they acknowledge a write.
///
/// Not thread-safe: GDBM keeps per-handle state (bucket cache, error code), so the
/// owner must serialise every call, for example behind a lock in a store type.
final class GDBMFile {
    /// Path of the database file, as given to `init`.
    let path: String

    /// The GDBM handle; nil once closed.
    private var handle: GDBM_FILE?

    /// Failures to inject, for tests; nil in production.
    private let faults: GDBMFaults?

    /// Set by an injected failure: like GDBM after a real write error, the handle then
    /// refuses every call until closed.
    private var injectedFailure: String?

    /// Opens `path` for reading and writing, creating it with mode 0600 if it is missing.
    ///
    /// - Parameter faults: failures to inject into this handle's calls (tests only).
    /// - Throws: `StorageError.alreadyInUse` when another process holds GDBM's writer
    ///   lock on the file, `.corrupt` when the file is not a GDBM database, `.io` otherwise.
    init(path: String, faults: GDBMFaults? = nil) throws(StorageError) {
        self.path = path
        self.faults = faults
        if faults?.shouldFail(.open) == true {
            throw .io(path: path, message: "open: injected failure (as on a failing disk)")
        }
        // No fatal_func: GDBM 1.23 then records the error and returns instead of
        // calling exit(), so a full disk becomes a thrown error rather than a dead server.
        let flags = GDBM_WRCREAT | GDBM_NOMMAP | GDBM_CLOEXEC
        guard let db = gdbm_open(path, 0, flags, 0o600, nil) else {
            let gdbmError = gdbm_errno_location().pointee
            let systemError = errno
            throw Self.openError(path: path, gdbmError: gdbmError, systemError: systemError)
        }
        // The creation mode above applies only to a new file; an existing one (copied in,
        // restored from a backup) may be looser. Force 0600 so hashes are never readable
        // by other users.
        if fchmod(gdbm_fdesc(db), 0o600) != 0 {
            let message = "cannot set mode 0600: " + String(cString: strerror(errno))
            gdbm_close(db)
            throw .io(path: path, message: message)
        }
        handle = db
    }

    deinit {
        try? close()
    }

    /// Returns the value stored under `key`, or nil if there is none.
    func fetch(key: [UInt8]) throws(StorageError) -> [UInt8]? {
        let db = try openHandle()
        gdbm_clear_error(db)
        try checkSize(key, "key")
        let result = Self.withDatum(key) { gdbm_fetch(db, $0) }
        guard let pointer = result.dptr else {
            if Int(gdbm_last_errno(db)) == GDBM_ITEM_NOT_FOUND {
                return nil
            }
            throw error(db, doing: "fetch")
        }
        defer { free(pointer) }
        return Self.bytes(pointer, count: result.dsize)
    }

    /// Stores `value` under `key`.
    ///
    /// - Parameter replace: whether an existing value may be overwritten.
    /// - Returns: false, storing nothing, when `key` already exists and `replace` is false.
    @discardableResult
    func store(key: [UInt8], value: [UInt8], replace: Bool) throws(StorageError) -> Bool {
        let db = try openHandle()
        try injectFailure(.store)
        gdbm_clear_error(db)
        let mode = replace ? GDBM_REPLACE : GDBM_INSERT
        try checkSize(key, "key")
        try checkSize(value, "value")
        let status = Self.withDatum(key) { keyDatum in
            Self.withDatum(value) { valueDatum in gdbm_store(db, keyDatum, valueDatum, mode) }
        }
        switch status {
        case 0: return true
        case 1: return false  // GDBM_INSERT found the key already present
        default: throw error(db, doing: "store")
        }
    }

    /// Deletes the value stored under `key`.
    ///
    /// - Returns: false if there was nothing to delete.
    @discardableResult
    func delete(key: [UInt8]) throws(StorageError) -> Bool {
        let db = try openHandle()
        try injectFailure(.delete)
        gdbm_clear_error(db)
        try checkSize(key, "key")
        let status = Self.withDatum(key) { gdbm_delete(db, $0) }
        if status == 0 {
            return true
        }
        if Int(gdbm_last_errno(db)) == GDBM_ITEM_NOT_FOUND {
            return false
        }
        throw error(db, doing: "delete")
    }

    /// Calls `body` with every key in the file, in GDBM's hash order.
    ///
    /// The file must not be modified while iterating: GDBM's traversal follows the hash
    /// buckets, and a store or delete can reorganise them so keys are skipped or repeated.
    func forEachKey(_ body: ([UInt8]) throws -> Void) throws {
        let db = try openHandle()
        gdbm_clear_error(db)
        var current = gdbm_firstkey(db)
        while let pointer = current.dptr {
            let key = Self.bytes(pointer, count: current.dsize)
            do {
                try body(key)
            } catch {
                free(pointer)
                throw error
            }
            gdbm_clear_error(db)
            current = gdbm_nextkey(db, current)
            free(pointer)
        }
        // A nil dptr ends the traversal both at the end and on a read error.
        if Int(gdbm_last_errno(db)) != GDBM_ITEM_NOT_FOUND {
            throw error(db, doing: "iterate keys")
        }
    }

    /// Every key in the file, in GDBM's hash order.
    func keys() throws -> [[UInt8]] {
        var result: [[UInt8]] = []
        try forEachKey { result.append($0) }
        return result
    }

    /// Flushes every write so far to stable storage (`gdbm_sync`, which fsyncs).
    ///
    /// Call it before acknowledging a write; without it a crash or power loss can lose
    /// writes the caller already reported as done.
    func sync() throws(StorageError) {
        let db = try openHandle()
        try injectFailure(.sync)
        gdbm_clear_error(db)
        if gdbm_sync(db) != 0 {
            throw error(db, doing: "sync")
        }
    }

    /// Closes the file and releases GDBM's writer lock. Calling it again does nothing.
    ///
    /// The handle is released even when GDBM reports an error while closing.
    func close() throws(StorageError) {
        guard let db = handle else {
            return
        }
        handle = nil
        if gdbm_close(db) != 0 {
            let gdbmError = gdbm_errno_location().pointee
            throw .io(path: path, message: "close: " + Self.message(gdbmError: gdbmError, systemError: errno))
        }
    }

    // MARK: - Private helpers

    private func openHandle() throws(StorageError) -> GDBM_FILE {
        guard let db = handle else {
            throw .closed(path)
        }
        if let injectedFailure {
            throw .io(path: path, message: injectedFailure + "; an earlier write failed, close and reopen the file")
        }
        return db
    }

    /// Throws, and leaves the handle refusing every further call, when a failure of
    /// `operation` is armed in `faults`.
    private func injectFailure(_ operation: GDBMFaults.Operation) throws(StorageError) {
        guard let faults, faults.shouldFail(operation) else {
            return
        }
        let message = "\(operation.rawValue): injected failure (as on a failing disk)"
        injectedFailure = message
        throw .io(path: path, message: message)
    }

    /// GDBM sizes are `int`: refuse anything larger before it is truncated.
    private func checkSize(_ bytes: [UInt8], _ what: String) throws(StorageError) {
        if Int32(exactly: bytes.count) == nil {
            throw .io(path: path, message: "a \(what) of \(bytes.count) bytes exceeds GDBM's size limit")
        }
    }

    /// Lends `bytes` (already size-checked) to GDBM as a `datum`.
    ///
    /// An empty Swift array has no base address, and GDBM rejects a NULL `dptr` as
    /// "Malformed data", so an empty value is passed as a valid pointer with size 0.
    private static func withDatum<R>(_ bytes: [UInt8], _ body: (datum) -> R) -> R {
        bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress, !buffer.isEmpty else {
                var placeholder: CChar = 0
                return withUnsafeMutablePointer(to: &placeholder) { body(datum(dptr: $0, dsize: 0)) }
            }
            // GDBM takes `char *` but only reads the keys and values it is given.
            let pointer = UnsafeMutableRawPointer(mutating: base).assumingMemoryBound(to: CChar.self)
            return body(datum(dptr: pointer, dsize: Int32(buffer.count)))
        }
    }

    private static func bytes(_ pointer: UnsafeMutablePointer<CChar>, count: Int32) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: pointer, count: Int(count)))
    }

    /// The error for a failed call on an open handle, with GDBM's and the system's reason.
    private func error(_ db: GDBM_FILE, doing operation: String) -> StorageError {
        let gdbmError = gdbm_last_errno(db)
        let systemError = gdbm_last_syserr(db)
        let message = operation + ": " + Self.message(gdbmError: gdbmError, systemError: systemError)
        if Self.isCorruption(gdbmError) {
            return .corrupt(path: path, message: message)
        }
        if Self.isOutOfSpace(gdbmError, systemError) {
            return .full(path: path, message: message)
        }
        return .io(path: path, message: message)
    }

    private static func openError(path: String, gdbmError: Int32, systemError: Int32) -> StorageError {
        // GDBM reports a lock held by another process as "Can't be writer", or, depending
        // on which locking call failed, as an open error whose errno is EAGAIN/EWOULDBLOCK.
        let lockedByOther = Int(gdbmError) == GDBM_CANT_BE_WRITER
            || (Int(gdbmError) == GDBM_FILE_OPEN_ERROR
                && (systemError == EAGAIN || systemError == EWOULDBLOCK))
        if lockedByOther {
            return .alreadyInUse(path: directory(of: path))
        }
        let message = "open: " + Self.message(gdbmError: gdbmError, systemError: systemError)
        if isCorruption(gdbmError) {
            return .corrupt(path: path, message: message)
        }
        if isOutOfSpace(gdbmError, systemError) {
            return .full(path: path, message: message)
        }
        return .io(path: path, message: message)
    }

    /// Whether a failure came from a full disk or quota (the system error is only
    /// meaningful for GDBM errors that come from a system call).
    private static func isOutOfSpace(_ gdbmError: Int32, _ systemError: Int32) -> Bool {
        gdbm_check_syserr(gdbmError) != 0 && (systemError == ENOSPC || systemError == EDQUOT)
    }

    private static func message(gdbmError: Int32, systemError: Int32) -> String {
        var text = String(cString: gdbm_strerror(gdbmError))
        // errno is only meaningful for the GDBM errors that come from a system call.
        if systemError != 0 && gdbm_check_syserr(gdbmError) != 0 {
            text += " (" + String(cString: strerror(systemError)) + ")"
        }
        // After a failed write (a full disk, say) GDBM refuses every further call on the
        // handle; the file itself reopens fine (checked by filling a 64 KiB tmpfs).
        if Int(gdbmError) == GDBM_NEED_RECOVERY {
            text += "; an earlier write failed, close and reopen the file"
        }
        return text
    }

    private static func isCorruption(_ gdbmError: Int32) -> Bool {
        let corruption = [
            GDBM_BAD_MAGIC_NUMBER, GDBM_EMPTY_DATABASE, GDBM_BYTE_SWAPPED, GDBM_BAD_FILE_OFFSET,
            GDBM_BAD_BUCKET, GDBM_BAD_HEADER, GDBM_BAD_AVAIL,
            GDBM_BAD_HASH_TABLE, GDBM_BAD_DIR_ENTRY, GDBM_BUCKET_CACHE_CORRUPTED,
            GDBM_BAD_HASH_ENTRY, GDBM_DIR_OVERFLOW,
        ]
        return corruption.contains(Int(gdbmError))
    }

    private static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else {
            return "."
        }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

import Logging
import NIOPosix

/// Opens the GDBM backend: the data directory (locked against a second server), the
/// accounts file, the inbox file and the held files' file (their failures and recoveries
/// logged), and the keys file.
///
/// The only entry to `Storage/GDBM/` from outside it (`StorageBackend.open`).
enum GDBMBackend {
    /// Opens the stores in the data directory at `path`, creating it (0700) if missing.
    ///
    /// - Throws: `StorageError` (`.alreadyInUse` when another server holds the directory).
    static func open(directory path: String, inboxLimits: InboxLimits, logger: Logger) async throws -> Stores {
        // Opening reads the whole inbox into memory: blocking work, off the caller's thread.
        // Once, at start-up, so NIO's shared pool serves rather than threads of our own.
        let (directory, accounts, inbox, keys, files) = try await NIOThreadPool.singleton.runIfActive {
            () throws -> (DataDirectory, GDBMAccountStore, GDBMInboxStore, GDBMKeyStore, GDBMFileStore) in
            let directory = try DataDirectory(path: path)
            for note in directory.notes {
                logger.warning("\(note)")
            }
            // If a later file cannot be opened, dropping the stores opened before it and the
            // directory closes their files and releases the lock.
            let accounts = try GDBMAccountStore(directory: directory)
            let inbox = try GDBMInboxStore(directory: directory, limits: inboxLimits, observer: failureLog(logger))
            let keys = try GDBMKeyStore(directory: directory)
            let files = try GDBMFileStore(directory: directory, observer: fileFailureLog(logger))
            return (directory, accounts, inbox, keys, files)
        }
        let footprint: @Sendable () async throws -> StoreFootprint = {
            try await NIOThreadPool.singleton.runIfActive { directory.footprint() }
        }
        return Stores(accounts: accounts, inbox: inbox, keys: keys, files: files, footprint: footprint) {
            await files.close()
            await inbox.close()
            await keys.close()
            await accounts.close()
            // Last: a new server must not open files this one is still writing.
            directory.release()
        }
    }

    /// Logs the inbox store's failures and recoveries (a full or failing disk); ignores
    /// its routine events.
    static func failureLog(_ logger: Logger) -> @Sendable (GDBMInboxStore.Event) -> Void {
        { event in
            switch event {
            case .failed(let error):
                logger.error("inbox write failed; its messages were not stored, reopening: \(error)")
            case .recoveryFailed(let error):
                logger.error("inbox store still failing; new messages are refused until it recovers: \(error)")
            case .recovered:
                logger.notice("inbox store recovered; storing messages again")
            case .stored, .syncing, .synced, .syncFailed:
                break
            }
        }
    }

    /// Logs the file store's failures and recoveries; ignores its syncs.
    static func fileFailureLog(_ logger: Logger) -> @Sendable (GDBMFileStore.Event) -> Void {
        { event in
            switch event {
            case .failed(let error):
                logger.error("file store write failed; reopening the file: \(error)")
            case .recoveryFailed(let error):
                logger.error("file store still failing; file uploads are refused until it recovers: \(error)")
            case .recovered:
                logger.notice("file store recovered; storing files again")
            case .syncing, .synced:
                break
            }
        }
    }
}

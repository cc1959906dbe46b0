import Foundation

/// What `InboxStore.append` did with a message.
enum InboxAppendResult: Sendable, Equatable {
    /// The message is in the recipient's inbox and synced to disk.
    case stored
    /// The recipient's inbox is at its cap; nothing was stored. The reason is fit to show.
    case full(String)
}

/// Every user's offline inbox: messages waiting for their recipient.
///
/// Durable: an append is answered `.stored` only after the message has been written and
/// synced to disk, so "stored" is never said of a message a crash could lose. Removal after
/// the recipient's acknowledgement need not be synced at once: a message that comes back
/// after a crash is delivered again and the client drops the duplicate by id.
///
/// Appends and removals are asynchronous: they are queued and answered through a
/// completion, so a store can batch many of them into one disk sync (group commit) without
/// a thread blocked per caller. Completions may run on any thread (the GDBM store's writer
/// thread): keep them quick and never call the store's blocking methods from one. The
/// other methods block (disk I/O): call them from a thread pool, never an event loop.
/// Implementations are safe to call from several threads at once.
protocol InboxStore: Sendable {
    /// Adds `message` to `message.to`'s inbox and syncs, unless that inbox is full; calls
    /// `completion` with the outcome once it is decided (for `.stored`: once synced).
    ///
    /// Full means the inbox already holds `InboxLimits.maximumMessages` messages, or the
    /// message would take it past `maximumBytes`. Ids are unique, so an id already in the
    /// inbox is the same message: it is not stored twice, and the answer is `.stored`.
    /// A `StorageError` means the write or the sync failed: the message is not stored (it
    /// may still turn up later, which at-least-once delivery allows; "stored" is the promise).
    func append(
        _ message: StoredMessage,
        completion: @escaping @Sendable (Result<InboxAppendResult, StorageError>) -> Void
    )

    /// `recipient`'s waiting messages, oldest first; only those from `sender` when given.
    ///
    /// Oldest means first appended, across all senders.
    func messages(for recipient: String, from sender: String?) throws -> [StoredMessage]

    /// How many messages wait for `recipient`, per sender.
    func counts(for recipient: String) throws -> [String: Int]

    /// Deletes one message once its recipient has acknowledged it; `completion` gets false
    /// if it was not there. Not necessarily synced (see the type's documentation).
    func remove(
        recipient: String,
        id: String,
        completion: @escaping @Sendable (Result<Bool, StorageError>) -> Void
    )

    /// Deletes `recipient`'s messages sent before `cutoff` and returns how many there were.
    ///
    /// Judged by `sentAtMilliseconds` alone, wherever a message is in the order.
    func expire(recipient: String, before cutoff: Date) throws -> Int

    /// Syncs and closes. Further calls throw (or complete with) `StorageError.unavailable`.
    func close()
}

extension InboxStore {
    /// `append(_:completion:)`, waiting for the outcome: for tests and tools, never from an
    /// event loop or a completion.
    func append(_ message: StoredMessage) throws(StorageError) -> InboxAppendResult {
        try BlockingCall.wait { append(message, completion: $0) }
    }

    /// `remove(recipient:id:completion:)`, waiting for the outcome: for tests and tools.
    @discardableResult
    func remove(recipient: String, id: String) throws(StorageError) -> Bool {
        try BlockingCall.wait { remove(recipient: recipient, id: id, completion: $0) }
    }
}

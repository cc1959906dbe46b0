import Foundation

/// What `InboxStore.append` did with a message.
enum InboxAppendResult: Sendable, Equatable {
    /// The message is in the recipient's inbox and synced to disk.
    case stored
    /// The recipient's inbox is at its cap; nothing was stored. The reason is fit to show.
    case full(String)
}

/// Limits of one user's inbox.
struct InboxLimits: Sendable, Equatable {
    /// Most messages one inbox holds.
    var maximumMessages = 1_000
    /// Most bytes (sum of `StoredMessage.storageSize`) one inbox holds.
    var maximumBytes = 1 << 20
}

/// Every user's offline inbox: messages waiting for their recipient.
///
/// Durable: `append` returns only after the message has been written and synced to
/// disk, so "stored" is never said of a message a crash could lose. Removal after the
/// recipient's acknowledgement need not be synced at once: a message that comes back
/// after a crash is delivered again and the client drops the duplicate by id.
///
/// Every method blocks (disk I/O): call them from a thread pool, never an event loop.
/// Implementations are safe to call from several threads at once.
protocol InboxStore: Sendable {
    /// Adds `message` to `message.to`'s inbox and syncs, unless that inbox is full.
    ///
    /// Full means the inbox already holds `InboxLimits.maximumMessages` messages, or the
    /// message would take it past `maximumBytes`. Ids are unique, so an id already in the
    /// inbox is the same message: it is not stored twice, and the answer is `.stored`.
    /// - Throws: `StorageError` when the write or the sync fails (the message is then not stored).
    func append(_ message: StoredMessage) throws -> InboxAppendResult

    /// `recipient`'s waiting messages, oldest first; only those from `sender` when given.
    ///
    /// Oldest means first appended, across all senders.
    func messages(for recipient: String, from sender: String?) throws -> [StoredMessage]

    /// How many messages wait for `recipient`, per sender.
    func counts(for recipient: String) throws -> [String: Int]

    /// Deletes one message once its recipient has acknowledged it. False if it was not there.
    @discardableResult
    func remove(recipient: String, id: String) throws -> Bool

    /// Deletes `recipient`'s messages sent before `cutoff` and returns how many there were.
    ///
    /// Judged by `sentAtMilliseconds` alone, wherever a message is in the order.
    func expire(recipient: String, before cutoff: Date) throws -> Int

    /// Syncs and closes. Further calls throw `StorageError.closed`.
    func close()
}

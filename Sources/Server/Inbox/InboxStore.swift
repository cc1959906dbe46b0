import Foundation

/// What `InboxStore.append` did with a message.
/// Whether an append is held to the inbox's caps.
enum InboxSpace: Sendable, Equatable {
    /// A new message: refused (`.full`) when it does not fit (`InboxRules.refusal`).
    case withinCaps
    /// A message accepted earlier, whose space was reserved then: a live message that its
    /// recipient's session never acknowledged. It is stored whatever the caps say, because
    /// its sender has already been told it was accepted.
    case reserved
}

enum InboxAppendResult: Sendable, Equatable {
    /// The message is in the recipient's inbox, durably.
    case stored
    /// The recipient's inbox is at its cap; nothing was stored. The reason is fit to show.
    case full(String)
}

/// Every user's offline inbox: messages waiting for their recipient.
///
/// Follows `InboxRules` (caps, order, duplicates, expiry), deciding with them inside its
/// own critical section.
///
/// Durable: an append is answered `.stored` only after the message has been written and
/// synced, so "stored" is never said of a message a crash could lose. Removal after the
/// recipient's acknowledgement need not be synced at once: a message that comes back after
/// a crash is delivered again and the client drops the duplicate by id.
///
/// Order: an append takes its place in the inbox's order when the call starts, before its
/// first suspension. So appends started one after another from one thread (each in a task
/// started with `Task.immediate`, as `DeliveryService` does for a session's sends) keep their
/// order without waiting for each other; a store may then commit many of them with one
/// sync (group commit). The same holds for removals.
///
/// Implementations run their blocking work (disk I/O, syncs) on threads of their own,
/// never on the caller's, and are safe to call from several tasks at once.
protocol InboxStore: Sendable {
    /// Adds `message` to `message.to`'s inbox, durably, unless that inbox is full
    /// (`InboxRules.refusal`). An id already in the inbox is the same message: it is not
    /// stored twice, and the answer is `.stored`.
    ///
    /// - Throws: `StorageError` if the write or the sync failed: the message is not stored
    ///   (it may still turn up later, which at-least-once delivery allows; "stored" is the
    ///   promise).
    func append(_ message: StoredMessage, space: InboxSpace) async throws(StorageError) -> InboxAppendResult

    /// `recipient`'s waiting messages, oldest (first appended, across all senders) first;
    /// only those from `sender` when given.
    func messages(for recipient: String, from sender: String?) async throws(StorageError) -> [StoredMessage]

    /// How many messages wait for `recipient`, per sender.
    func counts(for recipient: String) async throws(StorageError) -> [String: Int]

    /// Deletes one message once its recipient has acknowledged it; false if it was not
    /// there. Not necessarily synced (see the type's documentation).
    @discardableResult
    func remove(recipient: String, id: String) async throws(StorageError) -> Bool

    /// Deletes `recipient`'s messages expired at `cutoff` (`InboxRules.isExpired`) and
    /// returns how many there were. Not necessarily synced.
    func expire(recipient: String, before cutoff: Date) async throws(StorageError) -> Int

    /// What each inbox that holds anything holds, by recipient: for the operator's listing
    /// and totals, not for the caps (the writer decides those in its own critical section).
    func usage() async throws(StorageError) -> [String: InboxUsage]

    /// Finishes the writes already started, syncs and closes. Later calls throw
    /// `StorageError.unavailable`; calling it again does nothing.
    func close() async
}

extension InboxStore {
    /// Appends a new message, held to the caps.
    func append(_ message: StoredMessage) async throws(StorageError) -> InboxAppendResult {
        try await append(message, space: .withinCaps)
    }

    /// Deletes every message waiting for `recipient` (whose account is being deleted) and
    /// returns how many there were. Not necessarily synced.
    ///
    /// Every message has expired by the end of time: this is `expire` with that cutoff, so
    /// it takes its place in the same ordered write path as appends, and an append queued
    /// before it (a live message its recipient never acknowledged) is deleted too.
    @discardableResult
    func removeAll(recipient: String) async throws(StorageError) -> Int {
        try await expire(recipient: recipient, before: .distantFuture)
    }
}

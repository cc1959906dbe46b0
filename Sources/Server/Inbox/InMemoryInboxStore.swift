import Foundation
import Shared

/// An `InboxStore` in dictionaries, for unit tests: the same semantics as `GDBMInboxStore`
/// (caps and their reasons, order, per-sender filter, expiry, use after close) without a disk.
///
/// The rules themselves are `InboxRules`, applied under the store's lock.
final class InMemoryInboxStore: InboxStore {
    /// One recipient's inbox: the order and sizes, and the messages by id.
    private struct Inbox {
        var index = InboxIndex()
        var messages: [String: StoredMessage] = [:]
    }

    /// The limits every inbox is held to.
    let limits: InboxLimits

    /// The inboxes by recipient; nil once closed.
    private let inboxes = Locked<[String: Inbox]?>([:])

    /// Creates an empty store whose inboxes are held to `limits`.
    init(limits: InboxLimits = InboxLimits()) {
        self.limits = limits
    }

    /// Appends at once and calls `completion` before returning.
    func append(
        _ message: StoredMessage,
        completion: @escaping @Sendable (Result<InboxAppendResult, StorageError>) -> Void
    ) {
        completion(Result { () throws(StorageError) in try appendNow(message) })
    }

    private func appendNow(_ message: StoredMessage) throws(StorageError) -> InboxAppendResult {
        try inboxes.withLock { inboxes throws(StorageError) in
            guard inboxes != nil else {
                throw Self.closedError
            }
            var inbox = inboxes?[message.to] ?? Inbox()
            let entry = InboxIndex.Entry(message)
            // Ids are unique, so the same id again is the same message: it is already stored.
            if inbox.index.contains(id: entry.id) {
                return .stored
            }
            if let reason = InboxRules.refusal(adding: entry.size, to: inbox.index.usage, of: message.to, limits: limits) {
                return .full(reason)
            }
            inbox.index.append(entry)
            inbox.messages[message.id] = message
            inboxes?[message.to] = inbox
            return .stored
        }
    }

    func messages(for recipient: String, from sender: String?) throws(StorageError) -> [StoredMessage] {
        try inboxes.withLock { inboxes throws(StorageError) in
            guard let inboxes else {
                throw Self.closedError
            }
            guard let inbox = inboxes[recipient] else {
                return []
            }
            return inbox.index.entries(from: sender).compactMap { inbox.messages[$0.id] }
        }
    }

    func counts(for recipient: String) throws(StorageError) -> [String: Int] {
        try inboxes.withLock { inboxes throws(StorageError) in
            guard let inboxes else {
                throw Self.closedError
            }
            return inboxes[recipient]?.index.counts() ?? [:]
        }
    }

    /// Removes at once and calls `completion` before returning.
    func remove(
        recipient: String,
        id: String,
        completion: @escaping @Sendable (Result<Bool, StorageError>) -> Void
    ) {
        completion(Result { () throws(StorageError) in try removeNow(recipient: recipient, id: id) })
    }

    private func removeNow(recipient: String, id: String) throws(StorageError) -> Bool {
        try inboxes.withLock { inboxes throws(StorageError) in
            guard inboxes != nil else {
                throw Self.closedError
            }
            guard var inbox = inboxes?[recipient], inbox.index.contains(id: id) else {
                return false
            }
            inbox.index.remove(ids: [id])
            inbox.messages[id] = nil
            inboxes?[recipient] = inbox.index.isEmpty ? nil : inbox
            return true
        }
    }

    func expire(recipient: String, before cutoff: Date) throws(StorageError) -> Int {
        try inboxes.withLock { inboxes throws(StorageError) in
            guard inboxes != nil else {
                throw Self.closedError
            }
            guard var inbox = inboxes?[recipient] else {
                return 0
            }
            let expired = Set(inbox.index.entries(sentBefore: cutoff).map(\.id))
            guard !expired.isEmpty else {
                return 0
            }
            inbox.index.remove(ids: expired)
            for id in expired {
                inbox.messages[id] = nil
            }
            inboxes?[recipient] = inbox.index.isEmpty ? nil : inbox
            return expired.count
        }
    }

    func close() {
        inboxes.withLock { $0 = nil }
    }

    private static let closedError = StorageError.closed("memory")
}

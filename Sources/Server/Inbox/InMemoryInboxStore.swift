import Foundation
import Shared

/// An `InboxStore` in dictionaries, for unit tests: the same semantics as the GDBM store
/// (caps and their reasons, order, per-sender filter, expiry, use after close) without a disk.
///
/// The rules themselves are `InboxRules`, applied under the store's lock. Every call does
/// its work at once, before any suspension, without blocking on anything but that lock.
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

    /// Appends before its first suspension, so appends keep the order they were started in.
    func append(_ message: StoredMessage, space: InboxSpace) async throws(StorageError) -> InboxAppendResult {
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
            if space == .withinCaps,
                let reason = InboxRules.refusal(adding: entry.size, to: inbox.index.usage, of: message.to, limits: limits)
            {
                return .full(reason)
            }
            inbox.index.append(entry)
            inbox.messages[message.id] = message
            inboxes?[message.to] = inbox
            return .stored
        }
    }

    func messages(for recipient: String, from sender: String?) async throws(StorageError) -> [StoredMessage] {
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

    func counts(for recipient: String) async throws(StorageError) -> [String: Int] {
        try inboxes.withLock { inboxes throws(StorageError) in
            guard let inboxes else {
                throw Self.closedError
            }
            return inboxes[recipient]?.index.counts() ?? [:]
        }
    }

    @discardableResult
    func remove(recipient: String, id: String) async throws(StorageError) -> Bool {
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

    func expire(recipient: String, before cutoff: Date) async throws(StorageError) -> Int {
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

    func usage() async throws(StorageError) -> [String: InboxUsage] {
        try inboxes.withLock { inboxes throws(StorageError) in
            guard let inboxes else {
                throw Self.closedError
            }
            return inboxes.compactMapValues { $0.index.isEmpty ? nil : $0.index.usage }
        }
    }

    func close() async {
        inboxes.withLock { $0 = nil }
    }

    private static let closedError = StorageError.closed("memory")
}

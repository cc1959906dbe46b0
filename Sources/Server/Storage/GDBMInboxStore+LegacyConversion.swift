import Foundation

/// Reading `inbox.gdbm` into the in-memory mirror at open, repairing what a crash between
/// two writes can leave behind.
extension GDBMInboxStore {
    /// Every recipient's index, read from the file and reconciled with its message records,
    /// and notes for the operator about what had to be repaired.
    ///
    /// An append writes the message record, then the index record, then syncs, so a crash
    /// can leave a message record that no index lists. A removal deletes the message record
    /// before rewriting the index, so a crash can leave an index entry without a record.
    /// Here the first kind is indexed (its sender was never told "stored", but delivering
    /// it loses nothing and the message records alone could rebuild every index), and the
    /// second kind is dropped. Repairs are written and synced before the store is used.
    ///
    /// Records that cannot be decoded are not crash leftovers but damage: they are
    /// reported as `.corrupt` rather than deleted.
    static func loadInboxes(
        from file: GDBMFile,
        path: String
    ) throws(StorageError) -> (inboxes: [String: InboxIndex], notes: [String]) {
        var indexKeys: [[UInt8]] = []
        var messageKeys = Set<[UInt8]>()
        do {
            // Only collect here: GDBM's traversal must not see a store or delete.
            try file.forEachKey { key in
                if key.starts(with: indexPrefix) {
                    indexKeys.append(key)
                } else if key.starts(with: messagePrefix) {
                    messageKeys.insert(key)
                }
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw .io(path: path, message: "iterate keys: \(error)")
        }

        var inboxes: [String: InboxIndex] = [:]
        var changed = Set<String>()
        var notes: [String] = []

        // Index entries, kept only where their message record exists.
        var indexedKeys = Set<[UInt8]>()
        for key in indexKeys {
            let recipient = String(decoding: key.dropFirst(indexPrefix.count), as: UTF8.self)
            guard let value = try file.fetch(key: key) else {
                continue
            }
            let stored = try decodeIndex(value, key: key, path: path)
            var kept: [InboxIndex.Entry] = []
            for entry in stored.entries {
                let messageKey = messageKey(recipient: recipient, id: entry.id)
                if messageKeys.contains(messageKey) && indexedKeys.insert(messageKey).inserted {
                    kept.append(entry)
                }
            }
            if kept.count != stored.entries.count {
                let dropped = stored.entries.count - kept.count
                notes.append(
                    "\(path): dropped \(dropped) index \(dropped == 1 ? "entry" : "entries") for \(recipient) "
                        + "without a message record (a removal interrupted by a crash)"
                )
                changed.insert(recipient)
            }
            inboxes[recipient] = InboxIndex(entries: kept)
        }

        // Message records no index lists: add them after the indexed ones, oldest first.
        var orphans: [String: [StoredMessage]] = [:]
        for key in messageKeys.subtracting(indexedKeys) {
            guard let value = try file.fetch(key: key) else {
                continue
            }
            let message = try decodeMessage(value, key: key, path: path)
            guard messageKey(recipient: message.to, id: message.id) == key else {
                throw .corrupt(
                    path: path,
                    message: "message record \(String(decoding: key, as: UTF8.self)) holds message "
                        + "\(message.id) for \(message.to)"
                )
            }
            orphans[message.to, default: []].append(message)
        }
        for (recipient, messages) in orphans {
            let sorted = messages.sorted {
                ($0.sentAtMilliseconds, $0.id) < ($1.sentAtMilliseconds, $1.id)
            }
            var index = inboxes[recipient] ?? InboxIndex()
            for message in sorted {
                index.append(InboxIndex.Entry(message))
            }
            inboxes[recipient] = index
            changed.insert(recipient)
            notes.append(
                "\(path): indexed \(sorted.count) \(sorted.count == 1 ? "message" : "messages") for "
                    + "\(recipient) found without an index entry (an append interrupted by a crash)"
            )
        }

        for recipient in changed {
            let index = inboxes[recipient] ?? InboxIndex()
            if index.isEmpty {
                try file.delete(key: indexKey(recipient: recipient))
                inboxes[recipient] = nil
            } else {
                try file.store(key: indexKey(recipient: recipient), value: encodeIndex(index), replace: true)
            }
        }
        if !changed.isEmpty {
            try file.sync()
        }
        // An index record that lists nothing is never written, but drop one if found.
        inboxes = inboxes.filter { !$0.value.isEmpty }
        return (inboxes, notes.sorted())
    }
}

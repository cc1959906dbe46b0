import Foundation

/// Converting a file in the legacy layout (`GDBMInboxStore+Legacy.swift`) to the one-
/// record-per-message layout, at open.
///
/// Two phases, so a crash at any point leaves something the next open finishes:
/// 1. Read the legacy records (with the repairs that layout needed, below), write each
///    message as a new record with its place in its recipient's order as sequence number,
///    sync, then store a marker record and sync again.
/// 2. Delete the legacy records and the marker, and sync.
///
/// Without the marker every legacy record is still there (phase 2 never began), so phase 1
/// simply runs again and overwrites its own records with the same values. With it, every
/// message is already in the new layout, so only phase 2 runs.
///
/// The legacy repairs: an append wrote the message record, then the index record, so a
/// crash could leave a message record that no index lists; a removal deleted the message
/// record before rewriting the index, so a crash could leave an index entry without a
/// record. The first kind is converted after the listed ones, oldest first (its sender was
/// never told "stored", but delivering it loses nothing), the second is dropped.
extension GDBMInboxStore {
    /// Key of the record saying phase 1 of the conversion has completed.
    static let legacyConversionMarkerKey = Array("x:legacy-converted".utf8)

    /// Runs whichever phases `scan` shows are still to do; returns notes for the operator.
    static func convertLegacyLayout(in file: GDBMFile, path: String, scan: KeyScan) throws(StorageError) -> [String] {
        var notes: [String] = []
        if !scan.hasConversionMarker {
            let legacy = try readLegacyInboxes(
                from: file, path: path, indexKeys: scan.legacyIndexes, messageKeys: scan.legacyMessages)
            notes = legacy.notes
            var converted = 0
            for (recipient, messages) in legacy.inboxes {
                for (position, message) in messages.enumerated() {
                    try file.store(
                        key: recordKey(recipient: recipient, id: message.id),
                        value: encodeRecord(message, sequence: UInt64(position) + 1),
                        replace: true)
                    converted += 1
                }
            }
            try file.sync()
            try file.store(key: legacyConversionMarkerKey, value: [], replace: true)
            try file.sync()
            notes.append(
                "\(path): converted \(converted) \(converted == 1 ? "message" : "messages") from the legacy "
                    + "index layout to one record per message")
        }
        for key in scan.legacyMessages {
            try file.delete(key: key)
        }
        for key in scan.legacyIndexes {
            try file.delete(key: key)
        }
        try file.delete(key: legacyConversionMarkerKey)
        try file.sync()
        return notes
    }

    /// Every recipient's legacy messages in order, reconciled as described above, and notes
    /// about what had to be repaired. Reads only.
    static func readLegacyInboxes(
        from file: GDBMFile,
        path: String,
        indexKeys: [[UInt8]],
        messageKeys: Set<[UInt8]>
    ) throws(StorageError) -> (inboxes: [String: [StoredMessage]], notes: [String]) {
        var inboxes: [String: [StoredMessage]] = [:]
        var notes: [String] = []

        // Index entries, kept only where their message record exists.
        var indexedKeys = Set<[UInt8]>()
        for key in indexKeys {
            let recipient = String(decoding: key.dropFirst(legacyIndexPrefix.count), as: UTF8.self)
            guard let value = try file.fetch(key: key) else {
                continue
            }
            let stored = try decodeLegacyIndex(value, key: key, path: path)
            var kept: [StoredMessage] = []
            for entry in stored.entries {
                let messageKey = legacyMessageKey(recipient: recipient, id: entry.id)
                guard messageKeys.contains(messageKey), indexedKeys.insert(messageKey).inserted,
                      let record = try file.fetch(key: messageKey)
                else {
                    continue
                }
                kept.append(try decodeLegacyMessage(record, key: messageKey, path: path))
            }
            if kept.count != stored.entries.count {
                let dropped = stored.entries.count - kept.count
                notes.append(
                    "\(path): dropped \(dropped) index \(dropped == 1 ? "entry" : "entries") for \(recipient) "
                        + "without a message record (a removal interrupted by a crash)"
                )
            }
            if !kept.isEmpty {
                inboxes[recipient] = kept
            }
        }

        // Message records no index lists: add them after the indexed ones, oldest first.
        var orphans: [String: [StoredMessage]] = [:]
        for key in messageKeys.subtracting(indexedKeys) {
            guard let value = try file.fetch(key: key) else {
                continue
            }
            let message = try decodeLegacyMessage(value, key: key, path: path)
            guard legacyMessageKey(recipient: message.to, id: message.id) == key else {
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
            inboxes[recipient, default: []].append(contentsOf: sorted)
            notes.append(
                "\(path): indexed \(sorted.count) \(sorted.count == 1 ? "message" : "messages") for "
                    + "\(recipient) found without an index entry (an append interrupted by a crash)"
            )
        }
        return (inboxes, notes)
    }
}

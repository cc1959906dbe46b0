import Foundation

/// The legacy layout of `inbox.gdbm`, kept to read files written before the one-record-
/// per-message layout (see `GDBMInboxStore+Records.swift`) and convert them at open
/// (`GDBMInboxStore+LegacyConversion.swift`). Nothing writes it any more, except tests
/// that build a legacy file.
///
/// Records:
/// - `m:<recipient>:<id>`: one message, as JSON.
/// - `i:<recipient>`: that recipient's messages in order, with the id, sender, size and
///   send time of each. Every append and removal rewrote it whole: O(K²) bytes written
///   for an inbox of K messages, the reason the layout was replaced.
extension GDBMInboxStore {
    /// Prefix of legacy message record keys, `m:<recipient>:<id>`.
    static let legacyMessagePrefix = Array("m:".utf8)
    /// Prefix of legacy index record keys, `i:<recipient>`.
    static let legacyIndexPrefix = Array("i:".utf8)

    /// First byte of a legacy index record.
    static let legacyIndexFormatVersion: UInt8 = 1

    /// Key of the legacy record holding message `id` for `recipient`.
    static func legacyMessageKey(recipient: String, id: String) -> [UInt8] {
        Array("m:\(recipient):\(id)".utf8)
    }

    /// Key of `recipient`'s legacy index record.
    static func legacyIndexKey(recipient: String) -> [UInt8] {
        Array("i:\(recipient)".utf8)
    }

    // MARK: - Legacy message records: JSON

    /// The message as JSON with sorted keys, so records can be read with `gdbm_dump`
    /// and gain fields compatibly.
    static func encodeLegacyMessage(_ message: StoredMessage, path: String) throws(StorageError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return Array(try encoder.encode(message))
        } catch {
            throw .io(path: path, message: "cannot encode message \(message.id): \(error)")
        }
    }

    static func decodeLegacyMessage(_ value: [UInt8], key: [UInt8], path: String) throws(StorageError) -> StoredMessage {
        do {
            return try JSONDecoder().decode(StoredMessage.self, from: Data(value))
        } catch {
            throw .corrupt(
                path: path,
                message: "message record \(String(decoding: key, as: UTF8.self)) cannot be decoded: \(error)"
            )
        }
    }

    // MARK: - Legacy index records: compact binary

    // Layout: the version byte, then per entry, oldest first:
    //   sentAtMilliseconds  Int64, 8 bytes little-endian
    //   size                UInt64, 8 bytes little-endian
    //   id                  UInt32 length (LE), then the UTF-8 bytes
    //   from                UInt32 length (LE), then the UTF-8 bytes

    /// `index` as an index record value.
    static func encodeLegacyIndex(_ index: InboxIndex) -> [UInt8] {
        var bytes: [UInt8] = [legacyIndexFormatVersion]
        bytes.reserveCapacity(1 + index.entries.count * 72)
        for entry in index.entries {
            appendInteger(UInt64(bitPattern: entry.sentAtMilliseconds), width: 8, to: &bytes)
            appendInteger(UInt64(entry.size), width: 8, to: &bytes)
            appendString(entry.id, to: &bytes)
            appendString(entry.from, to: &bytes)
        }
        return bytes
    }

    /// The index stored under `key`; `.corrupt` if the value is not a valid index record.
    static func decodeLegacyIndex(_ value: [UInt8], key: [UInt8], path: String) throws(StorageError) -> InboxIndex {
        var reader = ByteReader(bytes: value)
        guard reader.read(width: 1) == UInt64(legacyIndexFormatVersion) else {
            throw indexCorrupt(key: key, path: path, reason: "unknown format version")
        }
        var entries: [InboxIndex.Entry] = []
        while !reader.isAtEnd {
            guard let sentAt = reader.read(width: 8),
                  let size = reader.read(width: 8), let sizeValue = Int(exactly: size),
                  let id = reader.readString(),
                  let from = reader.readString()
            else {
                throw indexCorrupt(key: key, path: path, reason: "truncated entry")
            }
            entries.append(InboxIndex.Entry(
                id: id,
                from: from,
                size: sizeValue,
                sentAtMilliseconds: Int64(bitPattern: sentAt)
            ))
        }
        return InboxIndex(entries: entries)
    }

    private static func indexCorrupt(key: [UInt8], path: String, reason: String) -> StorageError {
        .corrupt(path: path, message: "index record \(String(decoding: key, as: UTF8.self)): \(reason)")
    }
}

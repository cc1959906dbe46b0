import Foundation

/// The records of `inbox.gdbm`: their keys and how their values are encoded.
///
/// One record per waiting message, `q:<recipient>:<id>`, holding the whole message and
/// its place in the order. Nothing else is written per append or removal: an append is
/// one `gdbm_store`, a removal one `gdbm_delete`, whatever the inbox's size, so neither
/// costs more as an inbox grows.
extension GDBMInboxStore {
    /// Prefix of message record keys, `q:<recipient>:<id>`.
    static let recordPrefix = Array("q:".utf8)

    /// First byte of a message record; a later layout gets a new number.
    static let recordFormatVersion: UInt8 = 2

    /// Key of the record holding message `id` for `recipient`.
    static func recordKey(recipient: String, id: String) -> [UInt8] {
        Array("q:\(recipient):\(id)".utf8)
    }

    /// A message record's value, compact binary (no escaping, no JSON parser at open):
    ///
    ///     version    UInt8, 2
    ///     sequence   UInt64 little-endian: the append order (higher is newer)
    ///     sentAt     Int64 little-endian, milliseconds since 1970
    ///     id, from, to, body
    ///                each a UInt32 little-endian length, then the UTF-8 bytes
    ///
    /// Strings are length-prefixed UTF-8, so `gdbm_dump` still shows them readably.
    static func encodeRecord(_ message: StoredMessage, sequence: UInt64) -> [UInt8] {
        var bytes: [UInt8] = [recordFormatVersion]
        bytes.reserveCapacity(
            1 + 8 + 8 + 16 + message.id.utf8.count + message.from.utf8.count
                + message.to.utf8.count + message.body.utf8.count)
        appendInteger(sequence, width: 8, to: &bytes)
        appendInteger(UInt64(bitPattern: message.sentAtMilliseconds), width: 8, to: &bytes)
        appendString(message.id, to: &bytes)
        appendString(message.from, to: &bytes)
        appendString(message.to, to: &bytes)
        appendString(message.body, to: &bytes)
        return bytes
    }

    /// What opening needs from a record: its place, its recipient and its index entry;
    /// the body is skipped, not decoded.
    struct RecordSummary {
        let sequence: UInt64
        let recipient: String
        let entry: InboxIndex.Entry
    }

    /// The summary of the record stored under `key`; `.corrupt` if the value is not a
    /// valid record or names another key than `key`.
    static func decodeRecordSummary(_ value: [UInt8], key: [UInt8], path: String) throws(StorageError) -> RecordSummary {
        var reader = ByteReader(bytes: value)
        guard reader.read(width: 1) == UInt64(recordFormatVersion) else {
            throw recordCorrupt(key: key, path: path, reason: "unknown format version")
        }
        guard let sequence = reader.read(width: 8),
              let sentAt = reader.read(width: 8),
              let id = reader.readString(),
              let from = reader.readString(),
              let to = reader.readString(),
              let bodyLength = reader.skipString(),
              reader.isAtEnd
        else {
            throw recordCorrupt(key: key, path: path, reason: "truncated or overlong record")
        }
        guard recordKey(recipient: to, id: id) == key else {
            throw recordCorrupt(key: key, path: path, reason: "holds message \(id) for \(to)")
        }
        let entry = InboxIndex.Entry(
            id: id, from: from, size: bodyLength + from.utf8.count + id.utf8.count,
            sentAtMilliseconds: Int64(bitPattern: sentAt))
        return RecordSummary(sequence: sequence, recipient: to, entry: entry)
    }

    /// The message stored under `key`; `.corrupt` if the value is not a valid record.
    static func decodeRecord(_ value: [UInt8], key: [UInt8], path: String) throws(StorageError) -> StoredMessage {
        var reader = ByteReader(bytes: value)
        guard reader.read(width: 1) == UInt64(recordFormatVersion) else {
            throw recordCorrupt(key: key, path: path, reason: "unknown format version")
        }
        guard reader.read(width: 8) != nil,
              let sentAt = reader.read(width: 8),
              let id = reader.readString(),
              let from = reader.readString(),
              let to = reader.readString(),
              let body = reader.readString(),
              reader.isAtEnd
        else {
            throw recordCorrupt(key: key, path: path, reason: "truncated or overlong record")
        }
        return StoredMessage(id: id, from: from, to: to, body: body, sentAtMilliseconds: Int64(bitPattern: sentAt))
    }

    private static func recordCorrupt(key: [UInt8], path: String, reason: String) -> StorageError {
        .corrupt(path: path, message: "message record \(String(decoding: key, as: UTF8.self)): \(reason)")
    }

    // MARK: - Little-endian integers and length-prefixed strings

    static func appendInteger(_ value: UInt64, width: Int, to bytes: inout [UInt8]) {
        for shift in stride(from: 0, to: width * 8, by: 8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }

    static func appendString(_ string: String, to bytes: inout [UInt8]) {
        let utf8 = string.utf8
        // GDBM values are at most Int32.max bytes, so every stored string fits.
        appendInteger(UInt64(UInt32(utf8.count)), width: 4, to: &bytes)
        bytes.append(contentsOf: utf8)
    }

    /// Reads little-endian integers and length-prefixed strings, answering nil past the end.
    struct ByteReader {
        let bytes: [UInt8]
        var offset = 0

        var isAtEnd: Bool { offset == bytes.count }

        mutating func read(width: Int) -> UInt64? {
            guard bytes.count - offset >= width else {
                return nil
            }
            var value: UInt64 = 0
            for index in 0..<width {
                value |= UInt64(bytes[offset + index]) << UInt64(index * 8)
            }
            offset += width
            return value
        }

        mutating func readString() -> String? {
            guard let length = skipString() else {
                return nil
            }
            return String(decoding: bytes[offset - length..<offset], as: UTF8.self)
        }

        /// Steps over a string; returns its length in bytes.
        mutating func skipString() -> Int? {
            guard let length = read(width: 4), bytes.count - offset >= Int(length) else {
                return nil
            }
            offset += Int(length)
            return Int(length)
        }
    }
}

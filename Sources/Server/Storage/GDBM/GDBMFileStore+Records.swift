import Shared

/// The layout of `files.gdbm`: three kinds of record, told apart by their key's first byte.
///
///     m <file id>                          the file's record (`encodeRecord`)
///     c <u8 id length> <file id> <u32 index>   one chunk's text, as uploaded
///     d <shard>                            the ids of the files whose records exist, by shard
///
/// The directory (`d`, in `shardCount` records so a begin rewrites a few hundred bytes, not
/// a list of every file) is what opening reads, with the records it names: iterating the
/// file's keys would read every chunk too (GDBM reads a whole entry to return its key).
extension GDBMFileStore {
    /// Records the directory is split into.
    static let shardCount = 16

    /// The key of `fileID`'s record.
    static func recordKey(_ fileID: String) -> [UInt8] {
        [UInt8(ascii: "m")] + Array(fileID.utf8)
    }

    /// The key of chunk `index` of `fileID`; the id's length comes first so no two ids and
    /// indices make the same key.
    static func chunkKey(_ fileID: String, index: Int) -> [UInt8] {
        let id = Array(fileID.utf8)
        var key: [UInt8] = [UInt8(ascii: "c"), UInt8(truncatingIfNeeded: id.count)]
        key += id
        append32(index, to: &key)
        return key
    }

    /// The directory shard `fileID` is listed in.
    static func shard(of fileID: String) -> Int {
        Int(fileID.utf8.first ?? 0) % shardCount
    }

    /// The key of directory shard `shard`.
    static func shardKey(_ shard: Int) -> [UInt8] {
        [UInt8(ascii: "d"), UInt8(shard)]
    }

    // MARK: - File records

    /// The first byte of a file record; a new layout gets a new number.
    private static let recordFormat: UInt8 = 1

    /// A file's record, binary (it is rewritten with every chunk):
    ///
    ///     u8   format = 1
    ///     u32  length of the sender's name, then its UTF-8 bytes     (integers big-endian)
    ///     u32  length of the recipient's name, then its UTF-8 bytes
    ///     u64  size
    ///     u32  chunk count
    ///     u64  created at, milliseconds since 1970
    ///     u32  stored chunks
    ///     u8   outcome: 0 still held, 1 delivered, 2 rejected, 3 expired
    ///
    /// The id is the key's.
    static func encodeRecord(_ file: HeldFile) -> [UInt8] {
        let from = Array(file.from.utf8)
        let to = Array(file.to.utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(1 + 4 + from.count + 4 + to.count + 8 + 4 + 8 + 4 + 1)
        bytes.append(recordFormat)
        append32(from.count, to: &bytes)
        bytes += from
        append32(to.count, to: &bytes)
        bytes += to
        append64(UInt64(file.size), to: &bytes)
        append32(file.chunkCount, to: &bytes)
        append64(UInt64(bitPattern: file.createdAtMilliseconds), to: &bytes)
        append32(file.storedChunks, to: &bytes)
        bytes.append(file.outcome.map { outcomeCodes[$0]! } ?? 0)
        return bytes
    }

    /// The record of `fileID` from `bytes`.
    ///
    /// - Throws: `StorageError.corrupt` naming the file at `path` and the id.
    static func decodeRecord(_ bytes: [UInt8], fileID: String, path: String) throws(StorageError) -> HeldFile {
        var reader = Reader(bytes: bytes)
        guard reader.byte() == recordFormat,
            let from = reader.string(), let to = reader.string(),
            let size = reader.integer64(), let chunkCount = reader.integer32(),
            let created = reader.integer64(), let stored = reader.integer32(),
            let code = reader.byte(), reader.isAtEnd
        else {
            throw .corrupt(path: path, message: "the record of file \(fileID) cannot be decoded")
        }
        let outcome = outcomeCodes.first { $0.value == code }?.key
        guard code == 0 || outcome != nil, let size = Int(exactly: size), stored <= chunkCount else {
            throw .corrupt(path: path, message: "the record of file \(fileID) holds values no file has")
        }
        return HeldFile(
            fileID: fileID, from: from, to: to, size: size, chunkCount: chunkCount,
            createdAtMilliseconds: Int64(bitPattern: created), storedChunks: stored, outcome: outcome)
    }

    private static let outcomeCodes: [FileOutcome: UInt8] = [.delivered: 1, .rejected: 2, .expired: 3]

    // MARK: - Directory shards

    /// A directory shard: each id as a u8 length and its UTF-8 bytes, in `ids`' order.
    static func encodeShard(_ ids: [String]) -> [UInt8] {
        var bytes: [UInt8] = []
        for id in ids {
            let utf8 = Array(id.utf8)
            bytes.append(UInt8(truncatingIfNeeded: utf8.count))
            bytes += utf8
        }
        return bytes
    }

    /// The ids shard `shard` lists.
    ///
    /// - Throws: `StorageError.corrupt` naming the file at `path`.
    static func decodeShard(_ bytes: [UInt8], shard: Int, path: String) throws(StorageError) -> [String] {
        var reader = Reader(bytes: bytes)
        var ids: [String] = []
        while !reader.isAtEnd {
            guard let length = reader.byte(), let raw = reader.bytes(Int(length)),
                let id = String(validating: raw, as: UTF8.self), Self.shard(of: id) == shard
            else {
                throw .corrupt(path: path, message: "directory record \(shard) cannot be decoded")
            }
            ids.append(id)
        }
        return ids
    }

    // MARK: - Opening

    /// Every file the directory lists, read from `file` (chunks are not read).
    ///
    /// An id listed without a record was begun by a batch whose sync never ran (the server
    /// stopped): that begin was never answered, so it is left out.
    static func load(from file: GDBMFile, path: String) throws(StorageError) -> Mirror {
        var mirror = Mirror()
        for shard in 0..<shardCount {
            guard let value = try file.fetch(key: shardKey(shard)) else {
                continue
            }
            for id in try decodeShard(value, shard: shard, path: path) {
                guard let record = try file.fetch(key: recordKey(id)) else {
                    continue
                }
                mirror.set(id, try decodeRecord(record, fileID: id, path: path))
            }
        }
        return mirror
    }

    // MARK: - Bytes

    private static func append32(_ value: Int, to bytes: inout [UInt8]) {
        let value = UInt32(truncatingIfNeeded: value)
        bytes += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    private static func append64(_ value: UInt64, to bytes: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(value >> UInt64(shift) & 0xFF))
        }
    }

    /// Reads a record front to back; nil once it runs out.
    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        var isAtEnd: Bool { index == bytes.count }

        mutating func byte() -> UInt8? {
            guard index < bytes.count else { return nil }
            defer { index += 1 }
            return bytes[index]
        }

        mutating func integer32() -> Int? {
            guard let raw = bytes(4) else { return nil }
            return raw.reduce(0) { $0 << 8 | Int($1) }
        }

        mutating func integer64() -> UInt64? {
            guard let raw = bytes(8) else { return nil }
            return raw.reduce(0) { $0 << 8 | UInt64($1) }
        }

        mutating func string() -> String? {
            guard let length = integer32(), let raw = bytes(length) else { return nil }
            return String(validating: raw, as: UTF8.self)
        }

        mutating func bytes(_ count: Int) -> [UInt8]? {
            guard count >= 0, bytes.count - index >= count else { return nil }
            defer { index += count }
            return Array(bytes[index..<index + count])
        }
    }
}

import Foundation

/// The message history: an append-only file, `history.log`, of records sealed one by one
/// under the vault's data key, read whole into memory when opened (a few thousand messages are
/// a few hundred kilobytes).
///
/// Layout: `"SCVH"`, version 1, then records, each `u32 length` (BE), `u32` its bitwise
/// complement, and `length` sealed bytes (nonce, ciphertext, tag). A record's associated data
/// is the magic, the version and its index (u64), so records cannot be reordered, dropped from
/// the middle, or taken from a blob.
///
/// Durability: `append` syncs the file before it returns. A crash mid-append leaves a torn
/// last record (cut short, or ending in the zeros of sectors that never reached the disk); the
/// next open drops it and truncates the file there. The complement makes a damaged length
/// field tell itself from a torn one. Any other damage (a changed byte in a complete record,
/// a length that disagrees with its complement, records swapped) refuses the whole history
/// with `VaultError.corrupt("history.log")` and leaves the file as it is: after such a record
/// nothing can be trusted to be in order, and the user should decide what to keep.
///
/// `@unchecked Sendable`: the state is only touched under `lock`.
public final class HistoryLog: @unchecked Sendable {
    static let name = "history.log"
    static let magic = Array("SCVH".utf8)
    static let version: UInt8 = 1
    static let headerLength = magic.count + 1
    /// The largest entry `append` takes, encoded; a chat message is far smaller.
    public static let maximumEntrySize = 1 << 20
    static let maximumSealedLength = maximumEntrySize + AESGCM.overhead

    private struct State {
        var file: OpenFile
        /// Where the next record goes: the end of the last good record.
        var end: Int
        var entries: [HistoryEntry] = []
        var messageIDs: Set<String> = []
        /// Positions in `entries`, per partner, oldest first.
        var positionsByPartner: [String: [Int]] = [:]
        /// Set when a failed append could not be undone; the next open repairs the file.
        var needsReopen = false

        mutating func add(_ entry: HistoryEntry) {
            positionsByPartner[entry.partner, default: []].append(entries.count)
            messageIDs.insert(entry.messageID)
            entries.append(entry)
        }
    }

    private let directory: StateDirectory
    private let key: [UInt8]
    private let lock = NSLock()
    private var state: State

    /// Opens (or creates) `history.log` in `directory`: reads every record, drops a torn last
    /// record, and refuses a tampered one.
    init(directory: StateDirectory, key: [UInt8]) throws(VaultError) {
        self.directory = directory
        self.key = key
        state = try directory.withOpenDirectory { handle throws(VaultError) in
            let existed = handle.contains(Self.name)
            guard let file = try handle.openForUpdate(Self.name, create: true) else {
                throw .storageFailed("cannot create \(handle.path(of: Self.name))")
            }
            do throws(VaultError) {
                let state = try Self.load(file, key: key)
                if !existed { try handle.synchronize() }
                return state
            } catch {
                file.close()
                throw error
            }
        }
    }

    deinit {
        state.file.close()
    }

    /// How many entries the history holds, with every partner.
    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return state.entries.count
    }

    /// Whether a message with this id is in the history (with any partner).
    public func contains(messageID: String) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return state.messageIDs.contains(messageID)
    }

    /// The last `n` entries with `partner` (compared exactly), oldest first.
    public func last(_ n: Int, with partner: String) -> [HistoryEntry] {
        lock.lock()
        defer { lock.unlock() }
        guard n > 0, let positions = state.positionsByPartner[partner] else { return [] }
        return positions.suffix(n).map { state.entries[$0] }
    }

    /// Appends `entry`, durably: the record is synced to disk before this returns. It does not
    /// check for duplicates; ask `contains(messageID:)` first.
    ///
    /// - Throws: `VaultError.tooLarge` for an entry over `maximumEntrySize`; `.storageFailed`
    ///   if the write or sync fails (the entry is then not in the history); `.cryptoFailed`,
    ///   `.closed`.
    public func append(_ entry: HistoryEntry) throws(VaultError) {
        let plaintext = entry.encoded
        guard plaintext.count <= Self.maximumEntrySize else {
            throw .tooLarge("history entry", limit: Self.maximumEntrySize)
        }
        lock.lock()
        defer { lock.unlock() }
        guard !state.needsReopen else {
            throw .storageFailed("\(directory.path)/\(Self.name) could not be repaired after a failed write; restart the client")
        }
        let sealed = try AESGCM.seal(plaintext, key: key, associatedData: Self.associatedData(index: state.entries.count))
        var record = ByteWriter()
        record.append(UInt32(sealed.count))
        record.append(~UInt32(sealed.count))
        record.append(raw: sealed)
        let file = state.file
        let end = state.end
        try directory.withOpenDirectory { _ throws(VaultError) in
            do throws(VaultError) {
                try file.write(record.bytes, at: end)
                try file.synchronize()
            } catch {
                // Cut the partial record off, or the next append would land after it and turn
                // a torn tail into damage in the middle.
                do {
                    try file.truncate(to: end)
                } catch {
                    state.needsReopen = true
                }
                throw error
            }
        }
        state.end = end + record.bytes.count
        state.add(entry)
    }

    private static func associatedData(index: Int) -> [UInt8] {
        var writer = ByteWriter()
        writer.append(raw: magic)
        writer.append(version)
        writer.append(UInt64(index))
        return writer.bytes
    }

    // MARK: - Reading the file

    private static func load(_ file: OpenFile, key: [UInt8]) throws(VaultError) -> State {
        let bytes = try file.read(count: file.size(), at: 0)
        let header = magic + [version]
        guard bytes.count >= headerLength else {
            // Empty, or cut short while it was being created: start it (again).
            guard header.starts(with: bytes) else { throw .corrupt(name) }
            try file.truncate(to: 0)
            try file.write(header, at: 0)
            try file.synchronize()
            return State(file: file, end: headerLength)
        }
        guard bytes.starts(with: header) else { throw .corrupt(name) }

        var state = State(file: file, end: headerLength)
        let tail = TornTail(bytes)
        var offset = headerLength
        while offset < bytes.count {
            var reader = ByteReader(bytes, offset: offset)
            guard let length = reader.readUInt32(), let complement = reader.readUInt32() else {
                break  // torn: not even a whole length field
            }
            let sealedLength = Int(length)
            guard complement == ~length, (AESGCM.overhead...maximumSealedLength).contains(sealedLength) else {
                if tail.isTorn(from: offset) { break }
                throw .corrupt(name)
            }
            guard let sealed = reader.read(count: sealedLength) else {
                break  // torn: the record is cut short
            }
            let index = state.entries.count
            guard let plaintext = try AESGCM.open(sealed, key: key, associatedData: associatedData(index: index)) else {
                if tail.isTorn(from: offset) { break }
                throw .corrupt(name)
            }
            guard let entry = HistoryEntry(decoding: plaintext) else { throw .corrupt(name) }
            state.add(entry)
            offset = reader.offset
        }
        state.end = offset
        if offset < bytes.count {
            try file.truncate(to: offset)
            try file.synchronize()
        }
        return state
    }
}

/// Where the zeros at the end of the history file begin, to tell a crash from tampering.
///
/// A crash during an append can leave the file at its new length with the blocks that never
/// reached the disk reading as zeros: from a sector boundary to the end. A record that fails
/// its checks is taken as torn when everything from its start is zeros, or when the file ends
/// in zeros from a 512-byte boundary inside it; any other damage is tampering.
private struct TornTail {
    /// The smallest unit a disk writes, so the earliest place an unwritten run can begin.
    static let sectorSize = 512

    /// The offset of the first byte of the run of zeros that ends the file.
    let zerosStart: Int
    let fileLength: Int

    init(_ bytes: [UInt8]) {
        fileLength = bytes.count
        zerosStart = bytes.count - bytes.reversed().prefix { $0 == 0 }.count
    }

    /// Whether a record starting at `offset` that failed its checks is a torn last record.
    func isTorn(from offset: Int) -> Bool {
        if zerosStart <= offset { return true }
        let firstUnwrittenSector = (zerosStart + Self.sectorSize - 1) / Self.sectorSize * Self.sectorSize
        return firstUnwrittenSector < fileLength
    }
}

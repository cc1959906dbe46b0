import Foundation
import Shared

/// The PostgreSQL `FileStore`: `held_files`, one row per file, held or done with, and
/// `file_chunks`, one row per stored chunk (`bytea`, sent and read as hex), deleted with
/// the file's chunks when it is done with and by cascade when its row goes.
///
/// Several servers may share the database, so the rules hold in the database itself:
///
/// - A begin is one transaction that first takes a lock on its recipient
///   (`pg_advisory_xact_lock`, held until COMMIT), then sums what the recipient holds and
///   inserts the file: two begins for one recipient, on any servers, take turns, so the cap
///   is never overshot.
/// - A chunk is one statement: an `UPDATE` that bumps `stored_chunks` only where it equals
///   the chunk's index (and the file is still held and the sender's), and the chunk's
///   `INSERT` fed by it, so a chunk is stored exactly when it is the next one; two servers
///   storing the same chunk take turns on the row, and the second finds it stored.
/// - A finish or an expiry sets the outcome only where none is set, and deletes the chunks
///   in the same transaction: only the first one wins, and no chunk outlives it.
///
/// The writes to one file (begin, chunks, finish, forget) are run one at a time per file, in
/// the order they were started (`KeyedSerialGate`): the pool runs calls side by side, and an
/// uploader's pipelined chunks must not reach the database out of order.
///
/// Every write is answered once its COMMIT has returned (durable with the default
/// `synchronous_commit`).
final class PostgresFileStore: FileStore {
    private let pool: PostgresPool

    /// Keeps each file's writes in the order they were started.
    private let writesPerFile = KeyedSerialGate()

    /// Uses `pool`'s connections and threads; the store closes the pool.
    init(pool: PostgresPool) {
        self.pool = pool
    }

    /// The first key of the two-key advisory locks begins take per recipient (the second is
    /// the recipient's `hashtext`); "chfi" in ASCII. The two-key locks are a key space of
    /// their own, apart from the one-key locks of migrations and presence.
    static let recipientLockClass: Int32 = 0x6368_6669

    /// The columns `decode` reads, in its order.
    private static let columns =
        "file_id, sender, recipient, size, chunk_count, created_at_ms, stored_chunks, outcome"

    // MARK: - Writes

    func begin(_ file: HeldFile, limits: FileLimits) async throws(StorageError) -> FileBeginResult {
        let database = pool.database
        return try await run(inOrderFor: file.fileID) { connection in
            try connection.transaction { () throws -> FileBeginResult in
                try connection.execute(
                    "SELECT pg_advisory_xact_lock($1, hashtext($2))", [String(Self.recipientLockClass), file.to])
                if let existing = try Self.select(file.fileID, on: connection, database: database) {
                    return FileRules.resumption(of: existing, by: file)
                }
                // After the lock, so it counts every begin for this recipient committed before.
                let held = Int(
                    try connection.execute(
                        "SELECT coalesce(sum(size), 0) FROM held_files WHERE recipient = $1 AND outcome IS NULL", [file.to]
                    ).scalar ?? "0") ?? 0
                if let refusal = FileRules.refusal(size: file.size, heldBytes: held, recipient: file.to, limits: limits) {
                    return .refused(refusal)
                }
                var fresh = file
                fresh.storedChunks = 0
                fresh.outcome = nil
                let inserted = try connection.execute(
                    """
                    INSERT INTO held_files (file_id, sender, recipient, size, chunk_count, created_at_ms)
                    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (file_id) DO NOTHING
                    """,
                    [
                        file.fileID, file.from, file.to, String(file.size), String(file.chunkCount),
                        String(file.createdAtMilliseconds),
                    ]
                ).affected == 1
                if !inserted {
                    // A begin of the same id to another recipient (under another lock) came first.
                    guard let existing = try Self.select(file.fileID, on: connection, database: database) else {
                        throw StorageError.io("PostgreSQL database \(database): file \(file.fileID) vanished while it was begun")
                    }
                    return FileRules.resumption(of: existing, by: file)
                }
                return .held(fresh)
            }
        }
    }

    func putChunk(fileID: String, sender: String, index: Int, data: [UInt8]) async throws(StorageError) -> ChunkPutResult {
        let database = pool.database
        let hex = PostgresHex.encode(bytes: data)
        return try await run(inOrderFor: fileID) { connection in
            let bumped = try connection.execute(
                """
                WITH bumped AS (
                    UPDATE held_files SET stored_chunks = stored_chunks + 1
                    WHERE file_id = $1 AND sender = $2 AND outcome IS NULL
                        AND stored_chunks = $3 AND stored_chunks < chunk_count
                    RETURNING \(Self.columns)
                ), stored AS (
                    INSERT INTO file_chunks (file_id, chunk_index, data)
                    SELECT file_id, $3, decode($4, 'hex') FROM bumped
                )
                SELECT \(Self.columns) FROM bumped
                """, [fileID, sender, String(index), hex]
            ).rows
            if let row = bumped.first {
                return .stored(try Self.decode(row, database: database))
            }
            // Nothing stored: say why, from the row as it is now.
            guard let file = try Self.select(fileID, on: connection, database: database), file.from == sender, file.isHeld
            else {
                return .unknownFile
            }
            if index < file.storedChunks {
                return .duplicate(file)
            }
            return .outOfOrder(expected: file.storedChunks)
        }
    }

    func finish(fileID: String, outcome: FileOutcome) async throws(StorageError) -> HeldFile? {
        let database = pool.database
        let rows = try await run(inOrderFor: fileID) { connection in
            try Self.end("file_id = $1", [fileID], outcome: outcome, on: connection)
        }
        return try rows.first.map { row throws(StorageError) in try Self.decode(row, database: database) }
    }

    func forget(fileID: String, sender: String) async throws(StorageError) -> Bool {
        try await run(inOrderFor: fileID) { connection in
            try connection.execute(
                "DELETE FROM held_files WHERE file_id = $1 AND sender = $2 AND outcome IS NOT NULL", [fileID, sender]
            ).affected == 1
        }
    }

    func expire(before cutoff: Date) async throws(StorageError) -> [HeldFile] {
        let database = pool.database
        let threshold = String(InboxRules.expiryThreshold(before: cutoff))
        let rows = try await run { connection in
            try Self.end("created_at_ms < $1", [threshold], outcome: .expired, on: connection)
        }
        return try Self.decode(rows, database: database)
    }

    func removeAll(username: String) async throws(StorageError) -> Int {
        try await run { connection in
            // The chunks go with the rows (ON DELETE CASCADE).
            try connection.execute("DELETE FROM held_files WHERE sender = $1 OR recipient = $1", [username]).affected
        }
    }

    // MARK: - Reads

    func chunk(fileID: String, index: Int) async throws(StorageError) -> [UInt8]? {
        let database = pool.database
        let hex = try await run { connection in
            try connection.execute(
                "SELECT encode(data, 'hex') FROM file_chunks WHERE file_id = $1 AND chunk_index = $2",
                [fileID, String(index)]
            ).scalar
        }
        return try hex.map { hex throws(StorageError) in
            guard let data = PostgresHex.decodeBytes(hex) else {
                throw .corrupt("PostgreSQL database \(database): chunk \(index) of file \(fileID) cannot be decoded")
            }
            return data
        }
    }

    func file(_ fileID: String) async throws(StorageError) -> HeldFile? {
        let database = pool.database
        return try await run { connection in try Self.select(fileID, on: connection, database: database) }
    }

    func files(to recipient: String) async throws(StorageError) -> [HeldFile] {
        try await list("recipient = $1 AND outcome IS NULL", recipient)
    }

    func outcomes(for sender: String) async throws(StorageError) -> [HeldFile] {
        try await list("sender = $1 AND outcome IS NOT NULL", sender)
    }

    func usage() async throws(StorageError) -> [String: Int] {
        let database = pool.database
        let rows = try await run { connection in
            try connection.execute("SELECT recipient, sum(size) FROM held_files WHERE outcome IS NULL GROUP BY recipient").rows
        }
        var usage: [String: Int] = [:]
        for row in rows {
            guard row.count == 2, let recipient = row[0], let bytes = row[1].flatMap({ Int($0) }) else {
                throw .corrupt("PostgreSQL database \(database): held file bytes cannot be read")
            }
            usage[recipient] = bytes
        }
        return usage
    }

    func close() async {
        await pool.close()
    }

    /// Sets `outcome` on the held files `condition` (on `parameters`, from `$1`) selects and
    /// deletes their chunks, in one transaction; returns their rows as they now are.
    ///
    /// Two statements, not one: the chunks' `DELETE` runs after the `UPDATE` has locked the
    /// rows, with a snapshot of its own, so it also sees a chunk whose insert committed while
    /// the `UPDATE` waited for its row (one statement's snapshot would miss it), and no chunk
    /// can follow (a chunk's `UPDATE` waits for the row, then finds the file ended).
    private static func end(
        _ condition: String, _ parameters: [String?], outcome: FileOutcome, on connection: PostgresConnection
    ) throws -> [[String?]] {
        try connection.transaction {
            let next = "$\(parameters.count + 1)"
            let rows = try connection.execute(
                "UPDATE held_files SET outcome = \(next) WHERE \(condition) AND outcome IS NULL RETURNING \(columns)",
                parameters + [outcome.rawValue]
            ).rows
            if !rows.isEmpty {
                try connection.execute(
                    "DELETE FROM file_chunks WHERE file_id = ANY($1::text[])", [PostgresArray.literal(rows.compactMap { $0.first ?? nil })])
            }
            return rows
        }
    }

    // MARK: - Rows

    /// `pool.run`, its errors (all `StorageError`s by then) typed as such.
    private func run<Value: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> Value
    ) async throws(StorageError) -> Value {
        do {
            return try await pool.run(body)
        } catch let error as StorageError {
            throw error
        } catch {
            throw .io("PostgreSQL database \(pool.database): \(error)")
        }
    }

    /// `run`, once every write to `fileID` started before has been answered.
    ///
    /// The gate is entered before the first suspension (its continuation's body runs at
    /// once), so the order is the order the calls started in.
    private func run<Value: Sendable>(
        inOrderFor fileID: String, _ body: @escaping @Sendable (PostgresConnection) throws -> Value
    ) async throws(StorageError) -> Value {
        let result: Result<Value, StorageError> = await writesPerFile.run(fileID) {
            do throws(StorageError) {
                return .success(try await run(body))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// The files `condition` (on `$1` = `value`) selects, oldest first.
    private func list(_ condition: String, _ value: String) async throws(StorageError) -> [HeldFile] {
        let database = pool.database
        let rows = try await run { connection in
            // Ties by id in byte order, as `FileRules.oldestFirst` orders them.
            try connection.execute(
                "SELECT \(Self.columns) FROM held_files WHERE \(condition) ORDER BY created_at_ms, file_id COLLATE \"C\"",
                [value]
            ).rows
        }
        return try Self.decode(rows, database: database)
    }

    /// The row of `fileID`, if there is one.
    private static func select(_ fileID: String, on connection: PostgresConnection, database: String) throws -> HeldFile? {
        let rows = try connection.execute("SELECT \(columns) FROM held_files WHERE file_id = $1", [fileID]).rows
        return try rows.first.map { row throws(StorageError) in try decode(row, database: database) }
    }

    /// `rows`, oldest first (a statement's `RETURNING` has no order of its own).
    private static func decode(_ rows: [[String?]], database: String) throws(StorageError) -> [HeldFile] {
        var files: [HeldFile] = []
        files.reserveCapacity(rows.count)
        for row in rows {
            files.append(try decode(row, database: database))
        }
        return files.sorted(by: FileRules.oldestFirst)
    }

    /// One row of `columns`.
    private static func decode(_ row: [String?], database: String) throws(StorageError) -> HeldFile {
        guard row.count == 8, let fileID = row[0], let from = row[1], let to = row[2],
            let size = row[3].flatMap({ Int($0) }), let chunkCount = row[4].flatMap({ Int($0) }),
            let created = row[5].flatMap({ Int64($0) }), let stored = row[6].flatMap({ Int($0) })
        else {
            throw .corrupt("PostgreSQL database \(database): a held file's row cannot be decoded")
        }
        var outcome: FileOutcome?
        if let raw = row[7] {
            guard let known = FileOutcome(rawValue: raw) else {
                throw .corrupt("PostgreSQL database \(database): file \(fileID) has an unknown outcome '\(raw)'")
            }
            outcome = known
        }
        return HeldFile(
            fileID: fileID, from: from, to: to, size: size, chunkCount: chunkCount, createdAtMilliseconds: created,
            storedChunks: stored, outcome: outcome)
    }
}

import Foundation
import Logging
import NIOPosix

/// The PostgreSQL `InboxStore`: one row per waiting message in `inbox_messages`, and one
/// row per recipient in `inbox_usage` holding the inbox's message count, byte count and
/// next sequence number (the order).
///
/// Writes go through one writer thread with a connection of its own (`InboxWriteQueue`, the
/// group commit the GDBM store uses too): appends, removals and expiries are queued, and the
/// writer takes everything queued at once and applies it in one transaction, whose COMMIT
/// is the one wait for the disk for all of it; only then are the batch's appends answered
/// `.stored`. While it waits, new writes queue up and form the next batch.
///
/// Several servers may share the database. Inside each transaction the writer first locks
/// the `inbox_usage` row of every recipient the batch touches (`INSERT ... ON CONFLICT DO
/// UPDATE`, which locks like `SELECT ... FOR UPDATE` and creates a missing row), always in
/// the same order so two servers cannot deadlock, and only then reads which ids are already
/// there. So the caps are decided (`InboxRules.refusal`) on counts no other transaction can
/// change before this one commits, and sequence numbers are taken in the order the
/// recipient's appends commit: concurrent senders on any number of servers can neither
/// overshoot a cap nor reorder an inbox.
///
/// Reads (`messages`, `counts`) run on a small pool of connections (`PostgresPool`) and see
/// committed rows only, so never an append that is not durable.
///
/// Failures: if the database goes away or refuses the batch, the transaction is rolled
/// back (or its outcome is unknown, when the connection broke during COMMIT) and every
/// operation of the batch is answered with the error, mapped to `StorageError`
/// (`unavailable` while the database is away). Nothing was answered "stored" that is not
/// committed; a message of unknown outcome may turn up later, which at-least-once delivery
/// allows. The next batch reconnects, so the store works again, without a restart, once
/// the database is back. The writer logs the first failure and the recovery, one line each.
final class PostgresInboxStore: InboxStore {
    /// The limits every inbox is held to.
    let limits: InboxLimits

    /// The database, redacted, for error messages.
    let database: String

    private let pool: PostgresPool
    private let queue = InboxWriteQueue()
    private let writer: Writer

    /// Uses `pool` for reads and starts the writer, which connects with `location` on its
    /// first batch. The store closes the pool.
    init(location: PostgresLocation, pool: PostgresPool, limits: InboxLimits, logger: Logger) {
        self.limits = limits
        self.pool = pool
        database = location.description
        writer = Writer(location: location, limits: limits, logger: logger)
        startWriter()
    }

    deinit {
        // Lets the writer thread end; it holds the writer, not the store.
        queue.close()
    }

    /// Queued before the first suspension, so appends keep the order they were started in.
    func append(_ message: StoredMessage, space: InboxSpace) async throws(StorageError) -> InboxAppendResult {
        try await written { .append(message, space, completion: $0) }
    }

    func messages(for recipient: String, from sender: String?) async throws(StorageError) -> [StoredMessage] {
        let database = self.database
        return try await reading { connection in
            let rows: PostgresRows
            if let sender {
                rows = try connection.execute(
                    """
                    SELECT id, sender, encode(body, 'hex'), sent_at_ms FROM inbox_messages
                    WHERE recipient = $1 AND sender = $2 ORDER BY sequence
                    """, [recipient, sender])
            } else {
                rows = try connection.execute(
                    "SELECT id, sender, encode(body, 'hex'), sent_at_ms FROM inbox_messages WHERE recipient = $1 ORDER BY sequence",
                    [recipient])
            }
            return try rows.rows.map { row throws(StorageError) in
                guard row.count == 4, let id = row[0], let from = row[1], let body = row[2].flatMap(PostgresHex.decode),
                    let sentAt = row[3].flatMap({ Int64($0) })
                else {
                    throw .corrupt("PostgreSQL database \(database): a message for \(recipient) cannot be read back")
                }
                return StoredMessage(id: id, from: from, to: recipient, body: body, sentAtMilliseconds: sentAt)
            }
        }
    }

    func counts(for recipient: String) async throws(StorageError) -> [String: Int] {
        try await reading { connection in
            let rows = try connection.execute(
                "SELECT sender, count(*) FROM inbox_messages WHERE recipient = $1 GROUP BY sender", [recipient])
            var counts: [String: Int] = [:]
            for row in rows.rows {
                if let sender = row[0], let count = row[1].flatMap({ Int($0) }) {
                    counts[sender] = count
                }
            }
            return counts
        }
    }

    /// From `inbox_usage`, the counters the writers keep.
    func usage() async throws(StorageError) -> [String: InboxUsage] {
        let database = self.database
        return try await reading { connection in
            let rows = try connection.execute("SELECT recipient, messages, bytes FROM inbox_usage WHERE messages > 0").rows
            var usage: [String: InboxUsage] = [:]
            for row in rows {
                guard let recipient = row[0], let messages = row[1].flatMap({ Int($0) }), let bytes = row[2].flatMap({ Int($0) })
                else {
                    throw StorageError.corrupt("PostgreSQL database \(database): inbox_usage cannot be read back")
                }
                usage[recipient] = InboxUsage(messages: messages, bytes: bytes)
            }
            return usage
        }
    }

    @discardableResult
    func remove(recipient: String, id: String) async throws(StorageError) -> Bool {
        try await written { .remove(recipient: recipient, id: id, completion: $0) }
    }

    func expire(recipient: String, before cutoff: Date) async throws(StorageError) -> Int {
        try await written { .expire(recipient: recipient, cutoff: cutoff, completion: $0) }
    }

    /// Lets the writer finish what is queued, then closes its connection and the pool.
    /// Calling it again does nothing.
    func close() async {
        queue.close()
        let queue = self.queue
        // Waiting for the writer blocks: not on the caller's thread.
        _ = try? await NIOThreadPool.singleton.runIfActive { queue.waitForWriter() }
        await pool.close()
    }

    /// Hands an operation to the writer and waits for its answer, without a thread blocked.
    ///
    /// Queued before the first suspension: `withCheckedContinuation` runs its body at once.
    private func written<Value: Sendable>(
        _ operation: (@escaping @Sendable (Result<Value, StorageError>) -> Void) -> InboxWriteOperation
    ) async throws(StorageError) -> Value {
        let database = self.database
        let queue = self.queue
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Value, StorageError>, Never>) in
            if !queue.enqueue(operation({ continuation.resume(returning: $0) })) {
                continuation.resume(returning: .failure(.closed(database)))
            }
        }
        return try result.get()
    }

    /// Runs a read on the pool, with every failure as a `StorageError`.
    private func reading<Value: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> Value
    ) async throws(StorageError) -> Value {
        do {
            return try await pool.run(body)
        } catch let error as StorageError {
            throw error
        } catch {
            throw .io("PostgreSQL database \(database): \(error)")
        }
    }

    private func startWriter() {
        let queue = self.queue
        let writer = self.writer
        let thread = Thread {
            queue.writerStarted()
            while let batch = queue.next() {
                writer.write(batch)
            }
            writer.disconnect()
            queue.writerStopped()
        }
        thread.name = "inbox-writer"
        thread.start()
    }
}

import Foundation
import Logging

extension PostgresInboxStore {
    /// The writer thread's side of `PostgresInboxStore`: its connection, and how one batch of
    /// queued operations becomes one transaction.
    final class Writer: @unchecked Sendable {
        // @unchecked Sendable: made on the store's thread, then used only by the writer
        // thread (`write`, `disconnect`), one call at a time.

        private let location: PostgresLocation
        private let limits: InboxLimits
        private let logger: Logger
        private var connection: PostgresConnection?
        /// Every inbox's counters as this writer's last committed transaction left them, for
        /// the one-round-trip path (`commitExpecting`); emptied after any failure, and when
        /// it grows past `knownLimit`.
        private var known: [String: Usage] = [:]
        private static let knownLimit = 100_000
        /// Whether the last batch failed (so the next success is logged as a recovery).
        private var isFailing = false

        /// How often a batch is tried when PostgreSQL reports a serialisation failure or a
        /// deadlock (neither expected with the lock order kept here, but both are PostgreSQL's
        /// way of saying "try again").
        private static let attempts = 3

        init(location: PostgresLocation, limits: InboxLimits, logger: Logger) {
            self.location = location
            self.limits = limits
            self.logger = logger
        }

        /// Applies `batch` in one transaction, then answers every operation: with its own
        /// answer once COMMIT has returned, or all with the error if anything failed.
        func write(_ batch: [InboxWriteOperation]) {
            var attempt = 1
            while true {
                do {
                    let answers: [() -> Void]
                    if let expected = try commitExpecting(batch) {
                        answers = expected
                    } else {
                        answers = try commit(batch)
                    }
                    if isFailing {
                        isFailing = false
                        logger.notice("PostgreSQL database \(location.description) is back; storing messages again")
                    }
                    answers.forEach { $0() }
                    return
                } catch PostgresError.statementFailed(let state, _) where ["40001", "40P01"].contains(state) && attempt < Self.attempts {
                    _ = try? connection?.execute("ROLLBACK")
                    known.removeAll()
                    attempt += 1
                } catch {
                    let failure = storageError(error)
                    known.removeAll()
                    if case .unavailable = failure {
                        connection = nil
                    } else if let connection, connection.isConnected {
                        // Rolls back a transaction the failure left open (and aborted).
                        _ = try? connection.execute("ROLLBACK")
                    } else {
                        connection = nil
                    }
                    if !isFailing {
                        isFailing = true
                        logger.error("inbox write failed; its messages were not stored, refusing messages until it works: \(failure)")
                    }
                    batch.forEach { $0.fail(failure) }
                    return
                }
            }
        }

        /// Closes the connection (the writer is stopping).
        func disconnect() {
            connection = nil
        }

        private func storageError(_ error: any Error) -> StorageError {
            switch error {
            case let error as StorageError: error
            case let error as PostgresError: StorageError(error, database: location.description)
            default: .io("PostgreSQL database \(location.description): \(error)")
            }
        }

        /// The writer's connection, (re)connecting if there is none or it was cut.
        private func connected() throws(PostgresError) -> PostgresConnection {
            if let connection, connection.isAlive {
                return connection
            }
            connection = nil
            let fresh = try PostgresConnection(location.connectionString)
            connection = fresh
            return fresh
        }

        /// One recipient's message key.
        private struct Key: Hashable {
            let recipient: String
            let id: String
        }

        /// An inbox's counters, as locked and then changed by the batch.
        private struct Usage {
            var messages: Int
            var bytes: Int
            var nextSequence: Int64

            /// Takes messages of `sizes` out of the counters.
            mutating func subtract(_ sizes: [Int]) {
                messages -= sizes.count
                bytes -= sizes.reduce(0, +)
            }
        }

        /// Decides one append against the counters so far (`InboxRules`), and records it;
        /// true if the inbox is full.
        @discardableResult
        private func decide(
            _ message: StoredMessage, _ space: InboxSpace,
            _ completion: @escaping @Sendable (Result<InboxAppendResult, StorageError>) -> Void,
            usage: inout [String: Usage], present: inout Set<Key>,
            pending: inout [(message: StoredMessage, sequence: Int64)], answers: inout [() -> Void]
        ) -> Bool {
            let key = Key(recipient: message.to, id: message.id)
            // The same id again is the same message, stored (or about to be).
            if present.contains(key) {
                answers.append { completion(.success(.stored)) }
                return false
            }
            let size = message.storageSize
            let current = usage[message.to] ?? Usage(messages: 0, bytes: 0, nextSequence: 0)
            let inbox = InboxUsage(messages: current.messages, bytes: current.bytes)
            // A reserved message's space was taken when it was accepted: stored past the caps.
            if space == .withinCaps, let reason = InboxRules.refusal(adding: size, to: inbox, of: message.to, limits: limits) {
                answers.append { completion(.success(.full(reason))) }
                return true
            }
            pending.append((message, current.nextSequence))
            usage[message.to] = Usage(
                messages: current.messages + 1, bytes: current.bytes + size, nextSequence: current.nextSequence + 1)
            present.insert(key)
            answers.append { completion(.success(.stored)) }
            return false
        }

        /// Runs a batch of appends in one round trip, if this writer knows the counters of
        /// every inbox it touches from its own last write: decided on those, and sent as one
        /// pipeline (BEGIN, locks, inserts and counters, COMMIT) whose statements check that
        /// the locked counters are the ones expected and that no id was there already. If
        /// another server wrote to one of the inboxes meanwhile, or an id is a duplicate, a
        /// check stops the transaction, it is rolled back and nil returned: the caller runs
        /// `commit`, which reads first. Nil too when the batch does not qualify.
        private func commitExpecting(_ batch: [InboxWriteOperation]) throws -> [() -> Void]? {
            var appends: [(StoredMessage, InboxSpace, @Sendable (Result<InboxAppendResult, StorageError>) -> Void)] = []
            for operation in batch {
                guard case .append(let message, let space, let completion) = operation, known[message.to] != nil else {
                    return nil
                }
                appends.append((message, space, completion))
            }
            let connection = try connected()
            let recipients = Set(appends.map(\.0.to))
            var expected: [String: Usage] = [:]
            for recipient in recipients {
                expected[recipient] = known[recipient]
            }
            var usage = expected
            var present = Set<Key>()
            var pending: [(message: StoredMessage, sequence: Int64)] = []
            var answers: [() -> Void] = []
            answers.reserveCapacity(batch.count)
            for (message, space, completion) in appends {
                // A refusal may be wrong here: the message may be in the inbox already, which
                // only the database knows, and then the answer is "stored". Rare (a full inbox):
                // the path that reads first decides those.
                let refused = decide(message, space, completion, usage: &usage, present: &present, pending: &pending, answers: &answers)
                if refused {
                    return nil
                }
            }
            let lock = lockUsage(of: batch)
            let was = recipients.map { (recipient: $0, usage: expected[$0]!) }
            do {
                try connection.pipeline([
                    ("BEGIN ISOLATION LEVEL READ COMMITTED", []),
                    (
                        """
                        WITH locked AS (\(lock.sql))
                        SELECT chat_expect(count(*) = $6 AND bool_and(
                            locked.messages = expected.messages AND locked.bytes = expected.bytes
                            AND locked.next_sequence = expected.next_sequence))
                        FROM locked JOIN unnest($2::text[], $3::integer[], $4::bigint[], $5::bigint[])
                            AS expected(recipient, messages, bytes, next_sequence) ON locked.recipient = expected.recipient
                        """,
                        lock.parameters + [
                            PostgresArray.literal(was.map(\.recipient)),
                            PostgresArray.literal(was.map(\.usage.messages)),
                            PostgresArray.literal(was.map(\.usage.bytes)),
                            PostgresArray.literal(was.map(\.usage.nextSequence)),
                            String(was.count),
                        ]
                    ),
                    insertAndCount(pending, usage: usage, expectingNew: true),
                    ("COMMIT", []),
                ])
            } catch {
                // A check failed: another server wrote meanwhile, or an id was there already.
                guard error.sqlState == "CH001" else {
                    throw error
                }
                try connection.execute("ROLLBACK")
                // Only these inboxes' counters are in doubt; the path that reads first
                // relearns them.
                for recipient in recipients {
                    known[recipient] = nil
                }
                return nil
            }
            remember(usage)
            return answers
        }

        /// Records the counters a committed transaction left.
        private func remember(_ usage: [String: Usage]) {
            if known.count + usage.count > Self.knownLimit {
                known.removeAll()
            }
            known.merge(usage) { $1 }
        }

        /// Runs `batch` in one transaction; returns the answers to give once it committed.
        ///
        /// Two round trips for a batch of appends, however large: BEGIN, the usage locks and
        /// the duplicate check in one pipeline; the inserts, the counters and COMMIT in the
        /// other. Each run of removals adds one round trip, each expiry one.
        private func commit(_ batch: [InboxWriteOperation]) throws -> [() -> Void] {
            let connection = try connected()
            let opening = try connection.pipeline([
                ("BEGIN ISOLATION LEVEL READ COMMITTED", []),
                lockUsage(of: batch),
                existingIDs(of: batch),
            ])
            var usage = try Self.usage(from: opening[1].rows, database: location.description)
            var present = Self.present(from: opening[2].rows)
            var pending: [(message: StoredMessage, sequence: Int64)] = []
            var answers: [() -> Void] = []
            answers.reserveCapacity(batch.count)

            // Consecutive removals (a reader acknowledging a backlog) go as one DELETE.
            var removals: [(key: Key, completion: @Sendable (Result<Bool, StorageError>) -> Void)] = []
            func removeNow() throws {
                guard !removals.isEmpty else {
                    return
                }
                try insert(&pending, on: connection)
                let rows = try connection.execute(
                    """
                    DELETE FROM inbox_messages m USING unnest($1::text[], $2::text[]) AS gone(recipient, id)
                    WHERE m.recipient = gone.recipient AND m.id = gone.id
                    RETURNING m.recipient, m.id, m.size
                    """, [PostgresArray.literal(removals.map(\.key.recipient)), PostgresArray.literal(removals.map(\.key.id))]
                ).rows
                var removed = Set<Key>()
                for row in rows {
                    guard let recipient = row[0], let id = row[1], let size = row[2].flatMap({ Int($0) }) else {
                        continue
                    }
                    removed.insert(Key(recipient: recipient, id: id))
                    usage[recipient]?.subtract([size])
                }
                for removal in removals {
                    present.remove(removal.key)
                    // The same id twice in one run: the first removal took it.
                    let found = removed.remove(removal.key) != nil
                    answers.append { removal.completion(.success(found)) }
                }
                removals.removeAll()
            }

            for operation in batch {
                if case .remove(let recipient, let id, let completion) = operation {
                    removals.append((Key(recipient: recipient, id: id), completion))
                    continue
                }
                try removeNow()
                switch operation {
                case .append(let message, let space, let completion):
                    decide(message, space, completion, usage: &usage, present: &present, pending: &pending, answers: &answers)

                case .remove:
                    break

                case .expire(let recipient, let cutoff, let completion):
                    try insert(&pending, on: connection)
                    let threshold = InboxRules.expiryThreshold(before: cutoff)
                    let rows = try connection.execute(
                        "DELETE FROM inbox_messages WHERE recipient = $1 AND sent_at_ms < $2 RETURNING size, id",
                        [recipient, String(threshold)]
                    ).rows
                    let removed = Self.sizes(rows, column: 0)
                    usage[recipient]?.subtract(removed)
                    for row in rows {
                        if let id = row[1] {
                            present.remove(Key(recipient: recipient, id: id))
                        }
                    }
                    answers.append { completion(.success(removed.count)) }
                }
            }
            try removeNow()
            try connection.pipeline([insertAndCount(pending, usage: usage, expectingNew: false), ("COMMIT", [])])
            remember(usage)
            return answers
        }

        /// The statement locking the `inbox_usage` row of every recipient `batch` touches,
        /// creating the missing ones, in one fixed order (every server sorts the same way, so
        /// two batches wanting the same rows queue up instead of deadlocking); it returns
        /// their counters.
        private func lockUsage(of batch: [InboxWriteOperation]) -> (sql: String, parameters: [String?]) {
            var recipients = Set<String>()
            for operation in batch {
                switch operation {
                case .append(let message, _, _): recipients.insert(message.to)
                case .remove(let recipient, _, _), .expire(let recipient, _, _): recipients.insert(recipient)
                }
            }
            // Sorted by UTF-8 bytes and kept in that order (WITH ORDINALITY), whatever the
            // database's collation.
            let ordered = recipients.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            return (
                """
                INSERT INTO inbox_usage (recipient)
                SELECT recipient FROM unnest($1::text[]) WITH ORDINALITY AS locked(recipient, position) ORDER BY position
                ON CONFLICT (recipient) DO UPDATE SET recipient = EXCLUDED.recipient
                RETURNING recipient, messages, bytes, next_sequence
                """, [PostgresArray.literal(ordered)]
            )
        }

        /// The counters `lockUsage` returned, by recipient.
        private static func usage(from rows: [[String?]], database: String) throws -> [String: Usage] {
            var usage: [String: Usage] = [:]
            for row in rows {
                guard let recipient = row[0], let messages = row[1].flatMap({ Int($0) }),
                    let bytes = row[2].flatMap({ Int($0) }), let next = row[3].flatMap({ Int64($0) })
                else {
                    throw StorageError.corrupt("PostgreSQL database \(database): inbox_usage cannot be read back")
                }
                usage[recipient] = Usage(messages: messages, bytes: bytes, nextSequence: next)
            }
            return usage
        }

        /// The statement finding which of the batch's appended ids are already in their
        /// inbox. It runs after `lockUsage`, so in a snapshot that includes every commit that
        /// held those locks.
        private func existingIDs(of batch: [InboxWriteOperation]) -> (sql: String, parameters: [String?]) {
            var recipients: [String] = []
            var ids: [String] = []
            for case .append(let message, _, _) in batch {
                recipients.append(message.to)
                ids.append(message.id)
            }
            return (
                """
                SELECT m.recipient, m.id FROM inbox_messages m
                JOIN unnest($1::text[], $2::text[]) AS wanted(recipient, id)
                ON m.recipient = wanted.recipient AND m.id = wanted.id
                """, [PostgresArray.literal(recipients), PostgresArray.literal(ids)]
            )
        }

        /// The keys `existingIDs` returned.
        private static func present(from rows: [[String?]]) -> Set<Key> {
            var present = Set<Key>()
            for row in rows {
                if let recipient = row[0], let id = row[1] {
                    present.insert(Key(recipient: recipient, id: id))
                }
            }
            return present
        }

        /// Inserts the appends decided so far (before a removal or expiry, which must see them).
        private func insert(_ pending: inout [(message: StoredMessage, sequence: Int64)], on connection: PostgresConnection) throws {
            guard !pending.isEmpty else {
                return
            }
            try connection.execute("WITH inserted AS (\(Self.insertion)) SELECT 1", Self.insertionParameters(pending))
            pending.removeAll()
        }

        /// The statement inserting the remaining appends and writing every locked inbox's
        /// counters.
        ///
        /// With `expectingNew`, it also stops the transaction (`chat_expect`) unless every
        /// message was new: ids already there are skipped by the INSERT, and then the
        /// counters written would be wrong.
        private func insertAndCount(
            _ pending: [(message: StoredMessage, sequence: Int64)], usage: [String: Usage], expectingNew: Bool
        ) -> (sql: String, parameters: [String?]) {
            let recipients = Array(usage.keys)
            let counters = recipients.map { usage[$0]! }
            let update = """
                UPDATE inbox_usage SET messages = counted.messages, bytes = counted.bytes, next_sequence = counted.next_sequence
                FROM unnest($8::text[], $9::integer[], $10::bigint[], $11::bigint[])
                    AS counted(recipient, messages, bytes, next_sequence)
                WHERE inbox_usage.recipient = counted.recipient
                """
            let parameters =
                Self.insertionParameters(pending) + [
                    PostgresArray.literal(recipients),
                    PostgresArray.literal(counters.map(\.messages)),
                    PostgresArray.literal(counters.map(\.bytes)),
                    PostgresArray.literal(counters.map(\.nextSequence)),
                ]
            guard expectingNew else {
                return ("WITH inserted AS (\(Self.insertion)) \(update)", parameters)
            }
            return (
                """
                WITH inserted AS (\(Self.insertion) ON CONFLICT (recipient, id) DO NOTHING RETURNING 1),
                    counted AS (\(update) RETURNING 1)
                SELECT chat_expect((SELECT count(*) FROM inserted) = $12)
                """,
                parameters + [String(pending.count)]
            )
        }

        /// The INSERT of a batch's messages, parameters `$1` to `$7` (`insertionParameters`).
        private static let insertion = """
            INSERT INTO inbox_messages (recipient, id, sequence, sender, body, sent_at_ms, size)
            SELECT recipient, id, sequence, sender, decode(body, 'hex'), sent_at_ms, size
            FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::integer[])
                AS batch(recipient, id, sequence, sender, body, sent_at_ms, size)
            """

        private static func insertionParameters(_ pending: [(message: StoredMessage, sequence: Int64)]) -> [String?] {
            [
                PostgresArray.literal(pending.map(\.message.to)),
                PostgresArray.literal(pending.map(\.message.id)),
                PostgresArray.literal(pending.map(\.sequence)),
                PostgresArray.literal(pending.map(\.message.from)),
                PostgresArray.literal(pending.map { PostgresHex.encode($0.message.body) }),
                PostgresArray.literal(pending.map(\.message.sentAtMilliseconds)),
                PostgresArray.literal(pending.map(\.message.storageSize)),
            ]
        }

        /// The sizes in `column` of rows a DELETE returned.
        private static func sizes(_ rows: [[String?]], column: Int) -> [Int] {
            rows.compactMap { $0[column].flatMap { Int($0) } }
        }
    }
}

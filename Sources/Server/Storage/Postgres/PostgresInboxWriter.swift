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
        func write(_ batch: [InboxWriteQueue.Operation]) {
            var attempt = 1
            while true {
                do {
                    let answers = try commit(batch)
                    if isFailing {
                        isFailing = false
                        logger.notice("PostgreSQL database \(location.description) is back; storing messages again")
                    }
                    answers.forEach { $0() }
                    return
                } catch PostgresError.statementFailed(let state, _) where ["40001", "40P01"].contains(state) && attempt < Self.attempts {
                    attempt += 1
                } catch {
                    let failure = storageError(error)
                    if connection?.isConnected != true {
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

        /// Runs `batch` in one transaction; returns the answers to give once it committed.
        private func commit(_ batch: [InboxWriteQueue.Operation]) throws -> [() -> Void] {
            let connection = try connected()
            return try connection.transaction { () throws -> [() -> Void] in
                var usage = try lockUsage(of: batch, on: connection)
                var present = try existingIDs(of: batch, on: connection)
                var pending: [(message: StoredMessage, sequence: Int64)] = []
                var answers: [() -> Void] = []
                answers.reserveCapacity(batch.count)

                for operation in batch {
                    switch operation {
                    case .append(let message, let completion):
                        let key = Key(recipient: message.to, id: message.id)
                        // The same id again is the same message, stored (or about to be).
                        if present.contains(key) {
                            answers.append { completion(.success(.stored)) }
                            continue
                        }
                        let size = message.storageSize
                        let current = usage[message.to] ?? Usage(messages: 0, bytes: 0, nextSequence: 0)
                        let inbox = InboxUsage(messages: current.messages, bytes: current.bytes)
                        if let reason = InboxRules.refusal(adding: size, to: inbox, of: message.to, limits: limits) {
                            answers.append { completion(.success(.full(reason))) }
                            continue
                        }
                        pending.append((message, current.nextSequence))
                        usage[message.to] = Usage(
                            messages: current.messages + 1, bytes: current.bytes + size, nextSequence: current.nextSequence + 1)
                        present.insert(key)
                        answers.append { completion(.success(.stored)) }

                    case .remove(let recipient, let id, let completion):
                        try insert(&pending, on: connection)
                        let rows = try connection.execute(
                            "DELETE FROM inbox_messages WHERE recipient = $1 AND id = $2 RETURNING size", [recipient, id]
                        ).rows
                        let removed = Self.sizes(rows, column: 0)
                        usage[recipient]?.subtract(removed)
                        present.remove(Key(recipient: recipient, id: id))
                        answers.append { completion(.success(!removed.isEmpty)) }

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
                try insertAndCount(pending, usage: usage, on: connection)
                return answers
            }
        }

        /// Locks the `inbox_usage` row of every recipient `batch` touches, creating the
        /// missing ones, in one fixed order (every server sorts the same way, so two batches
        /// wanting the same rows queue up instead of deadlocking); returns their counters.
        private func lockUsage(of batch: [InboxWriteQueue.Operation], on connection: PostgresConnection) throws -> [String: Usage] {
            var recipients = Set<String>()
            for operation in batch {
                switch operation {
                case .append(let message, _): recipients.insert(message.to)
                case .remove(let recipient, _, _), .expire(let recipient, _, _): recipients.insert(recipient)
                }
            }
            // Sorted by UTF-8 bytes here and kept in that order (WITH ORDINALITY), not by the
            // database's collation, which two databases or versions may not share.
            let ordered = recipients.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            let rows = try connection.execute(
                """
                INSERT INTO inbox_usage (recipient)
                SELECT recipient FROM unnest($1::text[]) WITH ORDINALITY AS locked(recipient, position) ORDER BY position
                ON CONFLICT (recipient) DO UPDATE SET recipient = EXCLUDED.recipient
                RETURNING recipient, messages, bytes, next_sequence
                """, [PostgresArray.literal(ordered)]
            ).rows
            var usage: [String: Usage] = [:]
            for row in rows {
                guard let recipient = row[0], let messages = row[1].flatMap({ Int($0) }),
                    let bytes = row[2].flatMap({ Int($0) }), let next = row[3].flatMap({ Int64($0) })
                else {
                    throw StorageError.corrupt("PostgreSQL database \(location.description): inbox_usage cannot be read back")
                }
                usage[recipient] = Usage(messages: messages, bytes: bytes, nextSequence: next)
            }
            return usage
        }

        /// Which of the batch's appended ids are already in their inbox. Read after
        /// `lockUsage`, so in a snapshot that includes every commit that held those locks.
        private func existingIDs(of batch: [InboxWriteQueue.Operation], on connection: PostgresConnection) throws -> Set<Key> {
            var recipients: [String] = []
            var ids: [String] = []
            for case .append(let message, _) in batch {
                recipients.append(message.to)
                ids.append(message.id)
            }
            guard !ids.isEmpty else {
                return []
            }
            let rows = try connection.execute(
                """
                SELECT m.recipient, m.id FROM inbox_messages m
                JOIN unnest($1::text[], $2::text[]) AS wanted(recipient, id)
                ON m.recipient = wanted.recipient AND m.id = wanted.id
                """, [PostgresArray.literal(recipients), PostgresArray.literal(ids)]
            ).rows
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

        /// Inserts the remaining appends and writes every locked inbox's counters, in one
        /// statement.
        private func insertAndCount(
            _ pending: [(message: StoredMessage, sequence: Int64)], usage: [String: Usage], on connection: PostgresConnection
        ) throws {
            let recipients = Array(usage.keys)
            let counters = recipients.map { usage[$0]! }
            let update = """
                UPDATE inbox_usage SET messages = counted.messages, bytes = counted.bytes, next_sequence = counted.next_sequence
                FROM unnest($8::text[], $9::integer[], $10::bigint[], $11::bigint[])
                    AS counted(recipient, messages, bytes, next_sequence)
                WHERE inbox_usage.recipient = counted.recipient
                """
            try connection.execute(
                "WITH inserted AS (\(Self.insertion)) \(update)",
                Self.insertionParameters(pending) + [
                    PostgresArray.literal(recipients),
                    PostgresArray.literal(counters.map(\.messages)),
                    PostgresArray.literal(counters.map(\.bytes)),
                    PostgresArray.literal(counters.map(\.nextSequence)),
                ])
        }

        /// The INSERT of a batch's messages, parameters `$1` to `$7` (`insertionParameters`).
        private static let insertion = """
            INSERT INTO inbox_messages (recipient, id, sequence, sender, body, sent_at_ms, size)
            SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::integer[])
            """

        private static func insertionParameters(_ pending: [(message: StoredMessage, sequence: Int64)]) -> [String?] {
            [
                PostgresArray.literal(pending.map(\.message.to)),
                PostgresArray.literal(pending.map(\.message.id)),
                PostgresArray.literal(pending.map(\.sequence)),
                PostgresArray.literal(pending.map(\.message.from)),
                PostgresArray.literal(pending.map(\.message.body)),
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

import Logging
import Shared

/// The PostgreSQL `PresenceDirectory`: presence in the tables `cluster_nodes` and
/// `presence`, messages between nodes as notifications (one channel per node, one for
/// all), carrying names and ids only, never a message body, so every payload stays far
/// below PostgreSQL's 8,000-byte limit.
///
/// Changes, reads and sends run on one connection and one thread (a one-thread
/// `PostgresPool`), in the order they were asked for. A change is one transaction: it takes
/// the presence lock (a transaction-scoped advisory lock, one for the whole cluster, so every
/// change sees the one before it and versions follow commit order), the next
/// `presence_version`, loads its rows, writes back what the rules changed and sends the
/// resulting notifications, which PostgreSQL delivers only if, and when, it commits. Sends
/// outside a change are gathered into one transaction per turn of the thread.
///
/// Membership (joining, the heartbeat, listening) is `PostgresMembership`'s, on a thread and
/// connection of its own, so a busy presence queue never delays a heartbeat.
final class PostgresPresenceDirectory: PresenceDirectory {
    /// Key of the advisory lock every presence change holds ("chatpres" in ASCII).
    static let presenceLock: Int64 = 0x6368_6174_7072_6573

    private struct Outbox {
        /// Messages waiting to be sent, one batch per send task; a change closes the last
        /// batch, so what is sent after a change leaves after it.
        var batches: [[Outgoing]] = []
        var lastBatchOpen = false
        var serial: UInt64 = 0
        var timing = ClusterTiming()
    }

    private let location: PostgresLocation
    private let pool: PostgresPool
    private let logger: Logger
    private let outbox = Locked(Outbox())
    private let membership = Locked<PostgresMembership?>(nil)
    private let node = Locked<Int64>(0)

    init(location: PostgresLocation, logger: Logger) {
        self.location = location
        self.pool = PostgresPool(location, threads: 1)
        self.logger = logger
    }

    func join(label: String, timing: ClusterTiming, events: @escaping @Sendable (ClusterEvent) -> Void) async throws
        -> Int64
    {
        outbox.withLock { $0.timing = timing }
        let membership = PostgresMembership(location: location, label: label, timing: timing, logger: logger) {
            [node] event in
            if case .rejoined(let number) = event { node.withLock { $0 = number } }
            events(event)
        }
        self.membership.withLock { $0 = membership }
        let number = try await membership.start()
        node.withLock { $0 = number }
        return number
    }

    func change<Result: Sendable>(
        _ scope: PresenceScope, forgetting: Int64?,
        _ body: @escaping @Sendable (inout PairingTable<SessionAddress>, Int64) -> (Result, [Outgoing])
    ) async throws -> Result {
        outbox.withLock { $0.lastBatchOpen = false }
        let node = self.node.withLock { $0 }
        let outbox = self.outbox
        return try await pool.run { connection in
            try Self.inTransaction(connection) {
                let load: (sql: String, parameters: [String?])
                switch scope {
                case .users(let names):
                    load = (
                        """
                        SELECT username, node, session, choice FROM presence
                        WHERE username = ANY($1::text[])
                           OR username IN (SELECT choice FROM presence WHERE username = ANY($1::text[]))
                        """,
                        [PostgresArray.literal(names)]
                    )
                case .node(let held):
                    load = (
                        """
                        SELECT username, node, session, choice FROM presence
                        WHERE node = $1 OR username IN (SELECT choice FROM presence WHERE node = $1)
                        """,
                        [String(held)]
                    )
                }
                let read = try connection.pipeline([
                    ("BEGIN", []),
                    ("SELECT pg_advisory_xact_lock($1)", [String(Self.presenceLock)]),
                    ("SELECT nextval('presence_version')", []),
                    load,
                ])
                guard let version = read[2].scalar.flatMap({ Int64($0) }) else {
                    throw PostgresError.unavailable("no presence version")
                }
                let before = try Self.table(read[3])
                var table = before
                let (result, messages) = body(&table, version)
                var statements = Self.writes(from: before, to: table)
                statements += outbox.withLock { outbox in
                    messages.compactMap { Self.notification($0, from: node, outbox: &outbox) }
                }
                if let forgetting {
                    statements.append(("DELETE FROM cluster_nodes WHERE node = $1", [String(forgetting)]))
                }
                statements.append(("COMMIT", []))
                try connection.pipeline(statements)
                return result
            }
        }
    }

    func who(except username: String) async throws -> [PresenceEntry] {
        let deadAfter = String(outbox.withLock { $0.timing.deadAfterSeconds })
        return try await pool.run { connection in
            let rows = try connection.execute(
                """
                SELECT p.username, EXISTS (
                    SELECT 1 FROM presence q JOIN cluster_nodes m ON m.node = q.node
                    WHERE q.username = p.choice AND q.choice = p.username
                      AND m.heartbeat_at >= now() - make_interval(secs => $2))
                FROM presence p JOIN cluster_nodes n ON n.node = p.node
                WHERE p.username <> $1 AND n.heartbeat_at >= now() - make_interval(secs => $2)
                ORDER BY p.username
                """,
                [username, deadAfter])
            return rows.rows.compactMap { row in
                guard let name = row[0] else { return nil }
                return PresenceEntry(username: name, status: row[1] == "t" ? .chatting : .free)
            }
        }
    }

    func choosers(of username: String) async throws -> [String] {
        let deadAfter = String(outbox.withLock { $0.timing.deadAfterSeconds })
        return try await pool.run { connection in
            try connection.execute(
                """
                SELECT p.username FROM presence p JOIN cluster_nodes n ON n.node = p.node
                WHERE p.choice = $1 AND p.username <> $1 AND n.heartbeat_at >= now() - make_interval(secs => $2)
                ORDER BY p.username
                """,
                [username, deadAfter]
            ).rows.compactMap { $0[0] }
        }
    }

    func isOnline(_ username: String) async throws -> Bool {
        let deadAfter = String(outbox.withLock { $0.timing.deadAfterSeconds })
        return try await pool.run { connection in
            try connection.execute(
                """
                SELECT EXISTS (
                    SELECT 1 FROM presence p JOIN cluster_nodes n ON n.node = p.node
                    WHERE p.username = $1 AND n.heartbeat_at >= now() - make_interval(secs => $2))
                """,
                [username, deadAfter]
            ).scalar == "t"
        }
    }

    func sendNow(_ messages: [Outgoing]) async throws {
        guard !messages.isEmpty else { return }
        // Closes the open batch, so what is sent after these leaves after them.
        outbox.withLock { $0.lastBatchOpen = false }
        let node = self.node.withLock { $0 }
        let outbox = self.outbox
        try await pool.run { connection in
            let statements = outbox.withLock { outbox in
                messages.compactMap { Self.notification($0, from: node, outbox: &outbox) }
            }
            guard !statements.isEmpty else { return }
            try Self.inTransaction(connection) {
                try connection.pipeline([("BEGIN", [])] + statements + [("COMMIT", [])])
            }
        }
    }

    func send(_ messages: [Outgoing]) {
        guard !messages.isEmpty else { return }
        let startsBatch = outbox.withLock { outbox -> Bool in
            if outbox.lastBatchOpen, !outbox.batches.isEmpty {
                outbox.batches[outbox.batches.count - 1] += messages
                return false
            }
            outbox.batches.append(messages)
            outbox.lastBatchOpen = true
            return true
        }
        guard startsBatch else { return }
        let node = self.node.withLock { $0 }
        let outbox = self.outbox
        let logger = self.logger
        let pool = self.pool
        // Started at once, so the batch takes its place in the pool's queue now: after the
        // changes asked for before it, before those asked for after.
        Task.immediate {
            do {
                try await pool.run { connection in
                    let statements = outbox.withLock { outbox -> [(sql: String, parameters: [String?])] in
                        outbox.lastBatchOpen = outbox.batches.count > 1 && outbox.lastBatchOpen
                        let batch = outbox.batches.isEmpty ? [] : outbox.batches.removeFirst()
                        return batch.compactMap { Self.notification($0, from: node, outbox: &outbox) }
                    }
                    guard !statements.isEmpty else { return }
                    try Self.inTransaction(connection) {
                        try connection.pipeline([("BEGIN", [])] + statements + [("COMMIT", [])])
                    }
                }
            } catch {
                logger.warning("messages to other nodes not sent: \(error)")
            }
        }
    }

    func leave() async {
        let membership = self.membership.withLock { $0 }
        await membership?.stop()
    }

    /// Stops the membership (if still running) and closes the connection.
    func close() async {
        await leave()
        await pool.close()
    }

    // MARK: - SQL

    /// Runs `body`, which opens a transaction; rolls it back if `body` throws.
    @discardableResult
    private static func inTransaction<Value>(_ connection: PostgresConnection, _ body: () throws -> Value) throws -> Value {
        do {
            return try body()
        } catch {
            if connection.isConnected { _ = try? connection.execute("ROLLBACK") }
            throw error
        }
    }

    private static func table(_ rows: PostgresRows) throws -> PairingTable<SessionAddress> {
        var entries: [String: PairingTable<SessionAddress>.Entry] = [:]
        for row in rows.rows {
            guard row.count == 4, let username = row[0], let node = row[1].flatMap({ Int64($0) }),
                let session = row[2].flatMap({ Int64($0) })
            else {
                throw PostgresError.statementFailed(sqlState: "XX000", message: "a presence row cannot be read back")
            }
            entries[username] = .init(
                holder: SessionAddress(node: node, session: UInt64(bitPattern: session)), choice: row[3])
        }
        return PairingTable(entries: entries)
    }

    /// The statements that turn the rows `before` into `after`.
    private static func writes(
        from before: PairingTable<SessionAddress>, to after: PairingTable<SessionAddress>
    ) -> [(sql: String, parameters: [String?])] {
        var statements: [(sql: String, parameters: [String?])] = []
        for name in Set(before.entries.keys).union(after.entries.keys).sorted() {
            let old = before.entries[name]
            guard let new = after.entries[name] else {
                statements.append(("DELETE FROM presence WHERE username = $1", [name]))
                continue
            }
            guard new != old else { continue }
            statements.append(
                (
                    """
                    INSERT INTO presence (username, node, session, choice) VALUES ($1, $2, $3, $4)
                    ON CONFLICT (username) DO UPDATE
                    SET node = EXCLUDED.node, session = EXCLUDED.session, choice = EXCLUDED.choice
                    """,
                    [name, String(new.holder.node), String(Int64(bitPattern: new.holder.session)), new.choice]
                ))
        }
        return statements
    }

    /// The statement that sends `message`; nil (and nothing sent) for a payload over the limit.
    private static func notification(
        _ message: Outgoing, from node: Int64, outbox: inout Outbox
    ) -> (sql: String, parameters: [String?])? {
        outbox.serial += 1
        let payload = NodeEnvelope(from: node, serial: outbox.serial, message: message.message).encoded
        guard payload.utf8.count <= NodeEnvelope.maximumBytes else { return nil }
        switch message.to {
        case .node(let target):
            return ("SELECT pg_notify($1, $2)", [PostgresMembership.channel(of: target), payload])
        case .user(let username):
            return (
                "SELECT pg_notify('chat_node_' || node, $2) FROM presence WHERE username = $1 AND node <> $3",
                [username, payload, String(node)]
            )
        case .everyone:
            return ("SELECT pg_notify($1, $2)", [PostgresMembership.everyoneChannel, payload])
        }
    }
}

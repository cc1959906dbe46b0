import Foundation

/// The PostgreSQL `LoginFailureLedger`: one row per key in `login_failures`, so every
/// server on the database counts the same failures. Times are seconds since 1970, as the
/// servers' clocks give them.
///
/// An update is one transaction that creates the key's row if missing and locks it
/// (`SELECT ... FOR UPDATE`) before the throttle's rules decide, so failures recorded at
/// once on two servers both count. A login attempt costs one read.
final class PostgresLoginFailures: LoginFailureLedger {
    private let pool: PostgresPool

    /// Uses `pool` for every call; `close()` closes it.
    init(pool: PostgresPool) {
        self.pool = pool
    }

    func entries(_ keys: [String]) async throws -> [String: LoginThrottle.Entry] {
        try await pool.run { connection in
            var found: [String: LoginThrottle.Entry] = [:]
            for row in try connection.execute(
                "SELECT key, failures, blocked_until, last_failure FROM login_failures WHERE key = ANY($1::text[])",
                [PostgresArray.literal(keys)]
            ).rows {
                if let key = row[0] { found[key] = Self.entry(row) }
            }
            return found
        }
    }

    func update(_ key: String, _ change: @escaping @Sendable (LoginThrottle.Entry) -> LoginThrottle.Entry) async throws {
        try await pool.run { connection in
            do {
                let read = try connection.pipeline([
                    ("BEGIN", []),
                    ("INSERT INTO login_failures (key) VALUES ($1) ON CONFLICT (key) DO NOTHING", [key]),
                    ("SELECT key, failures, blocked_until, last_failure FROM login_failures WHERE key = $1 FOR UPDATE", [key]),
                ])
                let entry = change(read[2].rows.first.map(Self.entry) ?? LoginThrottle.Entry())
                try connection.pipeline([
                    (
                        "UPDATE login_failures SET failures = $2, blocked_until = $3, last_failure = $4 WHERE key = $1",
                        [
                            key, String(entry.failures), String(entry.blockedUntil.timeIntervalSince1970),
                            String(entry.lastFailure.timeIntervalSince1970),
                        ]
                    ),
                    ("COMMIT", []),
                ])
            } catch {
                if connection.isConnected { _ = try? connection.execute("ROLLBACK") }
                throw error
            }
        }
    }

    func remove(_ key: String) async throws {
        try await pool.run { connection in
            _ = try connection.execute("DELETE FROM login_failures WHERE key = $1", [key])
        }
    }

    func prune(quietSince cutoff: Date) async throws {
        let seconds = String(cutoff.timeIntervalSince1970)
        try await pool.run { connection in
            _ = try connection.execute(
                "DELETE FROM login_failures WHERE last_failure < $1 AND coalesce(blocked_until, 0) < $1", [seconds])
        }
    }

    func close() async {
        await pool.close()
    }

    private static func entry(_ row: [String?]) -> LoginThrottle.Entry {
        func date(_ text: String?) -> Date {
            text.flatMap(Double.init).map(Date.init(timeIntervalSince1970:)) ?? .distantPast
        }
        return LoginThrottle.Entry(failures: row[1].flatMap { Int($0) } ?? 0, blockedUntil: date(row[2]), lastFailure: date(row[3]))
    }
}

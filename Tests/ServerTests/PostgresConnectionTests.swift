import Foundation
import Testing
import TestSupport

@testable import Server

/// libpq through `PostgresConnection`, against a real PostgreSQL (a throw-away cluster).
@Suite("PostgresConnection", .timeLimit(.minutes(TestTimeouts.minutes(2))))
struct PostgresConnectionTests {
    static func connect() async throws -> (PostgresConnection, PostgresCluster, String) {
        let cluster = try await PostgresCluster.sharedCluster()
        let database = try await cluster.newDatabase()
        return (try PostgresConnection(cluster.connectionString(database: database)), cluster, database)
    }

    @Test("parameters travel apart from the SQL: quotes, NULL and any text come back unchanged")
    func parameters() async throws {
        let (connection, _, _) = try await Self.connect()
        try connection.execute("CREATE TABLE t (k text PRIMARY KEY, v text)")
        let awkward = "it's \"quoted\"; DROP TABLE t; -- ünïcødé \u{1F600}\n\\x00"
        let inserted = try connection.execute("INSERT INTO t VALUES ($1, $2), ($3, $4)", ["a", awkward, "b", nil])
        #expect(inserted.affected == 2)
        let rows = try connection.execute("SELECT k, v FROM t ORDER BY k").rows
        #expect(rows == [["a", awkward], ["b", nil]])
        #expect(try connection.execute("SELECT count(*) FROM t").scalar == "2")
    }

    @Test("a unique violation is a statement failure with its SQLSTATE; the connection goes on")
    func uniqueViolation() async throws {
        let (connection, _, _) = try await Self.connect()
        try connection.execute("CREATE TABLE t (k text PRIMARY KEY)")
        try connection.execute("INSERT INTO t VALUES ($1)", ["x"])
        #expect(throws: PostgresError.self) { try connection.execute("INSERT INTO t VALUES ($1)", ["x"]) }
        do {
            try connection.execute("INSERT INTO t VALUES ($1)", ["x"])
        } catch {
            #expect(error.isUniqueViolation, "\(error)")
        }
        #expect(connection.isConnected)
        #expect(try connection.execute("SELECT count(*) FROM t").scalar == "1")
    }

    @Test("a transaction that throws is rolled back; one that returns is committed")
    func transactions() async throws {
        let (connection, _, _) = try await Self.connect()
        try connection.execute("CREATE TABLE t (k int)")
        struct Abort: Error {}
        #expect(throws: Abort.self) {
            try connection.transaction {
                try connection.execute("INSERT INTO t VALUES (1)")
                throw Abort()
            }
        }
        _ = try connection.transaction { try connection.execute("INSERT INTO t VALUES (2)") }
        #expect(try connection.execute("SELECT k FROM t").rows == [["2"]])
    }

    @Test("NOTIFY reaches a listening connection, payload intact")
    func notifications() async throws {
        let (listener, cluster, database) = try await Self.connect()
        let sender = try PostgresConnection(cluster.connectionString(database: database))
        try listener.listen("chat_test")
        try sender.execute("SELECT pg_notify('chat_test', $1)", ["hello, node"])
        var received: [PostgresNotification] = []
        for _ in 0..<200 where received.isEmpty {
            received = try listener.notifications()
            if received.isEmpty { usleep(10_000) }
        }
        #expect(received == [PostgresNotification(channel: "chat_test", payload: "hello, node")])
    }

    @Test("a connection that sat idle while the server restarted is known dead before use; the pool's next call works")
    func idleAcrossARestart() async throws {
        // A cluster of its own: stopping the shared one would break the tests running beside.
        let cluster = try await PostgresCluster.offCooperativeThreads { try PostgresCluster() }
        defer { cluster.destroy() }
        let connection = try PostgresConnection(cluster.connectionString(database: "postgres"))
        let pool = PostgresPool(try PostgresLocation(parsing: cluster.connectionString(database: "postgres")), threads: 1)
        #expect(try await pool.run { try $0.execute("SELECT 1").scalar } == "1")
        #expect(connection.isAlive)
        try await PostgresCluster.offCooperativeThreads {
            try cluster.stop()
            try cluster.start()
        }
        // The server's goodbye (a FATAL notice) arrives before the end of the stream: reading
        // the notice alone left the connection looking healthy.
        #expect(!connection.isAlive)
        #expect(try await pool.run { try $0.execute("SELECT 2").scalar } == "2")
        await pool.close()
    }

    @Test("an unreachable server or a missing database is 'unavailable', with libpq's reason")
    func unavailable() async throws {
        let cluster = try await PostgresCluster.sharedCluster()
        #expect(throws: PostgresError.self) { _ = try PostgresConnection("host=/nonexistent dbname=x user=chat") }
        do {
            _ = try PostgresConnection(cluster.connectionString(database: "no_such_database"))
            Issue.record("connected to a database that does not exist")
        } catch {
            guard case .unavailable(let message) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(message.contains("no_such_database"), "\(message)")
        }
    }
}

import Foundation
import Logging
import Shared
import Testing
import TestSupport

@testable import Server

/// The PostgreSQL backend beyond the parity suites: migrations, several servers on one
/// database, and a database that goes away and comes back.
@Suite("PostgresBackend", .timeLimit(.minutes(TestTimeouts.minutes(3))))
struct PostgresBackendTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A fresh database on the shared cluster, as a location.
    static func freshDatabase() async throws -> (PostgresCluster, String, StorageLocation) {
        let cluster = try await PostgresCluster.sharedCluster()
        let database = try await cluster.newDatabase()
        return (cluster, database, .postgres(try PostgresLocation(parsing: cluster.connectionString(database: database))))
    }

    static func open(_ location: StorageLocation, limits: InboxLimits = InboxLimits()) async throws -> Stores {
        try await StorageBackend.open(location, inboxLimits: limits, logger: logger)
    }

    @Test("a fresh database gets every migration; opening again changes nothing and keeps the data")
    func migrations() async throws {
        let (cluster, database, location) = try await Self.freshDatabase()
        let message = StoredMessage.test(from: "alice", to: "bob", body: "kept")
        let first = try await Self.open(location)
        try await StorageTestSupport.closing(first, close: { await $0.close() }) { stores throws in
            #expect(try await stores.inbox.append(message) == .stored)
        }
        #expect(try await cluster.query(database, "SELECT version FROM schema_version") == "\(PostgresSchema.currentVersion)")
        let tables = try await cluster.query(database, "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'")
        #expect(
            tables
                == "accounts,cluster_nodes,device_keys,file_chunks,held_files,inbox_messages,inbox_usage,login_failures,one_time_prekeys,presence,"
                    + "schema_version"
        )

        let second = try await Self.open(location)
        try await StorageTestSupport.closing(second, close: { await $0.close() }) { stores throws in
            #expect(try await stores.inbox.messages(for: "bob", from: nil) == [message])
        }
        #expect(try await cluster.query(database, "SELECT count(*) FROM schema_version") == "1")
        let connectionString = cluster.connectionString(database: database)
        let again = try await PostgresCluster.offCooperativeThreads {
            try PostgresSchema.migrate(PostgresConnection(connectionString), database: database)
        }
        #expect(again == PostgresSchema.Outcome(from: PostgresSchema.currentVersion, to: PostgresSchema.currentVersion))
    }

    @Test("the account flags migration gives records of version 2 the operator's flags, and the store reads them")
    func accountFlagsMigration() async throws {
        let (cluster, database, location) = try await Self.freshDatabase()
        // A database as a version-2 server left it, with one account in its record format.
        try await cluster.query(database, PostgresSchema.migrations[0])
        try await cluster.query(database, PostgresSchema.migrations[1])
        try await cluster.query(
            database,
            "CREATE TABLE schema_version (only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row), version integer NOT NULL); "
                + "INSERT INTO schema_version (version) VALUES (2)")
        let hash = try PasswordHasher(parameters: .fastForTests).hash(password: "password1")
        let hashJSON = String(decoding: try JSONEncoder().encode(hash), as: UTF8.self)
        try await cluster.query(
            database,
            "INSERT INTO accounts (username, record) VALUES ('alice', '{\"username\":\"alice\",\"createdAt\":\"2023-11-14T22:13:20Z\",\"passwordHash\":\(hashJSON)}')")

        let stores = try await Self.open(location)
        try await StorageTestSupport.closing(stores, close: { await $0.close() }) { stores throws in
            let alice = try #require(try await stores.accounts.find(username: "alice"))
            #expect(!alice.isLocked && !alice.mustChangePassword && alice.lastLoginAt == nil)
            #expect(try alice.passwordHash.verify(password: "password1"))
        }
        #expect(try await cluster.query(database, "SELECT version FROM schema_version") == "\(PostgresSchema.currentVersion)")
        let flags = try await cluster.query(
            database, "SELECT record->>'locked', record->>'mustChangePassword', record->>'username' FROM accounts")
        #expect(flags == "false|false|alice")
    }

    @Test("servers starting at once on a fresh database take turns: every one starts, the schema is made once")
    func concurrentMigrations() async throws {
        let (cluster, database, _) = try await Self.freshDatabase()
        let connectionString = cluster.connectionString(database: database)
        let outcomes = Locked<[PostgresSchema.Outcome]>([])
        let failures = Locked<[String]>([])
        try await PostgresCluster.offCooperativeThreads {
            let group = DispatchGroup()
            for _ in 0..<6 {
                DispatchQueue.global().async(group: group) {
                    do {
                        let outcome = try PostgresSchema.migrate(PostgresConnection(connectionString), database: database)
                        outcomes.withLock { $0.append(outcome) }
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                }
            }
            group.wait()
        }
        #expect(failures.withLock { $0 } == [])
        let all = outcomes.withLock { $0 }
        #expect(all.count == 6)
        #expect(all.filter { $0.from == 0 }.count == 1, "\(all)")
        #expect(try await cluster.query(database, "SELECT version FROM schema_version") == "\(PostgresSchema.currentVersion)")
    }

    @Test("a database whose schema is newer than this server knows is refused, untouched, naming both versions")
    func newerSchemaRefused() async throws {
        let (cluster, database, location) = try await Self.freshDatabase()
        await (try Self.open(location)).close()
        let newer = PostgresSchema.currentVersion + 1
        try await cluster.query(database, "UPDATE schema_version SET version = \(newer)")
        await #expect {
            _ = try await Self.open(location)
        } throws: { error in
            guard case StorageError.corrupt(let message) = error else { return false }
            return message.contains("schema version \(newer), newer than this chat-server knows (\(PostgresSchema.currentVersion))")
                && message.contains("upgrade chat-server")
        }
        #expect(try await cluster.query(database, "SELECT version FROM schema_version") == "\(newer)")
    }

    @Test("an unreachable database or a missing one is 'unavailable' at start, naming the location without its password")
    func unreachable() async throws {
        let cluster = try await PostgresCluster.sharedCluster()
        let missing = try StorageLocation(parsing: "postgres:host=\(cluster.socketDirectory) dbname=no_such_db user=chat password=s3cret")
        await #expect {
            _ = try await Self.open(missing)
        } throws: { error in
            guard case StorageError.unavailable(let message) = error else { return false }
            return message.contains("no_such_db") && message.contains("password=***") && !message.contains("s3cret")
        }
        let nowhere = try StorageLocation(parsing: "postgres:host=/nonexistent dbname=chat")
        await #expect {
            _ = try await Self.open(nowhere)
        } throws: { error in
            guard case StorageError.unavailable(let message) = error else { return false }
            return message.contains("/nonexistent")
        }
    }

    @Test("two servers appending to one inbox at its cap: never past it, no sequence taken twice, each sender's order kept")
    func twoServersAtTheCap() async throws {
        let (cluster, database, location) = try await Self.freshDatabase()
        let limits = InboxLimits(maximumMessages: 60)
        let nodes = [try await Self.open(location, limits: limits), try await Self.open(location, limits: limits)]
        let perNode = 50
        var sent: [[StoredMessage]] = []
        var appends: [[Task<InboxAppendResult, any Error>]] = []
        for (number, node) in nodes.enumerated() {
            let messages = (0..<perNode).map { StoredMessage.test(from: "node\(number)", to: "bob", body: "\(number)-\($0)") }
            sent.append(messages)
            // Started one after another without waiting, as a session's sends are.
            appends.append(messages.map { message in Task.immediate { try await node.inbox.append(message) } })
        }
        var stored = 0
        var full = 0
        for tasks in appends {
            for task in tasks {
                switch try await task.value {
                case .stored: stored += 1
                case .full(let reason):
                    #expect(reason == "bob's inbox is full (60 messages)")
                    full += 1
                }
            }
        }
        #expect(stored == 60)
        #expect(full == 2 * perNode - 60)
        let inbox = try await nodes[0].inbox.messages(for: "bob", from: nil)
        #expect(inbox.count == 60)
        for number in 0..<2 {
            let mine = inbox.filter { $0.from == "node\(number)" }
            // What one server stored is a prefix of what it sent, in order (the cap refuses
            // everything after the first refusal, since nothing is removed meanwhile).
            #expect(mine == Array(sent[number].prefix(mine.count)))
        }
        #expect(try await cluster.query(database, "SELECT count(DISTINCT sequence) FROM inbox_messages WHERE recipient = 'bob'") == "60")
        #expect(try await cluster.query(database, "SELECT messages FROM inbox_usage WHERE recipient = 'bob'") == "60")
        for node in nodes {
            await node.close()
        }
    }

    @Test("two servers handing out one user's prekeys at once: each once, none lost; publishes for one user take turns")
    func twoServersTakingPrekeys() async throws {
        let (cluster, database, location) = try await Self.freshDatabase()
        let nodes = [try await Self.open(location), try await Self.open(location)]
        try await nodes[0].keys.publish(TestKeys.keys(preKeys: 1...40), username: "alice")
        let taken = Locked<[Int?]>([])
        await StorageTestSupport.concurrently(60) { number in
            if let bundle = try? await nodes[number % 2].keys.takeBundle(username: "alice") {
                taken.withLock { $0.append(bundle.preKey?.id) }
            }
        }
        let all = taken.withLock { $0 }
        #expect(all.count == 60)
        #expect(all.compactMap { $0 }.sorted() == Array(1...40))
        #expect(all.filter { $0 == nil }.count == 20)

        // Ten top-ups of the same identity through both servers at once: all of them land.
        await StorageTestSupport.concurrently(10) { number in
            _ = try? await nodes[number % 2].keys.publish(
                TestKeys.keys(preKeys: (100 + number * 10)..<(110 + number * 10)), username: "alice")
        }
        #expect(try await nodes[1].keys.preKeyCount(username: "alice") == 100)
        #expect(try await cluster.query(database, "SELECT count(*) FROM device_keys") == "1")
        for node in nodes {
            await node.close()
        }
    }

    @Test("two servers beginning files for one recipient at once: never past the cap; a chunk sent through both is stored once")
    func twoServersHoldingFiles() async throws {
        let (cluster, database, location) = try await Self.freshDatabase()
        let nodes = [try await Self.open(location), try await Self.open(location)]
        let limits = FileLimits(maximumFileBytes: 100_000, maximumHeldBytes: 550_000)
        let held = Locked(0)
        await StorageTestSupport.concurrently(30) { number in
            let file = FileStoreTests.file(200 + number, from: "s\(number)", size: 100_000)
            if case .held = try? await nodes[number % 2].files.begin(file, limits: limits) {
                held.withLock { $0 += 1 }
            }
        }
        #expect(held.withLock { $0 } == 5)
        #expect(try await nodes[1].files.usage() == ["bob": 500_000])
        #expect(try await cluster.query(database, "SELECT count(*) FROM held_files WHERE recipient = 'bob'") == "5")

        // The same chunk through both servers at once, ten times over: one is stored, the
        // rest are duplicates, and the next chunk is expected after it.
        let upload = try #require(try await nodes[0].files.files(to: "bob").first)
        let results = Locked<[ChunkPutResult]>([])
        await StorageTestSupport.concurrently(10) { number in
            if let result = try? await nodes[number % 2].files.putChunk(
                fileID: upload.fileID, sender: upload.from, index: 0, data: [UInt8(number)])
            {
                results.withLock { $0.append(result) }
            }
        }
        let all = results.withLock { $0 }
        #expect(all.count == 10)
        #expect(all.count { if case .stored = $0 { true } else { false } } == 1)
        #expect(all.count { if case .duplicate = $0 { true } else { false } } == 9)
        #expect(try await nodes[0].files.file(upload.fileID)?.storedChunks == 1)
        #expect(try await cluster.query(database, "SELECT count(*) FROM file_chunks") == "1")
        // Ending it deletes its chunks with it, whichever server asks.
        #expect(try await nodes[1].files.finish(fileID: upload.fileID, outcome: .rejected)?.outcome == .rejected)
        #expect(try await nodes[0].files.finish(fileID: upload.fileID, outcome: .delivered) == nil)
        #expect(try await cluster.query(database, "SELECT count(*) FROM file_chunks") == "0")
        for node in nodes {
            await node.close()
        }
    }

    @Test("a writer's counters gone stale (another server wrote, an id came again) are noticed and the batch decided afresh")
    func staleCounters() async throws {
        let (cluster, database, location) = try await Self.freshDatabase()
        let nodes = [try await Self.open(location), try await Self.open(location)]
        let first = StoredMessage.test(from: "alice", to: "bob", body: "a1")
        let sent = [
            (0, first), (0, StoredMessage.test(from: "alice", to: "bob", body: "a2")),
            (1, StoredMessage.test(from: "carol", to: "bob", body: "c1")),
            (0, StoredMessage.test(from: "alice", to: "bob", body: "a3")),
            (1, StoredMessage.test(from: "carol", to: "bob", body: "c2")),
        ]
        for (node, message) in sent {
            #expect(try await nodes[node].inbox.append(message) == .stored)
        }
        // Known to node 0's writer, and again: stored, once.
        #expect(try await nodes[0].inbox.append(first) == .stored)
        #expect(try await nodes[1].inbox.append(first) == .stored)
        #expect(try await nodes[0].inbox.messages(for: "bob", from: nil) == sent.map(\.1))
        #expect(try await cluster.query(database, "SELECT messages || ' ' || next_sequence FROM inbox_usage WHERE recipient = 'bob'") == "5 5")
        #expect(try await nodes[1].inbox.remove(recipient: "bob", id: first.id))
        #expect(try await nodes[0].inbox.append(StoredMessage.test(from: "alice", to: "bob", body: "a4")) == .stored)
        #expect(try await nodes[0].inbox.counts(for: "bob") == ["alice": 3, "carol": 2])
        #expect(try await cluster.query(database, "SELECT messages FROM inbox_usage WHERE recipient = 'bob'") == "5")
        for node in nodes {
            await node.close()
        }
    }

    @Test("the database going away: calls fail 'unavailable', nothing is answered stored; back again, everything works")
    func databaseGoesAway() async throws {
        // A cluster of its own: stopping the shared one would break the tests running beside.
        let cluster = try await PostgresCluster.offCooperativeThreads { try PostgresCluster() }
        defer { cluster.destroy() }
        try await cluster.query("postgres", "CREATE DATABASE chat")
        let location = StorageLocation.postgres(try PostgresLocation(parsing: cluster.connectionString(database: "chat")))
        let stores = try await Self.open(location)
        try await StorageTestSupport.closing(stores, close: { await $0.close() }) { stores throws in
            let before = StoredMessage.test(from: "alice", to: "bob", body: "before")
            #expect(try await stores.inbox.append(before) == .stored)
            try await stores.accounts.create(try Self.account("alice"))

            for stop in [{ try cluster.stop() }, { try cluster.crash() }] as [@Sendable () throws -> Void] {
                try await PostgresCluster.offCooperativeThreads(stop)
                await #expect { try await stores.inbox.append(StoredMessage.test(from: "alice", to: "bob")) } throws: {
                    Self.isUnavailable($0)
                }
                await #expect { try await stores.inbox.messages(for: "bob", from: nil) } throws: { Self.isUnavailable($0) }
                await #expect { try await stores.accounts.find(username: "alice") } throws: { Self.isUnavailable($0) }
                try await PostgresCluster.offCooperativeThreads { try cluster.start() }
                let after = StoredMessage.test(from: "carol", to: "bob", body: "after")
                #expect(try await stores.inbox.append(after) == .stored)
                #expect(try await stores.inbox.messages(for: "bob", from: nil).suffix(1) == [after])
                #expect(try await stores.accounts.find(username: "alice") != nil)
                #expect(try await stores.inbox.remove(recipient: "bob", id: after.id))
            }
            #expect(try await stores.inbox.messages(for: "bob", from: nil) == [before])
        }
    }

    static func isUnavailable(_ error: any Error) -> Bool {
        if case StorageError.unavailable(let message) = error {
            return message.contains("PostgreSQL database")
        }
        return false
    }

    static func account(_ name: String) throws -> Account {
        Account(
            username: try Username(name),
            passwordHash: PasswordHash(parameters: ScryptParameters(logN: 10, r: 8, p: 1), salt: [1, 2, 3], hash: [4, 5, 6]))
    }
}

import Foundation
import Logging
import Testing
import TestSupport

@testable import Server

/// The backends the parity suites (`InboxStoreTests`, `AccountStoreTests`, `KeyStoreTests`) run every test
/// over, so the in-memory twins used by unit tests cannot drift from the real stores.
///
/// A new backend is one case here and its branch in `StoreFixture.open`; where it needs a
/// server the machine may lack, it cancels its tests there with the reason.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible {
    case inMemory
    case gdbm
    /// A database of its own on the test process's throw-away cluster (`PostgresCluster`).
    case postgres

    var testDescription: String { rawValue }
}

/// Fresh, empty stores of one `StoreKind`, and what it takes to get rid of them again.
struct StoreFixture {
    let stores: Stores
    private let removeFiles: @Sendable () async -> Void

    /// Opens fresh stores of `kind`, through `StorageBackend` for every kind it knows.
    static func open(_ kind: StoreKind, inboxLimits: InboxLimits = InboxLimits()) async throws -> StoreFixture {
        switch kind {
        case .inMemory:
            let accounts = InMemoryAccountStore()
            let inbox = InMemoryInboxStore(limits: inboxLimits)
            let keys = InMemoryKeyStore()
            let files = InMemoryFileStore()
            let stores = Stores(
                accounts: accounts, inbox: inbox, keys: keys, files: files,
                footprint: { StoreFootprint(description: "memory", bytes: 0) }
            ) {
                await files.close()
                await inbox.close()
                await keys.close()
                await accounts.close()
            }
            return StoreFixture(stores: stores, removeFiles: {})
        case .gdbm:
            let parent = try StorageTestSupport.makeTemporaryDirectory()
            let removeFiles: @Sendable () -> Void = { try? FileManager.default.removeItem(atPath: parent) }
            do {
                let stores = try await StorageBackend.open(
                    .gdbm(directory: parent + "/data"), inboxLimits: inboxLimits, logger: Self.logger)
                return StoreFixture(stores: stores, removeFiles: removeFiles)
            } catch {
                removeFiles()
                throw error
            }
        case .postgres:
            let cluster = try await PostgresCluster.sharedCluster()
            let database = try await cluster.newDatabase()
            let location = try PostgresLocation(parsing: cluster.connectionString(database: database))
            let stores = try await StorageBackend.open(.postgres(location), inboxLimits: inboxLimits, logger: Self.logger)
            return StoreFixture(stores: stores, removeFiles: {
                _ = try? await cluster.query("postgres", "DROP DATABASE IF EXISTS \(database) WITH (FORCE)")
            })
        }
    }

    /// Opens `location`, retrying while the data directory this process just released is
    /// still held by a child being spawned (see `StorageTestSupport.reopen`).
    static func openRetrying(_ location: StorageLocation) async throws -> Stores {
        let deadline = Date().addingTimeInterval(10)
        while true {
            do {
                return try await StorageBackend.open(location, inboxLimits: InboxLimits(), logger: logger)
            } catch StorageError.alreadyInUse where Date() < deadline {
                try await Task.sleep(nanoseconds: 20_000_000)
            }
        }
    }

    /// Closes the stores and removes their files (or database).
    func tearDown() async {
        await stores.close()
        await removeFiles()
    }

    private static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
}

extension StoreKind {
    /// A location of this kind that outlives one opening (open it with
    /// `StoreFixture.openRetrying`), and how to remove it.
    func durableLocation() async throws -> (StorageLocation, @Sendable () -> Void) {
        switch self {
        case .gdbm:
            let parent = try StorageTestSupport.makeTemporaryDirectory()
            return (.gdbm(directory: parent + "/data"), { try? FileManager.default.removeItem(atPath: parent) })
        case .postgres:
            let (_, _, location) = try await PostgresBackendTests.freshDatabase()
            return (location, {})
        case .inMemory:
            preconditionFailure("nothing of the in-memory store survives closing it")
        }
    }

    /// Runs `body` with a fresh inbox store of this kind, tearing it down afterwards
    /// whether or not `body` threw.
    func withInboxStore(limits: InboxLimits = InboxLimits(), _ body: (any InboxStore) async throws -> Void) async throws {
        let fixture = try await StoreFixture.open(self, inboxLimits: limits)
        try await StorageTestSupport.closing(fixture, close: { await $0.tearDown() }) { try await body($0.stores.inbox) }
    }

    /// Runs `body` with a fresh key store of this kind, tearing it down afterwards whether or
    /// not `body` threw.
    func withKeyStore(_ body: (any KeyStore) async throws -> Void) async throws {
        let fixture = try await StoreFixture.open(self)
        try await StorageTestSupport.closing(fixture, close: { await $0.tearDown() }) { try await body($0.stores.keys) }
    }

    /// Runs `body` with a fresh file store of this kind, tearing it down afterwards whether
    /// or not `body` threw.
    func withFileStore(_ body: (any FileStore) async throws -> Void) async throws {
        let fixture = try await StoreFixture.open(self)
        try await StorageTestSupport.closing(fixture, close: { await $0.tearDown() }) { try await body($0.stores.files) }
    }

    /// Runs `body` with a fresh account store of this kind, tearing it down afterwards
    /// whether or not `body` threw.
    func withAccountStore(_ body: (any AccountStore) async throws -> Void) async throws {
        let fixture = try await StoreFixture.open(self)
        try await StorageTestSupport.closing(fixture, close: { await $0.tearDown() }) { try await body($0.stores.accounts) }
    }
}

import Foundation
import Shared
import Testing
import TestSupport

@testable import Server

/// What only the GDBM file store has: its records on disk, its syncs, its recovery from a
/// failing disk. The contract itself is checked by the parity suite (`FileStoreTests`).
@Suite("GDBMFileStore")
struct GDBMFileStoreTests {
    @Test("one sync per chunk when each waits for the last; a pipelined 10 MiB upload shares syncs")
    func uploadSyncs() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let log = Log()
            let store = try GDBMFileStore(directory: directory, observer: log.record)
            let chunkText = [UInt8](repeating: UInt8(ascii: "Q"), count: FileRules.maximumChunkTextBytes)

            // One at a time: every chunk is synced before it is answered. (1 MiB, not 10: each
            // of these syncs waits for the disk, which the tests running beside this one share.)
            let waited = FileStoreTests.file(1, size: 1 << 20)
            _ = try await store.begin(waited, limits: FileLimits())
            let before = log.syncs
            for index in 0..<waited.chunkCount {
                let put = try await store.putChunk(fileID: waited.fileID, sender: "alice", index: index, data: chunkText)
                guard case .stored(let record) = put, record.storedChunks == index + 1 else {
                    Issue.record("chunk \(index): \(put)")
                    return
                }
            }
            #expect(log.syncs - before == 32)

            // Pipelined: each put is queued before the next starts (`Task.immediate`), as a
            // session queues an uploader's chunks. The writer is held in its first chunk sync
            // until all are queued, so the rest make one more batch.
            let pipelined = FileStoreTests.file(2, to: "carol", size: 10 << 20)
            #expect(pipelined.chunkCount == 320)
            _ = try await store.begin(pipelined, limits: FileLimits())
            let start = log.syncs
            log.holdNextSync()
            let puts = (0..<pipelined.chunkCount).map { index in
                Task.immediate { try await store.putChunk(fileID: pipelined.fileID, sender: "alice", index: index, data: chunkText) }
            }
            log.releaseSync()
            for (index, put) in puts.enumerated() {
                guard case .stored(let record) = try await put.value else {
                    Issue.record("chunk \(index) was not stored")
                    continue
                }
                #expect(record.storedChunks >= index + 1)
            }
            #expect(log.syncs - start <= 2)
            #expect(try await store.file(pipelined.fileID)?.isComplete == true)
            #expect(try await store.chunk(fileID: pipelined.fileID, index: 319) == chunkText)
            await store.close()
        }
    }

    @Test("a record or directory entry that cannot be decoded is reported corrupt, naming the file and the id")
    func corruptRecords() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let path = parent + "/data/" + GDBMFileStore.fileName
            let file = FileStoreTests.file(7)
            try await Self.withStore(parent) { store throws in
                _ = try await store.begin(file, limits: FileLimits())
            }
            // A record cut short.
            try Self.edit(path) { raw in
                var record = GDBMFileStore.encodeRecord(file)
                record.removeLast()
                try raw.store(key: GDBMFileStore.recordKey(file.fileID), value: record, replace: true)
            }
            try await Self.expectCorrupt(parent, path: path, naming: file.fileID)
            // A record claiming more chunks stored than the file has.
            try Self.edit(path) { raw in
                var impossible = file
                impossible.storedChunks = file.chunkCount + 1
                try raw.store(
                    key: GDBMFileStore.recordKey(file.fileID), value: GDBMFileStore.encodeRecord(impossible), replace: true)
            }
            try await Self.expectCorrupt(parent, path: path, naming: file.fileID)
            // A directory shard that is not a list of ids.
            try Self.edit(path) { raw in
                try raw.store(key: GDBMFileStore.recordKey(file.fileID), value: GDBMFileStore.encodeRecord(file), replace: true)
                try raw.store(key: GDBMFileStore.shardKey(GDBMFileStore.shard(of: file.fileID)), value: [200, 1, 2], replace: true)
            }
            try await Self.expectCorrupt(parent, path: path, naming: "directory record")
        }
    }

    @Test("a chunk counted as stored but missing from the file is reported corrupt when read")
    func missingChunk() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let path = parent + "/data/" + GDBMFileStore.fileName
            let file = FileStoreTests.file(8)
            try await Self.withStore(parent) { store throws in
                _ = try await store.begin(file, limits: FileLimits())
                _ = try await store.putChunk(fileID: file.fileID, sender: "alice", index: 0, data: [1])
                _ = try await store.putChunk(fileID: file.fileID, sender: "alice", index: 1, data: [2])
            }
            try Self.edit(path) { raw in try raw.delete(key: GDBMFileStore.chunkKey(file.fileID, index: 1)) }
            try await Self.withStore(parent) { store throws in
                #expect(try await store.chunk(fileID: file.fileID, index: 0) == [1])
                await #expect {
                    try await store.chunk(fileID: file.fileID, index: 1)
                } throws: { error in
                    guard case StorageError.corrupt(let text) = error else { return false }
                    return text.contains(path) && text.contains("chunk 1 of file \(file.fileID)")
                }
            }
        }
    }

    @Test("chunks leave the file once their file is done with; forget deletes any a crash left")
    func chunkRecordsDeleted() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let path = parent + "/data/" + GDBMFileStore.fileName
            let done = FileStoreTests.file(9)
            let held = FileStoreTests.file(10)
            try await Self.withStore(parent) { store throws in
                for file in [done, held] {
                    _ = try await store.begin(file, limits: FileLimits())
                    for index in 0..<2 {
                        _ = try await store.putChunk(fileID: file.fileID, sender: "alice", index: index, data: [UInt8(index)])
                    }
                }
                _ = try await store.finish(fileID: done.fileID, outcome: .delivered)
            }
            #expect(try Self.chunkIndices(path, of: done.fileID) == [])
            #expect(try Self.chunkIndices(path, of: held.fileID) == [0, 1])
            // As if the server had stopped before the deletions reached the disk.
            try Self.edit(path) { raw in
                try raw.store(key: GDBMFileStore.chunkKey(done.fileID, index: 3), value: [3], replace: true)
            }
            try await Self.withStore(parent) { store throws in
                #expect(try await store.chunk(fileID: done.fileID, index: 3) == nil)
                #expect(try await store.forget(fileID: done.fileID, sender: "alice"))
            }
            #expect(try Self.chunkIndices(path, of: done.fileID) == [])
        }
    }

    @Test("a failed chunk sync: that chunk throws and is not counted; sent again, it is stored")
    func failedChunkSync() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let file = FileStoreTests.file(11)
            let faults = GDBMFaults()
            let log = Log()
            try await Self.withStore(parent, log: log, faults: faults) { store throws in
                _ = try await store.begin(file, limits: FileLimits())
                _ = try await store.putChunk(fileID: file.fileID, sender: "alice", index: 0, data: [0])
                faults.failNext(.sync)
                await #expect { try await store.putChunk(fileID: file.fileID, sender: "alice", index: 1, data: [1]) } throws: {
                    Self.isIO($0)
                }
                #expect(log.failures == 1 && log.recoveries == 1)
                #expect(try await store.file(file.fileID)?.storedChunks == 1)
                #expect(try await store.chunk(fileID: file.fileID, index: 1) == nil)
                guard case .stored(let record) = try await store.putChunk(fileID: file.fileID, sender: "alice", index: 1, data: [11])
                else {
                    Issue.record("the chunk sent again was not stored")
                    return
                }
                #expect(record.storedChunks == 2)
            }
            try await Self.withStore(parent) { store throws in
                #expect(try await store.file(file.fileID)?.storedChunks == 2)
                #expect(try await store.chunk(fileID: file.fileID, index: 1) == [11])
            }
        }
    }

    @Test("a failed batch is undone: a begin leaves no record, a finish leaves the file held with its chunks")
    func failedBatchUndone() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let path = parent + "/data/" + GDBMFileStore.fileName
            let kept = FileStoreTests.file(12, size: 10)
            let failed = FileStoreTests.file(13, size: 10)
            let faults = GDBMFaults()
            try await Self.withStore(parent, faults: faults) { store throws in
                _ = try await store.begin(kept, limits: FileLimits())
                _ = try await store.putChunk(fileID: kept.fileID, sender: "alice", index: 0, data: [7])
                faults.failNext(.sync)
                await #expect { try await store.begin(failed, limits: FileLimits()) } throws: { Self.isIO($0) }
                #expect(try await store.file(failed.fileID) == nil)
                faults.failNext(.sync)
                await #expect { try await store.finish(fileID: kept.fileID, outcome: .rejected) } throws: { Self.isIO($0) }
                #expect(try await store.file(kept.fileID)?.isHeld == true)
                #expect(try await store.chunk(fileID: kept.fileID, index: 0) == [7])
                #expect(try await store.usage() == ["bob": 10])
            }
            // The file agrees: the undone records were rewritten.
            let raw = try GDBMFile(path: path)
            #expect(try raw.fetch(key: GDBMFileStore.recordKey(failed.fileID)) == nil)
            #expect(try raw.fetch(key: GDBMFileStore.recordKey(kept.fileID)).map {
                try GDBMFileStore.decodeRecord($0, fileID: kept.fileID, path: path).isHeld
            } == true)
            try raw.close()
            try await Self.withStore(parent) { store throws in
                #expect(try await store.files(to: "bob").map(\.fileID) == [kept.fileID])
                #expect(try await store.chunk(fileID: kept.fileID, index: 0) == [7])
            }
        }
    }

    @Test("a disk that stays bad: writes are refused, reads go on, and writes work again once it recovers")
    func diskStaysBad() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let file = FileStoreTests.file(14)
            let faults = GDBMFaults()
            let log = Log()
            try await Self.withStore(parent, log: log, faults: faults) { store throws in
                _ = try await store.begin(file, limits: FileLimits())
                _ = try await store.putChunk(fileID: file.fileID, sender: "alice", index: 0, data: [0])
                faults.failNext(.sync, times: Int.max)
                for _ in 0..<3 {
                    await #expect { try await store.putChunk(fileID: file.fileID, sender: "alice", index: 1, data: [1]) } throws: {
                        Self.isIO($0)
                    }
                }
                #expect(log.recoveries == 0)
                #expect(try await store.chunk(fileID: file.fileID, index: 0) == [0])
                #expect(try await store.file(file.fileID)?.storedChunks == 1)
                faults.clear()
                guard case .stored = try await store.putChunk(fileID: file.fileID, sender: "alice", index: 1, data: [1]) else {
                    Issue.record("the chunk was not stored once the disk worked")
                    return
                }
                #expect(log.recoveries == 1)
                #expect(try await store.file(file.fileID)?.storedChunks == 2)
            }
        }
    }

    // MARK: - Helpers

    /// What the store reports: syncs, failures, recoveries; can hold the writer in a sync.
    final class Log: Sendable {
        private struct State {
            var syncs = 0
            var failures = 0
            var recoveries = 0
            var holdNext = false
            var released = false
        }

        private let state = Locked(State())
        private let condition = NSCondition()

        var syncs: Int { state.withLock { $0.syncs } }
        var failures: Int { state.withLock { $0.failures } }
        var recoveries: Int { state.withLock { $0.recoveries } }

        /// Makes the writer wait at the start of its next sync until `releaseSync()`.
        func holdNextSync() {
            state.withLock { $0.holdNext = true }
        }

        /// Lets a held sync (now or later) go on.
        func releaseSync() {
            condition.lock()
            state.withLock { $0.released = true }
            condition.broadcast()
            condition.unlock()
        }

        func record(_ event: GDBMFileStore.Event) {
            switch event {
            case .syncing:
                let hold = state.withLock { state in
                    defer { state.holdNext = false }
                    return state.holdNext
                }
                guard hold else { return }
                condition.lock()
                while !state.withLock({ $0.released }) {
                    condition.wait()
                }
                condition.unlock()
            case .synced:
                state.withLock { $0.syncs += 1 }
            case .failed:
                state.withLock { $0.failures += 1 }
            case .recovered:
                state.withLock { $0.recoveries += 1 }
            case .recoveryFailed:
                break
            }
        }
    }

    /// Opens a store on the data directory in `parent`, runs `body`, closes it.
    private static func withStore(
        _ parent: String, log: Log? = nil, faults: GDBMFaults? = nil, _ body: (GDBMFileStore) async throws -> Void
    ) async throws {
        let directory = try await StorageTestSupport.reopen(parent + "/data")
        let store = try GDBMFileStore(directory: directory, observer: log.map { $0.record }, faults: faults)
        try await StorageTestSupport.closing(store, close: { await $0.close() }, body)
        directory.release()
    }

    /// Changes the closed file at `path` directly, as damage or a crash would leave it.
    private static func edit(_ path: String, _ change: (GDBMFile) throws -> Void) throws {
        let raw = try GDBMFile(path: path)
        try change(raw)
        try raw.sync()
        try raw.close()
    }

    /// Expects opening the store in `parent` to fail as corrupt, naming `path` and `what`.
    private static func expectCorrupt(_ parent: String, path: String, naming what: String) async throws {
        // Reopened as `reopen` does: a child another test is spawning may share the lock
        // this process has just released, until its exec.
        let directory = try await StorageTestSupport.reopen(parent + "/data")
        #expect {
            try GDBMFileStore(directory: directory)
        } throws: { error in
            guard case StorageError.corrupt(let text) = error else { return false }
            return text.contains(path) && text.contains(what)
        }
        directory.release()
    }

    /// Indices of the chunk records of `fileID` in the closed file at `path` (0 to 9).
    private static func chunkIndices(_ path: String, of fileID: String) throws -> [Int] {
        let raw = try GDBMFile(path: path)
        defer { try? raw.close() }
        return try (0..<10).filter { try raw.fetch(key: GDBMFileStore.chunkKey(fileID, index: $0)) != nil }
    }

    private static func isIO(_ error: any Error) -> Bool {
        if case StorageError.io = error { return true }
        return false
    }
}

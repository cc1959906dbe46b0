import Foundation
import Testing
import TestSupport

@testable import Server

/// The same contract checked against every `FileStore` backend (`StoreKind`), so the
/// in-memory twin used by unit tests cannot drift from the real stores.
@Suite("FileStore parity")
struct FileStoreTests {
    static func file(
        _ id: Int, from: String = "alice", to: String = "bob", size: Int = 100_000, createdAt: Int64 = 1_000
    ) -> HeldFile {
        HeldFile(
            fileID: String(format: "%032x", id), from: from, to: to, size: size,
            chunkCount: FileRules.chunkCount(forSize: size), createdAtMilliseconds: createdAt)
    }

    static func chunk(_ index: Int, of id: Int) -> [UInt8] {
        Array("chunk \(index) of \(id) ".utf8) + [UInt8](repeating: UInt8(65 + index % 26), count: 1_000 + index)
    }

    @Test("an upload in order: each chunk stored once, read back, the record counting them", arguments: StoreKind.allCases)
    func uploadInOrder(kind: StoreKind) async throws {
        try await kind.withFileStore { store throws in
            let file = Self.file(1)
            #expect(file.chunkCount == 4)
            #expect(try await store.begin(file, limits: FileLimits()) == .held(file))
            for index in 0..<4 {
                guard case .stored(let record) = try await store.putChunk(
                    fileID: file.fileID, sender: "alice", index: index, data: Self.chunk(index, of: 1))
                else {
                    Issue.record("chunk \(index) not stored")
                    return
                }
                #expect(record.storedChunks == index + 1)
            }
            let stored = try #require(try await store.file(file.fileID))
            #expect(stored.isComplete && stored.isHeld)
            for index in 0..<4 {
                #expect(try await store.chunk(fileID: file.fileID, index: index) == Self.chunk(index, of: 1))
            }
            #expect(try await store.chunk(fileID: file.fileID, index: 4) == nil)
            #expect(try await store.files(to: "bob") == [stored])
            #expect(try await store.files(to: "alice") == [])
            #expect(try await store.usage() == ["bob": 100_000])
        }
    }

    @Test("chunks started in order without waiting for each other's answers are all stored, in order", arguments: StoreKind.allCases)
    func pipelinedChunks(kind: StoreKind) async throws {
        try await kind.withFileStore { store throws in
            let file = Self.file(17, size: 20 * FileRules.chunkBytes)
            _ = try await store.begin(file, limits: FileLimits())
            // Each put queued before the next starts, as a session sends an uploader's chunks.
            let puts = (0..<file.chunkCount).map { index in
                Task.immediate { try await store.putChunk(fileID: file.fileID, sender: "alice", index: index, data: Self.chunk(index, of: 17)) }
            }
            for (index, put) in puts.enumerated() {
                guard case .stored = try await put.value else {
                    Issue.record("chunk \(index) was not stored: \(try await put.value)")
                    continue
                }
            }
            #expect(try await store.file(file.fileID)?.isComplete == true)
            for index in 0..<file.chunkCount {
                #expect(try await store.chunk(fileID: file.fileID, index: index) == Self.chunk(index, of: 17))
            }
        }
    }

    @Test("chunks out of order, from another sender or for an unknown file are refused; a repeat is a duplicate", arguments: StoreKind.allCases)
    func chunkOrder(kind: StoreKind) async throws {
        try await kind.withFileStore { store throws in
            let file = Self.file(2)
            _ = try await store.begin(file, limits: FileLimits())
            let id = file.fileID
            #expect(try await store.putChunk(fileID: id, sender: "alice", index: 1, data: [1]) == .outOfOrder(expected: 0))
            #expect(try await store.putChunk(fileID: id, sender: "mallory", index: 0, data: [1]) == .unknownFile)
            #expect(try await store.putChunk(fileID: String(format: "%032x", 99), sender: "alice", index: 0, data: [1]) == .unknownFile)
            guard case .stored = try await store.putChunk(fileID: id, sender: "alice", index: 0, data: [7]) else {
                Issue.record("chunk 0 not stored")
                return
            }
            guard case .duplicate(let record) = try await store.putChunk(fileID: id, sender: "alice", index: 0, data: [8]) else {
                Issue.record("chunk 0 again is not a duplicate")
                return
            }
            #expect(record.storedChunks == 1)
            #expect(try await store.chunk(fileID: id, index: 0) == [7])
            for index in 1..<4 { _ = try await store.putChunk(fileID: id, sender: "alice", index: index, data: [UInt8(index)]) }
            #expect(try await store.putChunk(fileID: id, sender: "alice", index: 4, data: [4]) == .outOfOrder(expected: 4))
        }
    }

    @Test("the same upload again resumes where it was; the id for another file is a conflict", arguments: StoreKind.allCases)
    func resume(kind: StoreKind) async throws {
        try await kind.withFileStore { store throws in
            let file = Self.file(3)
            _ = try await store.begin(file, limits: FileLimits())
            _ = try await store.putChunk(fileID: file.fileID, sender: "alice", index: 0, data: [1])
            _ = try await store.putChunk(fileID: file.fileID, sender: "alice", index: 1, data: [2])
            guard case .held(let resumed) = try await store.begin(Self.file(3, createdAt: 5_000), limits: FileLimits()) else {
                Issue.record("a resumed upload was refused")
                return
            }
            #expect(resumed.storedChunks == 2 && resumed.createdAtMilliseconds == 1_000)
            for other in [Self.file(3, from: "carol"), Self.file(3, to: "carol"), Self.file(3, size: 99)] {
                guard case .refused(.conflict) = try await store.begin(other, limits: FileLimits()) else {
                    Issue.record("\(other) was not a conflict")
                    continue
                }
            }
        }
    }

    @Test("caps: the per-file limit and the recipient's held bytes; what is done with frees its room", arguments: StoreKind.allCases)
    func caps(kind: StoreKind) async throws {
        try await kind.withFileStore { store throws in
            let limits = FileLimits(maximumFileBytes: 300_000, maximumHeldBytes: 500_000)
            guard case .refused(.tooLarge) = try await store.begin(Self.file(10, size: 300_001), limits: limits) else {
                Issue.record("a file past the per-file limit was held")
                return
            }
            #expect(try await store.begin(Self.file(11, size: 300_000), limits: limits) == .held(Self.file(11, size: 300_000)))
            #expect(try await store.begin(Self.file(12, size: 200_000), limits: limits) == .held(Self.file(12, size: 200_000)))
            guard case .refused(.full(let reason)) = try await store.begin(Self.file(13, size: 1), limits: limits) else {
                Issue.record("a file past the recipient's cap was held")
                return
            }
            #expect(reason.contains("bob"))
            // Another recipient has room of their own.
            guard case .held = try await store.begin(Self.file(14, to: "carol", size: 300_000), limits: limits) else {
                Issue.record("carol's first file was refused")
                return
            }
            #expect(try await store.finish(fileID: Self.file(11).fileID, outcome: .rejected)?.outcome == .rejected)
            guard case .held = try await store.begin(Self.file(13, size: 300_000), limits: limits) else {
                Issue.record("room freed by a rejected file was not reused")
                return
            }
            #expect(try await store.usage() == ["bob": 500_000, "carol": 300_000])
        }
    }

    @Test("a resumed upload is held whatever the caps say now", arguments: StoreKind.allCases)
    func resumeIgnoresCaps(kind: StoreKind) async throws {
        try await kind.withFileStore { store throws in
            let file = Self.file(15, size: 300_000)
            _ = try await store.begin(file, limits: FileLimits(maximumFileBytes: 300_000, maximumHeldBytes: 300_000))
            _ = try await store.putChunk(fileID: file.fileID, sender: "alice", index: 0, data: [1])
            let tighter = FileLimits(maximumFileBytes: 1_000, maximumHeldBytes: 1_000)
            guard case .held(let resumed) = try await store.begin(file, limits: tighter) else {
                Issue.record("a resumed upload was refused under tighter caps")
                return
            }
            #expect(resumed.storedChunks == 1)
            guard case .refused(.tooLarge) = try await store.begin(Self.file(16, size: 300_000), limits: tighter) else {
                Issue.record("a new file past the tighter limit was held")
                return
            }
        }
    }

    @Test("lists are oldest first, ties by id; usage leaves out whoever holds nothing", arguments: StoreKind.allCases)
    func listOrder(kind: StoreKind) async throws {
        try await kind.withFileStore { store throws in
            // Begun out of order: 33 and 31 share a time, so their ids decide.
            for (id, created) in [(33, 2_000), (30, 3_000), (31, 2_000), (32, 1_000)] {
                _ = try await store.begin(Self.file(id, size: 10, createdAt: Int64(created)), limits: FileLimits())
            }
            let order = [32, 31, 33, 30].map { Self.file($0).fileID }
            #expect(try await store.files(to: "bob").map(\.fileID) == order)
            for id in [30, 33, 31, 32] {
                _ = try await store.finish(fileID: Self.file(id).fileID, outcome: .delivered)
            }
            #expect(try await store.outcomes(for: "alice").map(\.fileID) == order)
            #expect(try await store.files(to: "bob") == [])
            #expect(try await store.usage() == [:])
        }
    }

    @Test("a file's record and chunks survive closing and reopening the backend", arguments: [StoreKind.gdbm, .postgres])
    func survivesReopen(kind: StoreKind) async throws {
        let (location, cleanUp) = try await kind.durableLocation()
        defer { cleanUp() }
        let upload = Self.file(40)
        let ended = Self.file(41, size: 10)
        let forgotten = Self.file(42, size: 10)
        let first = try await StoreFixture.openRetrying(location)
        try await StorageTestSupport.closing(first, close: { await $0.close() }) { stores throws in
            let files = stores.files
            for file in [upload, ended, forgotten] {
                _ = try await files.begin(file, limits: FileLimits())
            }
            for index in 0..<3 {
                _ = try await files.putChunk(fileID: upload.fileID, sender: "alice", index: index, data: Self.chunk(index, of: 40))
            }
            _ = try await files.putChunk(fileID: ended.fileID, sender: "alice", index: 0, data: [9])
            _ = try await files.finish(fileID: ended.fileID, outcome: .rejected)
            _ = try await files.finish(fileID: forgotten.fileID, outcome: .delivered)
            #expect(try await files.forget(fileID: forgotten.fileID, sender: "alice"))
        }
        let second = try await StoreFixture.openRetrying(location)
        try await StorageTestSupport.closing(second, close: { await $0.close() }) { stores throws in
            let files = stores.files
            var expected = upload
            expected.storedChunks = 3
            #expect(try await files.file(upload.fileID) == expected)
            for index in 0..<3 {
                #expect(try await files.chunk(fileID: upload.fileID, index: index) == Self.chunk(index, of: 40))
            }
            #expect(try await files.chunk(fileID: upload.fileID, index: 3) == nil)
            #expect(try await files.files(to: "bob") == [expected])
            #expect(try await files.usage() == ["bob": 100_000])
            var rejected = ended
            rejected.storedChunks = 1
            rejected.outcome = .rejected
            #expect(try await files.outcomes(for: "alice") == [rejected])
            #expect(try await files.chunk(fileID: ended.fileID, index: 0) == nil)
            #expect(try await files.file(forgotten.fileID) == nil)
            // The upload resumes where it stopped, and completes.
            #expect(try await files.begin(upload, limits: FileLimits()) == .held(expected))
            guard case .stored(let complete) = try await files.putChunk(
                fileID: upload.fileID, sender: "alice", index: 3, data: Self.chunk(3, of: 40))
            else {
                Issue.record("the resumed upload's last chunk was not stored")
                return
            }
            #expect(complete.isComplete)
        }
        let third = try await StoreFixture.openRetrying(location)
        try await StorageTestSupport.closing(third, close: { await $0.close() }) { stores throws in
            #expect(try await stores.files.file(upload.fileID)?.isComplete == true)
            #expect(try await stores.files.chunk(fileID: upload.fileID, index: 3) == Self.chunk(3, of: 40))
        }
    }

    @Test("20 concurrent uploads to one recipient never overshoot the cap", arguments: StoreKind.allCases)
    func concurrentCaps(kind: StoreKind) async throws {
        try await kind.withFileStore { store throws in
            let limits = FileLimits(maximumFileBytes: 100_000, maximumHeldBytes: 350_000)
            let held = await withTaskGroup(of: Bool.self) { group in
                for id in 0..<20 {
                    group.addTask {
                        if case .held = try? await store.begin(Self.file(100 + id, from: "s\(id)", size: 100_000), limits: limits) {
                            return true
                        }
                        return false
                    }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(held == 3)
            #expect(try await store.usage() == ["bob": 300_000])
        }
    }

    @Test("finish deletes the chunks and keeps the outcome for the sender until forgotten; only the first finish wins", arguments: StoreKind.allCases)
    func outcomes(kind: StoreKind) async throws {
        try await kind.withFileStore { store throws in
            let file = Self.file(4, size: 10)
            _ = try await store.begin(file, limits: FileLimits())
            _ = try await store.putChunk(fileID: file.fileID, sender: "alice", index: 0, data: [1, 2, 3])
            let finished = try #require(try await store.finish(fileID: file.fileID, outcome: .delivered))
            #expect(finished.outcome == .delivered && finished.storedChunks == 1)
            #expect(try await store.finish(fileID: file.fileID, outcome: .rejected) == nil)
            #expect(try await store.chunk(fileID: file.fileID, index: 0) == nil)
            #expect(try await store.files(to: "bob") == [])
            #expect(try await store.outcomes(for: "alice") == [finished])
            #expect(try await store.outcomes(for: "bob") == [])
            #expect(try await store.putChunk(fileID: file.fileID, sender: "alice", index: 1, data: [1]) == .unknownFile)
            guard case .refused(.conflict) = try await store.begin(file, limits: FileLimits()) else {
                Issue.record("a finished file's id was reused")
                return
            }
            #expect(try await store.forget(fileID: file.fileID, sender: "bob") == false)
            #expect(try await store.forget(fileID: file.fileID, sender: "alice"))
            #expect(try await store.outcomes(for: "alice") == [])
            #expect(try await store.file(file.fileID) == nil)
            // A held file cannot be forgotten: it has no outcome to acknowledge.
            let held = Self.file(5, size: 10)
            _ = try await store.begin(held, limits: FileLimits())
            #expect(try await store.forget(fileID: held.fileID, sender: "alice") == false)
        }
    }

    @Test("expire ends files created before the cutoff, complete or not, and leaves the rest", arguments: StoreKind.allCases)
    func expire(kind: StoreKind) async throws {
        try await kind.withFileStore { store throws in
            let old = Self.file(6, size: 10, createdAt: 1_000)
            let young = Self.file(7, size: 10, createdAt: 9_000)
            _ = try await store.begin(old, limits: FileLimits())
            _ = try await store.begin(young, limits: FileLimits())
            _ = try await store.putChunk(fileID: old.fileID, sender: "alice", index: 0, data: [1])
            let expired = try await store.expire(before: Date(timeIntervalSince1970: 5))
            #expect(expired.map(\.fileID) == [old.fileID])
            #expect(expired.first?.outcome == .expired)
            #expect(try await store.chunk(fileID: old.fileID, index: 0) == nil)
            #expect(try await store.files(to: "bob").map(\.fileID) == [young.fileID])
            #expect(try await store.outcomes(for: "alice").map(\.fileID) == [old.fileID])
            #expect(try await store.expire(before: Date(timeIntervalSince1970: 5)) == [])
        }
    }

    @Test("removeAll deletes files to and from a user, held or done with", arguments: StoreKind.allCases)
    func removeAll(kind: StoreKind) async throws {
        try await kind.withFileStore { store throws in
            _ = try await store.begin(Self.file(20, from: "alice", to: "bob", size: 10), limits: FileLimits())
            _ = try await store.begin(Self.file(21, from: "bob", to: "carol", size: 10), limits: FileLimits())
            _ = try await store.begin(Self.file(22, from: "carol", to: "alice", size: 10), limits: FileLimits())
            _ = try await store.finish(fileID: Self.file(21).fileID, outcome: .rejected)
            #expect(try await store.removeAll(username: "bob") == 2)
            #expect(try await store.file(Self.file(20).fileID) == nil)
            #expect(try await store.outcomes(for: "bob") == [])
            #expect(try await store.files(to: "alice").map(\.fileID) == [Self.file(22).fileID])
        }
    }

    @Test("every call after close throws; close is idempotent", arguments: StoreKind.allCases)
    func closed(kind: StoreKind) async throws {
        let fixture = try await StoreFixture.open(kind)
        let store = fixture.stores.files
        await store.close()
        await store.close()
        await #expect(throws: StorageError.self) { try await store.file(Self.file(1).fileID) }
        await #expect(throws: StorageError.self) { try await store.begin(Self.file(1), limits: FileLimits()) }
        await fixture.tearDown()
    }
}

@Suite("FileRules")
struct FileRulesTests {
    @Test("ids are 32 lower-case hex digits")
    func ids() {
        #expect(FileRules.isValidID(String(repeating: "a1", count: 16)))
        #expect(!FileRules.isValidID(String(repeating: "A1", count: 16)))
        #expect(!FileRules.isValidID(String(repeating: "a", count: 31)))
        #expect(!FileRules.isValidID("../../etc/passwd" + String(repeating: "a", count: 16)))
    }

    @Test("chunk counts and the longest chunk text")
    func chunks() {
        #expect(FileRules.chunkCount(forSize: 0) == 1)
        #expect(FileRules.chunkCount(forSize: 32_768) == 1)
        #expect(FileRules.chunkCount(forSize: 32_769) == 2)
        #expect(FileRules.chunkCount(forSize: 10 << 20) == 320)
        #expect(FileRules.maximumChunkTextBytes == 43_728)
    }
}

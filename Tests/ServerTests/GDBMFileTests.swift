import Foundation
import Testing
import TestSupport

@testable import Server

@Suite("GDBMFile")
struct GDBMFileTests {
    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test("store, fetch and delete round-trip bytes")
    func storeFetchDelete() throws {
        try StorageTestSupport.withTemporaryDirectory { directory in
            let file = try GDBMFile(path: directory + "/test.gdbm")
            #expect(try file.fetch(key: bytes("alice")) == nil)

            #expect(try file.store(key: bytes("alice"), value: [0, 1, 2, 255], replace: false))
            #expect(try file.fetch(key: bytes("alice")) == [0, 1, 2, 255])

            #expect(try file.store(key: bytes("alice"), value: bytes("new"), replace: true))
            #expect(try file.fetch(key: bytes("alice")) == bytes("new"))

            #expect(try file.delete(key: bytes("alice")))
            #expect(try file.fetch(key: bytes("alice")) == nil)
            #expect(try file.delete(key: bytes("alice")) == false)
            try file.close()
        }
    }

    @Test("store with replace: false refuses an existing key and keeps the old value")
    func insertRefusesExistingKey() throws {
        try StorageTestSupport.withTemporaryDirectory { directory in
            let file = try GDBMFile(path: directory + "/test.gdbm")
            #expect(try file.store(key: bytes("k"), value: bytes("first"), replace: false))
            #expect(try file.store(key: bytes("k"), value: bytes("second"), replace: false) == false)
            #expect(try file.fetch(key: bytes("k")) == bytes("first"))
        }
    }

    @Test("empty values and an empty key are stored, not rejected as malformed")
    func emptyValue() throws {
        try StorageTestSupport.withTemporaryDirectory { directory in
            let file = try GDBMFile(path: directory + "/test.gdbm")
            #expect(try file.store(key: bytes("empty"), value: [], replace: false))
            #expect(try file.fetch(key: bytes("empty")) == [])
            #expect(try file.store(key: [], value: bytes("under the empty key"), replace: false))
            #expect(try file.fetch(key: []) == bytes("under the empty key"))
        }
    }

    @Test("iteration visits every key exactly once")
    func iterate() throws {
        try StorageTestSupport.withTemporaryDirectory { directory in
            let file = try GDBMFile(path: directory + "/test.gdbm")
            #expect(try file.keys().isEmpty)
            let expected = Set((0..<500).map { bytes("key-\($0)") })
            for key in expected {
                try file.store(key: key, value: key, replace: false)
            }
            try file.sync()
            let keys = try file.keys()
            #expect(keys.count == expected.count)
            #expect(Set(keys) == expected)
        }
    }

    @Test("values survive close and reopen")
    func reopen() throws {
        try StorageTestSupport.withTemporaryDirectory { directory in
            let path = directory + "/test.gdbm"
            do {
                let file = try GDBMFile(path: path)
                try file.store(key: bytes("k"), value: bytes("v"), replace: false)
                try file.sync()
                try file.close()
                try file.close()  // idempotent
            }
            let file = try GDBMFile(path: path)
            #expect(try file.fetch(key: bytes("k")) == bytes("v"))
        }
    }

    @Test("the file is created 0600, and an existing looser file is tightened to 0600")
    func fileMode() throws {
        try StorageTestSupport.withTemporaryDirectory { directory in
            let path = directory + "/test.gdbm"
            try GDBMFile(path: path).close()
            #expect(try StorageTestSupport.permissions(of: path) == 0o600)

            #expect(chmod(path, 0o644) == 0)
            try GDBMFile(path: path).close()
            #expect(try StorageTestSupport.permissions(of: path) == 0o600)
        }
    }

    @Test("use after close throws closed")
    func useAfterClose() throws {
        try StorageTestSupport.withTemporaryDirectory { directory in
            let path = directory + "/test.gdbm"
            let file = try GDBMFile(path: path)
            try file.close()
            #expect(throws: StorageError.closed(path)) { try file.fetch(key: [1]) }
            #expect(throws: StorageError.closed(path)) { try file.store(key: [1], value: [], replace: true) }
            #expect(throws: StorageError.closed(path)) { try file.sync() }
        }
    }

    @Test("a second writer on the same file gets alreadyInUse for its directory")
    func secondWriter() throws {
        try StorageTestSupport.withTemporaryDirectory { directory in
            let path = directory + "/test.gdbm"
            let first = try GDBMFile(path: path)
            #expect(throws: StorageError.alreadyInUse(path: directory)) { try GDBMFile(path: path) }
            try first.close()
            try GDBMFile(path: path).close()  // free again once the first is closed
        }
    }

    @Test("a file that is not a GDBM database is reported as corrupt")
    func notADatabase() throws {
        try StorageTestSupport.withTemporaryDirectory { directory in
            let path = directory + "/garbage.gdbm"
            try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
            #expect {
                try GDBMFile(path: path)
            } throws: { error in
                guard case StorageError.corrupt(let text) = error else { return false }
                return text.hasPrefix("\(path) is corrupt: ")
            }
        }
    }

    @Test("a path in a missing directory is an I/O error naming the path and the system's reason")
    func missingDirectory() throws {
        try StorageTestSupport.withTemporaryDirectory { directory in
            let path = directory + "/missing/test.gdbm"
            #expect {
                try GDBMFile(path: path)
            } throws: { error in
                guard case StorageError.io(let text) = error else { return false }
                return text.hasPrefix("I/O error on \(path): ") && text.contains("No such file or directory")
            }
        }
    }

    @Test("a write to a full disk is reported as full, naming the file")
    func fullDisk() throws {
        let disk: TmpfsMount
        do {
            disk = try TmpfsMount(bytes: 256 << 10)
        } catch {
            try Test.cancel("needs a tmpfs it can fill: \(error)")
        }
        defer { disk.unmount() }
        let path = disk.path + "/test.gdbm"
        let file = try GDBMFile(path: path)
        defer { try? file.close() }
        try disk.fill()
        let value = [UInt8](repeating: 0x41, count: 16 << 10)
        #expect {
            for number in 0..<64 {
                try file.store(key: Array("key \(number)".utf8), value: value, replace: true)
            }
            try file.sync()
        } throws: { error in
            guard case StorageError.full(let text) = error else { return false }
            return text.hasPrefix("no space left for \(path): ") && text.contains("No space left on device")
        }
    }

    @Test("an injected failure fails the armed call, then the handle refuses every call until reopened")
    func injectedFailures() throws {
        try StorageTestSupport.withTemporaryDirectory { directory in
            let faults = GDBMFaults()
            let path = directory + "/test.gdbm"
            let file = try GDBMFile(path: path, faults: faults)
            try file.store(key: bytes("before"), value: bytes("1"), replace: false)
            faults.failNext(.store)
            #expect { try file.store(key: bytes("failing"), value: bytes("2"), replace: false) } throws: { error in
                guard case StorageError.io(let text) = error else { return false }
                return text.contains("injected")
            }
            // Like GDBM after a real write error: reads refuse too, sync as well.
            #expect(throws: StorageError.self) { try file.fetch(key: self.bytes("before")) }
            #expect(throws: StorageError.self) { try file.sync() }
            try file.close()

            // Another instance without the seam is untouched; one with it works again
            // once nothing is armed, and the failed store never reached the file.
            let reopened = try GDBMFile(path: path, faults: faults)
            #expect(try reopened.fetch(key: bytes("before")) == bytes("1"))
            #expect(try reopened.fetch(key: bytes("failing")) == nil)
            faults.failNext(.sync, times: 2)
            #expect(throws: StorageError.self) { try reopened.sync() }
            try reopened.close()
            #expect(throws: StorageError.self) { try GDBMFile(path: path, faults: faults).sync() }
            #expect(faults.injectedCount(.sync) == 2)
            faults.failNext(.open)
            #expect(throws: StorageError.self) { try GDBMFile(path: path, faults: faults) }
            let healthy = try GDBMFile(path: path, faults: faults)
            try healthy.delete(key: bytes("before"))
            try healthy.sync()
            try healthy.close()
        }
    }
}

import Foundation
import Testing

@testable import Server

@Suite("GDBMInboxStore")
struct GDBMInboxStoreTests {
    @Test("messages, their order and counts survive closing and reopening")
    func survivesReopen() throws {
        try StorageTestSupport.withTemporaryDirectory { parent in
            let path = parent + "/data"
            let limits = InboxLimits(maximumMessages: 3)
            let sent = [
                StoredMessage.test(from: "alice", to: "bob", body: "one", at: 2_000),
                StoredMessage.test(from: "carol", to: "bob", body: "two", at: 1_000),
                StoredMessage.test(from: "alice", to: "bob", body: "three", at: 3_000),
                StoredMessage.test(from: "bob", to: "alice", body: "hi alice"),
            ]
            do {
                let directory = try DataDirectory(path: path)
                let store = try GDBMInboxStore(directory: directory, limits: limits)
                for message in sent {
                    #expect(try store.append(message) == .stored)
                }
                store.close()
                directory.release()
            }

            let directory = try DataDirectory(path: path)
            let store = try GDBMInboxStore(directory: directory, limits: limits)
            defer { store.close() }
            #expect(store.notes.isEmpty)
            #expect(try store.messages(for: "bob", from: nil) == [sent[0], sent[1], sent[2]])
            #expect(try store.messages(for: "bob", from: "alice") == [sent[0], sent[2]])
            #expect(try store.messages(for: "alice", from: nil) == [sent[3]])
            #expect(try store.counts(for: "bob") == ["alice": 2, "carol": 1])
            // The caps hold across the reopen: the mirror was rebuilt from the file.
            #expect(try store.append(StoredMessage.test(from: "dave", to: "bob")) == .full(
                "bob's inbox is full (3 messages)"
            ))
            #expect(try StorageTestSupport.permissions(of: path + "/inbox.gdbm") == 0o600)
        }
    }

    @Test("the mirror built at open agrees with the index records and the message records")
    func mirrorAgreesWithFile() throws {
        try StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let snapshot: [String: InboxIndex]
            do {
                let store = try GDBMInboxStore(directory: directory)
                var sent: [StoredMessage] = []
                for index in 0..<30 {
                    let message = StoredMessage.test(
                        from: ["alice", "carol", "dave"][index % 3],
                        to: ["bob", "erin"][index % 2],
                        body: String(repeating: "x", count: index),
                        at: Int64(index) * 1_000
                    )
                    #expect(try store.append(message) == .stored)
                    sent.append(message)
                }
                #expect(try store.remove(recipient: "bob", id: sent[4].id))
                #expect(try store.expire(recipient: "erin", before: Date(timeIntervalSince1970: 10)) == 5)
                #expect(try store.append(StoredMessage.test(from: "alice", to: "frank")) == .stored)
                #expect(try store.remove(recipient: "frank", id: try #require(store.messages(for: "frank", from: nil).first).id))
                snapshot = try store.indexSnapshot()
                #expect(snapshot["frank"] == nil)
                #expect(snapshot["bob"]?.entries.count == 14)
                #expect(snapshot["erin"]?.entries.count == 10)
                store.close()
            }

            // Read the file raw, the way the store's open does.
            let path = directory.path(for: GDBMInboxStore.fileName)
            do {
                let file = try GDBMFile(path: path)
                defer { try? file.close() }
                var fromFile: [String: InboxIndex] = [:]
                var messageKeys = Set<[UInt8]>()
                for key in try file.keys() {
                    if key.starts(with: GDBMInboxStore.indexPrefix) {
                        let recipient = String(decoding: key.dropFirst(2), as: UTF8.self)
                        let value = try #require(try file.fetch(key: key))
                        fromFile[recipient] = try GDBMInboxStore.decodeIndex(value, key: key, path: path)
                    } else {
                        messageKeys.insert(key)
                    }
                }
                #expect(fromFile == snapshot)
                let listed = fromFile.flatMap { recipient, index in
                    index.entries.map { GDBMInboxStore.messageKey(recipient: recipient, id: $0.id) }
                }
                #expect(Set(listed) == messageKeys)
                #expect(listed.count == messageKeys.count)
                for key in messageKeys {
                    let message = try GDBMInboxStore.decodeMessage(
                        try #require(try file.fetch(key: key)), key: key, path: path
                    )
                    let entry = try #require(fromFile[message.to]?.entries.first { $0.id == message.id })
                    #expect(entry == InboxIndex.Entry(message))
                }
            }

            let store = try GDBMInboxStore(directory: directory)
            defer { store.close() }
            #expect(store.notes.isEmpty)
            #expect(try store.indexSnapshot() == snapshot)
        }
    }

    @Test("a message record without an index entry is indexed at open, after the listed ones")
    func unindexedMessageIsIndexed() throws {
        try StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let path = directory.path(for: GDBMInboxStore.fileName)
            let listed = StoredMessage.test(from: "alice", to: "bob", body: "listed", at: 5_000)
            do {
                let store = try GDBMInboxStore(directory: directory)
                #expect(try store.append(listed) == .stored)
                store.close()
            }
            // What a crash between the message store and the index store leaves behind.
            let olderOrphan = StoredMessage.test(from: "carol", to: "bob", body: "orphan 1", at: 1_000)
            let newerOrphan = StoredMessage.test(from: "alice", to: "bob", body: "orphan 2", at: 2_000)
            let carolsOrphan = StoredMessage.test(from: "bob", to: "carol", body: "no index at all")
            do {
                let file = try GDBMFile(path: path)
                for message in [newerOrphan, olderOrphan, carolsOrphan] {
                    try file.store(
                        key: GDBMInboxStore.messageKey(recipient: message.to, id: message.id),
                        value: try GDBMInboxStore.encodeMessage(message, path: path),
                        replace: false
                    )
                }
                try file.close()
            }

            do {
                let store = try GDBMInboxStore(directory: directory)
                #expect(store.notes.count == 2)
                #expect(store.notes.contains { $0.contains("indexed 2 messages for bob") })
                #expect(store.notes.contains { $0.contains("indexed 1 message for carol") })
                #expect(try store.messages(for: "bob", from: nil) == [listed, olderOrphan, newerOrphan])
                #expect(try store.messages(for: "carol", from: nil) == [carolsOrphan])
                #expect(try store.counts(for: "bob") == ["alice": 2, "carol": 1])
                store.close()
            }
            // The repair was written: the next open has nothing to do.
            let store = try GDBMInboxStore(directory: directory)
            defer { store.close() }
            #expect(store.notes.isEmpty)
            #expect(try store.messages(for: "bob", from: nil) == [listed, olderOrphan, newerOrphan])
        }
    }

    @Test("an index entry without a message record is dropped at open")
    func danglingEntryIsDropped() throws {
        try StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let path = directory.path(for: GDBMInboxStore.fileName)
            let gone = StoredMessage.test(from: "alice", to: "bob", body: "gone")
            let kept = StoredMessage.test(from: "carol", to: "bob", body: "kept")
            let lonely = StoredMessage.test(from: "alice", to: "dave", body: "only one")
            do {
                let store = try GDBMInboxStore(directory: directory)
                for message in [gone, kept, lonely] {
                    #expect(try store.append(message) == .stored)
                }
                store.close()
            }
            // What a crash between a removal's record delete and its index rewrite leaves.
            do {
                let file = try GDBMFile(path: path)
                try file.delete(key: GDBMInboxStore.messageKey(recipient: "bob", id: gone.id))
                try file.delete(key: GDBMInboxStore.messageKey(recipient: "dave", id: lonely.id))
                try file.close()
            }

            do {
                let store = try GDBMInboxStore(directory: directory)
                #expect(store.notes.count == 2)
                #expect(store.notes.contains { $0.contains("dropped 1 index entry for bob") })
                #expect(try store.messages(for: "bob", from: nil) == [kept])
                #expect(try store.counts(for: "bob") == ["carol": 1])
                #expect(try store.counts(for: "dave") == [:])
                store.close()
            }
            do {
                let file = try GDBMFile(path: path)
                defer { try? file.close() }
                #expect(try file.fetch(key: GDBMInboxStore.indexKey(recipient: "dave")) == nil)
            }
            let store = try GDBMInboxStore(directory: directory)
            defer { store.close() }
            #expect(store.notes.isEmpty)
        }
    }

    @Test("an index record that cannot be decoded is reported as corrupt at open")
    func corruptIndex() throws {
        try StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let path = directory.path(for: GDBMInboxStore.fileName)
            do {
                let file = try GDBMFile(path: path)
                try file.store(key: GDBMInboxStore.indexKey(recipient: "bob"), value: [1, 2, 3], replace: false)
                try file.close()
            }
            #expect {
                try GDBMInboxStore(directory: directory)
            } throws: { error in
                guard case StorageError.corrupt(let errorPath, let message) = error else { return false }
                return errorPath == path && message.contains("i:bob")
            }
        }
    }

    @Test("concurrent appends from 8 threads: all stored, none lost, each sender's order kept")
    func concurrentAppends() throws {
        try StorageTestSupport.withTemporaryDirectory { parent in
            let path = parent + "/data"
            let threads = 8
            let perThread = 50
            do {
                let directory = try DataDirectory(path: path)
                let store = try GDBMInboxStore(directory: directory)
                let failures = Locked<[String]>([])
                InboxTestSupport.onThreads(threads) { thread in
                    for number in 0..<perThread {
                        let message = StoredMessage.test(from: "sender\(thread)", to: "bob", body: "\(number)")
                        do {
                            let result = try store.append(message)
                            if result != .stored {
                                failures.withLock { $0.append("\(message.body): \(result)") }
                            }
                        } catch {
                            failures.withLock { $0.append("\(message.body): \(error)") }
                        }
                    }
                }
                #expect(failures.withLock { $0 } == [])
                try Self.expectAllStored(store, threads: threads, perThread: perThread)
                store.close()
                directory.release()
            }
            let directory = try DataDirectory(path: path)
            let store = try GDBMInboxStore(directory: directory)
            defer { store.close() }
            #expect(store.notes.isEmpty)
            try Self.expectAllStored(store, threads: threads, perThread: perThread)
        }
    }

    @Test("one thread: every append syncs before it returns; removals and expiry do not sync")
    func everyAppendSyncedAlone() throws {
        try StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let log = SyncLog()
            let store = try GDBMInboxStore(directory: directory, observer: log.record)
            var sent: [StoredMessage] = []
            for number in 0..<20 {
                let message = StoredMessage.test(from: "alice", to: "bob", body: "\(number)", at: Int64(number))
                #expect(try store.append(message) == .stored)
                #expect(log.isSynced(message.id))
                sent.append(message)
            }
            #expect(log.counts.withLock { $0.syncs } == 20)
            #expect(try store.remove(recipient: "bob", id: sent[0].id))
            #expect(try store.expire(recipient: "bob", before: Date(timeIntervalSince1970: 0.005)) == 4)
            #expect(log.counts.withLock { $0.syncs } == 20)
            // A refused append writes nothing and so syncs nothing.
            let fullLog = SyncLog()
            let full = try GDBMInboxStore(
                directory: DataDirectory(path: parent + "/full"),
                limits: InboxLimits(maximumMessages: 0),
                observer: fullLog.record
            )
            #expect(try full.append(StoredMessage.test(from: "alice", to: "bob")) != .stored)
            #expect(fullLog.counts.withLock { $0.syncs } == 0)
            full.close()
            // Closing syncs once more, covering the removals.
            store.close()
            #expect(log.counts.withLock { $0.syncs } == 21)
        }
    }

    @Test("8 threads on a slow disk: no append returns unsynced, and appends share syncs")
    func groupCommit() throws {
        try StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            // A 2 ms sync, as on a slow disk, so writers pile up behind each one.
            let log = SyncLog(syncDelayMicroseconds: 2_000)
            let store = try GDBMInboxStore(directory: directory, observer: log.record)
            defer { store.close() }
            let threads = 8
            let perThread = 25
            let unsynced = Locked(0)
            let errors = Locked<[String]>([])
            InboxTestSupport.onThreads(threads) { thread in
                for number in 0..<perThread {
                    let message = StoredMessage.test(from: "sender\(thread)", to: "bob", body: "\(number)")
                    do {
                        _ = try store.append(message)
                        // Checked the moment append returns: a sync covering it has completed.
                        if !log.isSynced(message.id) {
                            unsynced.withLock { $0 += 1 }
                        }
                    } catch {
                        errors.withLock { $0.append("\(error)") }
                    }
                }
            }
            #expect(errors.withLock { $0 } == [])
            #expect(unsynced.withLock { $0 } == 0)
            let counts = log.counts.withLock { $0 }
            #expect(counts.stores == threads * perThread)
            #expect(counts.syncs < counts.stores)
            try Self.expectAllStored(store, threads: threads, perThread: perThread)
        }
    }

    @Test("a failed write: append throws, the mirror is unchanged, nothing is left in the file")
    func failedWrite() throws {
        try StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let path = directory.path(for: GDBMInboxStore.fileName)
            let kept = StoredMessage.test(from: "alice", to: "bob", body: "kept")
            let failing = StoredMessage.test(from: "carol", to: "bob", body: "failing")
            do {
                let store = try GDBMInboxStore(directory: directory)
                defer { store.close() }
                #expect(try store.append(kept) == .stored)
                // GDBM's descriptor made read-only for one call: its writes fail, as on a full disk.
                let swap = try #require(DescriptorSwap(file: path, with: open(path, O_RDONLY)))
                #expect { try store.append(failing) } throws: { Self.isIO($0) }
                swap.restore()
                #expect(try store.counts(for: "bob") == ["alice": 1])
                #expect(try store.indexSnapshot()["bob"]?.entries.map(\.id) == [kept.id])
            }
            let store = try GDBMInboxStore(directory: directory)
            defer { store.close() }
            #expect(try store.messages(for: "bob", from: nil) == [kept])
        }
    }

    @Test("a failed sync: append throws, the mirror is unchanged, the store goes on answering")
    func failedSync() throws {
        try StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let path = directory.path(for: GDBMInboxStore.fileName)
            let kept = StoredMessage.test(from: "alice", to: "bob", body: "kept")
            let failing = StoredMessage.test(from: "carol", to: "bob", body: "failing")
            do {
                let injector = SyncFailureInjector(file: path)
                let store = try GDBMInboxStore(directory: directory, observer: injector.record)
                defer { store.close() }
                #expect(try store.append(kept) == .stored)
                injector.failNextSync()
                #expect { try store.append(failing) } throws: { Self.isIO($0) }
                #expect(injector.failedSyncs.withLock { $0 } == 1)
                #expect(try store.counts(for: "bob") == ["alice": 1])
                #expect(try store.indexSnapshot()["bob"]?.entries.map(\.id) == [kept.id])
                // GDBM now wants the file reopened: calls throw instead of crashing.
                #expect { try store.append(StoredMessage.test(from: "dave", to: "bob")) } throws: { Self.isIO($0) }
            }
            // The acknowledged message survives; the failed one may too (it was written, only
            // its sync failed), which at-least-once delivery allows.
            let store = try GDBMInboxStore(directory: directory)
            defer { store.close() }
            let ids = try store.messages(for: "bob", from: nil).map(\.id)
            #expect(ids.first == kept.id)
            #expect(Set(ids).isSubset(of: [kept.id, failing.id]))
        }
    }

    /// Every sender's messages are in bob's inbox, in the order that sender appended them.
    private static func expectAllStored(_ store: GDBMInboxStore, threads: Int, perThread: Int) throws {
        let all = try store.messages(for: "bob", from: nil)
        #expect(all.count == threads * perThread)
        #expect(Set(all.map(\.id)).count == all.count)
        for thread in 0..<threads {
            let bodies = try store.messages(for: "bob", from: "sender\(thread)").map(\.body)
            #expect(bodies == (0..<perThread).map(String.init))
            #expect(all.filter { $0.from == "sender\(thread)" }.map(\.body) == bodies)
        }
        #expect(try store.counts(for: "bob") == Dictionary(
            uniqueKeysWithValues: (0..<threads).map { ("sender\($0)", perThread) }
        ))
    }

    private static func isIO(_ error: any Error) -> Bool {
        if case StorageError.io = error {
            return true
        }
        return false
    }
}

import Foundation
import Shared
import Testing

@testable import Server

@Suite("GDBMInboxStore")
struct GDBMInboxStoreTests {
    @Test("messages, their order and counts survive closing and reopening")
    func survivesReopen() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
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
                    #expect(try await store.append(message) == .stored)
                }
                await store.close()
                directory.release()
            }

            let directory = try await StorageTestSupport.reopen(path)
            let store = try GDBMInboxStore(directory: directory, limits: limits)
            #expect(try await store.messages(for: "bob", from: nil) == [sent[0], sent[1], sent[2]])
            #expect(try await store.messages(for: "bob", from: "alice") == [sent[0], sent[2]])
            #expect(try await store.messages(for: "alice", from: nil) == [sent[3]])
            #expect(try await store.counts(for: "bob") == ["alice": 2, "carol": 1])
            // The caps hold across the reopen: the mirror was rebuilt from the file.
            #expect(try await store.append(StoredMessage.test(from: "dave", to: "bob")) == .full(
                "bob's inbox is full (3 messages)"
            ))
            #expect(try StorageTestSupport.permissions(of: path + "/inbox.gdbm") == 0o600)
            await store.close()
        }
    }

    @Test("the mirror built at open agrees with the message records in the file")
    func mirrorAgreesWithFile() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
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
                    #expect(try await store.append(message) == .stored)
                    sent.append(message)
                }
                #expect(try await store.remove(recipient: "bob", id: sent[4].id))
                #expect(try await store.expire(recipient: "erin", before: Date(timeIntervalSince1970: 10)) == 5)
                #expect(try await store.append(StoredMessage.test(from: "alice", to: "frank")) == .stored)
                let franks = try #require(try await store.messages(for: "frank", from: nil).first)
                #expect(try await store.remove(recipient: "frank", id: franks.id))
                snapshot = try await store.indexSnapshot()
                #expect(snapshot["frank"] == nil)
                #expect(snapshot["bob"]?.entries.count == 14)
                #expect(snapshot["erin"]?.entries.count == 10)
                await store.close()
            }

            // Read the file raw: one record per waiting message, and nothing else.
            let path = directory.path(for: GDBMInboxStore.fileName)
            let records = try Self.rawRecords(path)
            #expect(records.keys.allSatisfy { $0.starts(with: GDBMInboxStore.recordPrefix) })
            var summaries: [GDBMInboxStore.RecordSummary] = []
            for (key, value) in records {
                let summary = try GDBMInboxStore.decodeRecordSummary(value, key: key, path: path)
                let message = try GDBMInboxStore.decodeRecord(value, key: key, path: path)
                #expect(summary.entry == InboxIndex.Entry(message))
                #expect(summary.recipient == message.to)
                summaries.append(summary)
            }
            #expect(Set(summaries.map(\.sequence)).count == summaries.count, "sequence numbers are unique")
            var fromFile: [String: InboxIndex] = [:]
            for summary in summaries.sorted(by: { $0.sequence < $1.sequence }) {
                fromFile[summary.recipient, default: InboxIndex()].append(summary.entry)
            }
            #expect(fromFile == snapshot)

            let store = try GDBMInboxStore(directory: directory)
            #expect(try await store.indexSnapshot() == snapshot)
            await store.close()
        }
    }

    @Test("concurrent appends from 8 senders: all stored, none lost, each sender's order kept")
    func concurrentAppends() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let path = parent + "/data"
            let senders = 8
            let perSender = 50
            do {
                let directory = try DataDirectory(path: path)
                let store = try GDBMInboxStore(directory: directory)
                let failures = Locked<[String]>([])
                await StorageTestSupport.concurrently(senders) { sender in
                    for number in 0..<perSender {
                        let message = StoredMessage.test(from: "sender\(sender)", to: "bob", body: "\(number)")
                        do {
                            let result = try await store.append(message)
                            if result != .stored {
                                failures.withLock { $0.append("\(message.body): \(result)") }
                            }
                        } catch {
                            failures.withLock { $0.append("\(message.body): \(error)") }
                        }
                    }
                }
                #expect(failures.withLock { $0 } == [])
                try await Self.expectAllStored(store, senders: senders, perSender: perSender)
                await store.close()
                directory.release()
            }
            let directory = try await StorageTestSupport.reopen(path)
            let store = try GDBMInboxStore(directory: directory)
            try await Self.expectAllStored(store, senders: senders, perSender: perSender)
            await store.close()
        }
    }

    @Test("one sender: every append syncs before it returns; removals and expiry do not sync")
    func everyAppendSyncedAlone() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let log = SyncLog()
            let store = try GDBMInboxStore(directory: directory, observer: log.record)
            var sent: [StoredMessage] = []
            for number in 0..<20 {
                let message = StoredMessage.test(from: "alice", to: "bob", body: "\(number)", at: Int64(number))
                #expect(try await store.append(message) == .stored)
                #expect(log.isSynced(message.id))
                sent.append(message)
            }
            #expect(log.counts.withLock { $0.syncs } == 20)
            #expect(try await store.remove(recipient: "bob", id: sent[0].id))
            #expect(try await store.expire(recipient: "bob", before: Date(timeIntervalSince1970: 0.005)) == 4)
            #expect(log.counts.withLock { $0.syncs } == 20)
            // A refused append writes nothing and so syncs nothing.
            let fullLog = SyncLog()
            let full = try GDBMInboxStore(
                directory: DataDirectory(path: parent + "/full"),
                limits: InboxLimits(maximumMessages: 0),
                observer: fullLog.record
            )
            #expect(try await full.append(StoredMessage.test(from: "alice", to: "bob")) != .stored)
            #expect(fullLog.counts.withLock { $0.syncs } == 0)
            await full.close()
            // Closing syncs once more, covering the removals.
            await store.close()
            #expect(log.counts.withLock { $0.syncs } == 21)
        }
    }

    @Test("8 senders on a slow disk: no append returns unsynced, and appends share syncs")
    func groupCommit() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            // A 2 ms sync, as on a slow disk, so writers pile up behind each one.
            let log = SyncLog(syncDelayMicroseconds: 2_000)
            let store = try GDBMInboxStore(directory: directory, observer: log.record)
            let senders = 8
            let perSender = 25
            let unsynced = Locked(0)
            let errors = Locked<[String]>([])
            await StorageTestSupport.concurrently(senders) { sender in
                for number in 0..<perSender {
                    let message = StoredMessage.test(from: "sender\(sender)", to: "bob", body: "\(number)")
                    do {
                        _ = try await store.append(message)
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
            #expect(counts.stores == senders * perSender)
            #expect(counts.syncs < counts.stores)
            try await Self.expectAllStored(store, senders: senders, perSender: perSender)
            await store.close()
        }
    }

    @Test("a message record that cannot be decoded, or names another key, is reported as corrupt")
    func corruptRecord() throws {
        try StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let path = directory.path(for: GDBMInboxStore.fileName)
            let message = StoredMessage.test(from: "alice", to: "bob")
            do {
                let file = try GDBMFile(path: path)
                var truncated = GDBMInboxStore.encodeRecord(message, sequence: 1)
                truncated.removeLast()
                try file.store(key: GDBMInboxStore.recordKey(recipient: "bob", id: message.id), value: truncated, replace: false)
                try file.close()
            }
            #expect {
                try GDBMInboxStore(directory: directory)
            } throws: { error in
                guard case StorageError.corrupt(let text) = error else { return false }
                return text.contains("q:bob:\(message.id)") && text.contains("truncated")
            }
            do {
                let file = try GDBMFile(path: path)
                try file.store(
                    key: GDBMInboxStore.recordKey(recipient: "bob", id: message.id),
                    value: GDBMInboxStore.encodeRecord(StoredMessage.test(from: "alice", to: "carol"), sequence: 1),
                    replace: true)
                try file.close()
            }
            #expect {
                try GDBMInboxStore(directory: directory)
            } throws: { error in
                guard case StorageError.corrupt(let text) = error else { return false }
                return text.contains("for carol")
            }
        }
    }

    @Test("a record written by a batch whose sync never ran (a crash) is a whole message at open")
    func unsyncedRecordIsWhole() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let path = directory.path(for: GDBMInboxStore.fileName)
            let synced = StoredMessage.test(from: "alice", to: "bob", body: "synced")
            do {
                let store = try GDBMInboxStore(directory: directory)
                #expect(try await store.append(synced) == .stored)
                await store.close()
            }
            // One gdbm_store per append: a crash before the sync leaves the record whole or
            // absent, never half an append. Here it reached the file.
            let crashed = StoredMessage.test(from: "carol", to: "bob", body: "never acknowledged")
            do {
                let file = try GDBMFile(path: path)
                try file.store(
                    key: GDBMInboxStore.recordKey(recipient: "bob", id: crashed.id),
                    value: GDBMInboxStore.encodeRecord(crashed, sequence: 2), replace: false)
                try file.close()
            }
            let store = try GDBMInboxStore(directory: directory)
            #expect(try await store.messages(for: "bob", from: nil) == [synced, crashed])
            // New appends go after it: the sequence continues past the highest found.
            let later = StoredMessage.test(from: "alice", to: "bob", body: "later")
            #expect(try await store.append(later) == .stored)
            #expect(try await store.messages(for: "bob", from: nil) == [synced, crashed, later])
            await store.close()
        }
    }

    @Test("a failed write: that append throws, nothing of it stays, and the store takes the next one")
    func failedWrite() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let path = directory.path(for: GDBMInboxStore.fileName)
            let kept = StoredMessage.test(from: "alice", to: "bob", body: "kept")
            let failing = StoredMessage.test(from: "carol", to: "bob", body: "failing")
            let after = StoredMessage.test(from: "dave", to: "bob", body: "after")
            let faults = GDBMFaults()
            let log = EventLog()
            do {
                let store = try GDBMInboxStore(directory: directory, observer: log.record, faults: faults)
                #expect(try await store.append(kept) == .stored)
                faults.failNext(.store)
                await #expect { try await store.append(failing) } throws: { Self.isIO($0) }
                #expect(faults.injectedCount(.store) == 1)
                #expect(try await store.counts(for: "bob") == ["alice": 1])
                #expect(try await store.indexSnapshot()["bob"]?.entries.map(\.id) == [kept.id])
                // Recovered at once (reopened, mirror rebuilt): reads and writes work again.
                #expect(log.failures == 1)
                #expect(log.recoveries == 1)
                #expect(try await store.messages(for: "bob", from: nil) == [kept])
                #expect(try await store.append(after) == .stored)
                #expect(try await store.messages(for: "bob", from: nil) == [kept, after])
                await store.close()
            }
            let keys = try Self.rawRecords(path).keys.map { String(decoding: $0, as: UTF8.self) }
            #expect(Set(keys) == ["q:bob:\(kept.id)", "q:bob:\(after.id)"])
            let store = try GDBMInboxStore(directory: directory)
            #expect(try await store.messages(for: "bob", from: nil) == [kept, after])
            await store.close()
        }
    }

    @Test("a failed sync: its appends throw, their records are purged, and the store takes the next one")
    func failedSync() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let path = directory.path(for: GDBMInboxStore.fileName)
            let kept = StoredMessage.test(from: "alice", to: "bob", body: "kept")
            let failing = StoredMessage.test(from: "carol", to: "bob", body: "failing")
            let after = StoredMessage.test(from: "dave", to: "bob", body: "after")
            let faults = GDBMFaults()
            let log = EventLog()
            do {
                let store = try GDBMInboxStore(directory: directory, observer: log.record, faults: faults)
                #expect(try await store.append(kept) == .stored)
                faults.failNext(.sync)
                await #expect { try await store.append(failing) } throws: { Self.isIO($0) }
                #expect(log.count { if case .syncFailed = $0 { return true } else { return false } } == 1)
                #expect(try await store.counts(for: "bob") == ["alice": 1])
                #expect(try await store.indexSnapshot()["bob"]?.entries.map(\.id) == [kept.id])
                #expect(log.recoveries == 1)
                #expect(try await store.append(after) == .stored)
                await store.close()
            }
            // Its record was written before the sync failed; the recovery deleted it, so a
            // "not stored" message does not turn up later after all.
            let keys = try Self.rawRecords(path).keys.map { String(decoding: $0, as: UTF8.self) }
            #expect(Set(keys) == ["q:bob:\(kept.id)", "q:bob:\(after.id)"])
            let store = try GDBMInboxStore(directory: directory)
            #expect(try await store.messages(for: "bob", from: nil) == [kept, after])
            await store.close()
        }
    }

    @Test("a failed sync under load: every append of the failed batch throws, every stored one is durable")
    func failedSyncInABatch() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let path = directory.path(for: GDBMInboxStore.fileName)
            let faults = GDBMFaults()
            // Slow syncs, so the senders' appends pile up into batches of several.
            let slow = SyncLog(syncDelayMicroseconds: 2_000)
            let outcomes = Locked<[String: Bool]>([:])
            do {
                let store = try GDBMInboxStore(directory: directory, observer: slow.record, faults: faults)
                await StorageTestSupport.concurrently(8) { sender in
                    for number in 0..<20 {
                        if sender == 0 && number == 10 {
                            faults.failNext(.sync)
                        }
                        let message = StoredMessage.test(from: "sender\(sender)", to: "bob", body: "\(number)")
                        let stored = (try? await store.append(message)) == .stored
                        outcomes.withLock { $0[message.id] = stored }
                    }
                }
                #expect(faults.injectedCount(.sync) == 1)
                let storedIDs = Set(outcomes.withLock { $0 }.filter { $0.value }.keys)
                #expect(storedIDs.count < 160, "the failed batch's appends were not stored")
                #expect(Set(try await store.messages(for: "bob", from: nil).map(\.id)) == storedIDs)
                await store.close()
            }
            // Exactly the appends answered .stored are in the file.
            let storedIDs = Set(outcomes.withLock { $0 }.filter { $0.value }.keys)
            let inFile = Set(try Self.rawRecords(path).keys.map { String(decoding: $0.dropFirst(6), as: UTF8.self) })
            #expect(inFile == storedIDs)
        }
    }

    @Test("a disk that stays bad: writes are refused, reads go on, and writes work again once it recovers")
    func diskStaysBad() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let kept = StoredMessage.test(from: "alice", to: "bob", body: "kept")
            let faults = GDBMFaults()
            let log = EventLog()
            let store = try GDBMInboxStore(directory: directory, observer: log.record, faults: faults)
            #expect(try await store.append(kept) == .stored)

            // Every store fails (a full disk): each append is refused; the reopen works, so
            // reads go on.
            faults.failNext(.store, times: Int.max)
            for number in 0..<3 {
                await #expect { try await store.append(StoredMessage.test(from: "carol", to: "bob", body: "\(number)")) } throws: { Self.isIO($0) }
                #expect(try await store.messages(for: "bob", from: nil) == [kept])
            }
            // Worse: the file cannot even be reopened. Reads fail now too, but not for an
            // empty inbox, and counts come from the mirror.
            faults.failNext(.open, times: Int.max)
            await #expect { try await store.append(StoredMessage.test(from: "carol", to: "bob")) } throws: { Self.isIO($0) }
            #expect(log.count { if case .recoveryFailed = $0 { return true } else { return false } } >= 1)
            await #expect { try await store.messages(for: "bob", from: nil) } throws: { Self.isUnavailable($0) }
            #expect(try await store.messages(for: "nobody", from: nil).isEmpty)
            #expect(try await store.counts(for: "bob") == ["alice": 1])
            await #expect { try await store.append(StoredMessage.test(from: "carol", to: "bob")) } throws: { Self.isIO($0) }

            // The disk works again: the next write recovers first, then is stored.
            faults.clear()
            let after = StoredMessage.test(from: "dave", to: "bob", body: "after")
            #expect(try await store.append(after) == .stored)
            #expect(try await store.messages(for: "bob", from: nil) == [kept, after])
            #expect(try await store.counts(for: "bob") == ["alice": 1, "dave": 1])
            await store.close()
        }
    }

    @Test("the purge of a failed batch fails too: it is retried before the next write")
    func purgeRetried() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let path = directory.path(for: GDBMInboxStore.fileName)
            let failing = StoredMessage.test(from: "carol", to: "bob", body: "failing")
            let after = StoredMessage.test(from: "dave", to: "bob", body: "after")
            let faults = GDBMFaults()
            let log = EventLog()
            do {
                let store = try GDBMInboxStore(directory: directory, observer: log.record, faults: faults)
                // The batch's sync fails, then the recovery's sync after the purge too.
                faults.failNext(.sync, times: 2)
                await #expect { try await store.append(failing) } throws: { Self.isIO($0) }
                #expect(log.count { if case .recoveryFailed = $0 { return true } else { return false } } == 1)
                // Never shown meanwhile, though its record may still be in the file.
                #expect(try await store.messages(for: "bob", from: nil).isEmpty)
                #expect(try await store.counts(for: "bob") == [:])
                #expect(try await store.append(after) == .stored)
                #expect(log.recoveries == 1)
                await store.close()
            }
            let keys = try Self.rawRecords(path).keys.map { String(decoding: $0, as: UTF8.self) }
            #expect(keys == ["q:bob:\(after.id)"])
        }
    }

    @Test("a failed removal: it throws, the message stays to be delivered again, a later removal works")
    func failedRemoval() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let message = StoredMessage.test(from: "alice", to: "bob")
            let faults = GDBMFaults()
            let store = try GDBMInboxStore(directory: directory, faults: faults)
            #expect(try await store.append(message) == .stored)
            faults.failNext(.delete)
            await #expect { try await store.remove(recipient: "bob", id: message.id) } throws: { Self.isIO($0) }
            #expect(try await store.messages(for: "bob", from: nil) == [message])
            #expect(try await store.remove(recipient: "bob", id: message.id))
            #expect(try await store.messages(for: "bob", from: nil).isEmpty)
            await store.close()
        }
    }

    @Test("2,000 messages stored, then removed one by one: mirror and file agree all along")
    func manyAppendsAndRemovals() async throws {
        try await StorageTestSupport.withTemporaryDirectory { parent in
            let directory = try DataDirectory(path: parent + "/data")
            let path = directory.path(for: GDBMInboxStore.fileName)
            let sent = (0..<2_000).map { StoredMessage.test(from: "sender\($0 % 7)", to: "bob", body: "\($0)") }
            do {
                let store = try GDBMInboxStore(directory: directory, limits: InboxLimits(maximumMessages: 2_000))
                await StorageTestSupport.concurrently(4) { sender in
                    for message in sent[(sender * 500)..<((sender + 1) * 500)] {
                        _ = try? await store.append(message)
                    }
                }
                #expect(try await store.messages(for: "bob", from: nil).count == 2_000)
                // Remove every other one, then the rest, newest first: holes everywhere.
                for message in sent.enumerated().filter({ $0.offset % 2 == 0 }).map(\.element) {
                    #expect(try await store.remove(recipient: "bob", id: message.id))
                }
                let remaining = try await store.messages(for: "bob", from: nil)
                #expect(Set(remaining.map(\.id)) == Set(sent.enumerated().filter { $0.offset % 2 == 1 }.map(\.element.id)))
                #expect(try await store.counts(for: "bob").values.reduce(0, +) == 1_000)
                for message in remaining.reversed().prefix(999) {
                    #expect(try await store.remove(recipient: "bob", id: message.id))
                }
                #expect(try await store.messages(for: "bob", from: nil) == [remaining[0]])
                await store.close()
            }
            #expect(try Self.rawRecords(path).count == 1)
        }
    }

    /// Every key and value in the inbox file at `path` (the store must be closed).
    private static func rawRecords(_ path: String) throws -> [[UInt8]: [UInt8]] {
        let file = try GDBMFile(path: path)
        defer { try? file.close() }
        var records: [[UInt8]: [UInt8]] = [:]
        for key in try file.keys() {
            records[key] = try file.fetch(key: key)
        }
        return records
    }

    /// Every sender's messages are in bob's inbox, in the order that sender appended them.
    private static func expectAllStored(_ store: GDBMInboxStore, senders: Int, perSender: Int) async throws {
        let all = try await store.messages(for: "bob", from: nil)
        #expect(all.count == senders * perSender)
        #expect(Set(all.map(\.id)).count == all.count)
        for sender in 0..<senders {
            let bodies = try await store.messages(for: "bob", from: "sender\(sender)").map(\.body)
            #expect(bodies == (0..<perSender).map(String.init))
            #expect(all.filter { $0.from == "sender\(sender)" }.map(\.body) == bodies)
        }
        #expect(try await store.counts(for: "bob") == Dictionary(
            uniqueKeysWithValues: (0..<senders).map { ("sender\($0)", perSender) }
        ))
    }

    private static func isIO(_ error: any Error) -> Bool {
        if case StorageError.io = error {
            return true
        }
        return false
    }

    private static func isUnavailable(_ error: any Error) -> Bool {
        if case StorageError.unavailable = error {
            return true
        }
        return false
    }
}

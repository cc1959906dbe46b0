import Foundation
import Shared
import Testing

@testable import Server

/// The same contract checked against every `InboxStore` backend (`StoreKind`), so the
/// in-memory twin used by unit tests cannot drift from the real stores.
@Suite("InboxStore parity")
struct InboxStoreTests {
    @Test("messages come back oldest first, per recipient and across senders", arguments: StoreKind.allCases)
    func order(kind: StoreKind) async throws {
        try await kind.withInboxStore { store throws in
            let sent = [
                StoredMessage.test(from: "alice", to: "bob", body: "one", at: 3_000),
                StoredMessage.test(from: "carol", to: "bob", body: "two", at: 1_000),
                StoredMessage.test(from: "alice", to: "dave", body: "for dave", at: 2_000),
                StoredMessage.test(from: "alice", to: "bob", body: "three", at: 2_000),
            ]
            for message in sent {
                #expect(try await store.append(message) == .stored)
            }
            // Append order, not send time: the store keeps the order messages arrived in.
            #expect(try await store.messages(for: "bob", from: nil).map(\.body) == ["one", "two", "three"])
            #expect(try await store.messages(for: "dave", from: nil) == [sent[2]])
            #expect(try await store.messages(for: "nobody", from: nil).isEmpty)
            #expect(try await store.messages(for: "bob", from: nil) == [sent[0], sent[1], sent[3]])
        }
    }

    @Test("the sender filter keeps only that sender's messages, in order", arguments: StoreKind.allCases)
    func senderFilter(kind: StoreKind) async throws {
        try await kind.withInboxStore { store throws in
            for (from, body) in [("alice", "a1"), ("carol", "c1"), ("alice", "a2"), ("carol", "c2"), ("alice", "a3")] {
                #expect(try await store.append(StoredMessage.test(from: from, to: "bob", body: body)) == .stored)
            }
            #expect(try await store.messages(for: "bob", from: "alice").map(\.body) == ["a1", "a2", "a3"])
            #expect(try await store.messages(for: "bob", from: "carol").map(\.body) == ["c1", "c2"])
            #expect(try await store.messages(for: "bob", from: "eve").isEmpty)
            #expect(try await store.messages(for: "alice", from: "bob").isEmpty)
        }
    }

    @Test("counts are per sender", arguments: StoreKind.allCases)
    func counts(kind: StoreKind) async throws {
        try await kind.withInboxStore { store throws in
            #expect(try await store.counts(for: "bob") == [:])
            for from in ["alice", "carol", "alice", "alice"] {
                #expect(try await store.append(StoredMessage.test(from: from, to: "bob")) == .stored)
            }
            #expect(try await store.append(StoredMessage.test(from: "bob", to: "alice")) == .stored)
            #expect(try await store.counts(for: "bob") == ["alice": 3, "carol": 1])
            #expect(try await store.counts(for: "alice") == ["bob": 1])
            #expect(try await store.counts(for: "carol") == [:])
        }
    }

    @Test("usage is every non-empty inbox's messages and bytes, as the caps count them", arguments: StoreKind.allCases)
    func usage(kind: StoreKind) async throws {
        try await kind.withInboxStore { store throws in
            #expect(try await store.usage().isEmpty)
            let forBob = [StoredMessage.test(from: "alice", to: "bob", body: "one"), .test(from: "carol", to: "bob", body: "two!")]
            let forDave = StoredMessage.test(from: "alice", to: "dave", body: "x")
            for message in forBob + [forDave] {
                #expect(try await store.append(message) == .stored)
            }
            #expect(
                try await store.usage() == [
                    "bob": InboxUsage(messages: 2, bytes: forBob.map(\.storageSize).reduce(0, +)),
                    "dave": InboxUsage(messages: 1, bytes: forDave.storageSize),
                ])
            #expect(try await store.remove(recipient: "dave", id: forDave.id))
            #expect(try await store.usage()["dave", default: InboxUsage()] == InboxUsage(), "an emptied inbox holds nothing")
        }
    }

    @Test("removeAll deletes one recipient's messages, whatever their age, and leaves the others", arguments: StoreKind.allCases)
    func removeAll(kind: StoreKind) async throws {
        try await kind.withInboxStore { store throws in
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            for (from, at) in [("alice", Int64(1_000)), ("carol", now), ("alice", now + 86_400_000)] {
                #expect(try await store.append(StoredMessage.test(from: from, to: "bob", at: at)) == .stored)
            }
            let forDave = StoredMessage.test(from: "bob", to: "dave")
            #expect(try await store.append(forDave) == .stored)
            #expect(try await store.removeAll(recipient: "bob") == 3)
            #expect(try await store.messages(for: "bob", from: nil).isEmpty)
            #expect(try await store.counts(for: "bob") == [:])
            #expect(try await store.removeAll(recipient: "bob") == 0)
            #expect(try await store.messages(for: "dave", from: nil) == [forDave])
            // The inbox takes messages again, within its caps as before.
            #expect(try await store.append(StoredMessage.test(from: "alice", to: "bob")) == .stored)
            #expect(try await store.counts(for: "bob") == ["alice": 1])
        }
    }

    @Test("an inbox at its message cap refuses the next message and stores nothing", arguments: StoreKind.allCases)
    func messageCap(kind: StoreKind) async throws {
        try await kind.withInboxStore(limits: InboxLimits(maximumMessages: 3)) { store throws in
            let kept = (1...3).map { StoredMessage.test(from: "alice", to: "bob", body: "m\($0)") }
            for message in kept {
                #expect(try await store.append(message) == .stored)
            }
            let refused = StoredMessage.test(from: "carol", to: "bob", body: "one too many")
            #expect(try await store.append(refused) == .full("bob's inbox is full (3 messages)"))
            #expect(try await store.messages(for: "bob", from: nil) == kept)
            #expect(try await store.counts(for: "bob") == ["alice": 3])
            // Another inbox is not affected, and removing one makes room again.
            #expect(try await store.append(StoredMessage.test(from: "bob", to: "carol")) == .stored)
            #expect(try await store.remove(recipient: "bob", id: kept[0].id))
            #expect(try await store.append(refused) == .stored)
            #expect(try await store.messages(for: "bob", from: nil) == [kept[1], kept[2], refused])
        }
    }

    @Test("a message whose space was reserved is stored past the caps, then counts against them", arguments: StoreKind.allCases)
    func reservedSpace(kind: StoreKind) async throws {
        try await kind.withInboxStore(limits: InboxLimits(maximumMessages: 2)) { store throws in
            let kept = (1...2).map { StoredMessage.test(from: "alice", to: "bob", body: "m\($0)") }
            for message in kept {
                #expect(try await store.append(message) == .stored)
            }
            let reserved = StoredMessage.test(from: "alice", to: "bob", body: "accepted live")
            #expect(try await store.append(reserved, space: .reserved) == .stored)
            #expect(try await store.messages(for: "bob", from: nil) == kept + [reserved])
            // Three in an inbox of two: a new message is refused until two are gone.
            let next = StoredMessage.test(from: "carol", to: "bob")
            #expect(try await store.append(next) == .full("bob's inbox is full (2 messages)"))
            #expect(try await store.remove(recipient: "bob", id: kept[0].id))
            #expect(try await store.append(next) == .full("bob's inbox is full (2 messages)"))
            #expect(try await store.remove(recipient: "bob", id: kept[1].id))
            #expect(try await store.append(next) == .stored)
        }
    }

    @Test("an inbox refuses a message that would take it past its byte cap", arguments: StoreKind.allCases)
    func byteCap(kind: StoreKind) async throws {
        // storageSize = body + sender + id bytes.
        try await kind.withInboxStore(limits: InboxLimits(maximumBytes: 31)) { store throws in
            let first = StoredMessage.test(id: "m1", from: "alice", to: "bob", body: "12345")
            let second = StoredMessage.test(id: "m2", from: "alice", to: "bob", body: "12345")
            #expect(first.storageSize == 12)
            #expect(try await store.append(first) == .stored)
            #expect(try await store.append(second) == .stored)

            let tooBig = StoredMessage.test(id: "m3", from: "carol", to: "bob", body: "1")
            #expect(tooBig.storageSize == 8)
            #expect(try await store.append(tooBig) == .full("bob's inbox is full (31 bytes)"))
            #expect(try await store.messages(for: "bob", from: nil) == [first, second])
            #expect(try await store.counts(for: "bob") == ["alice": 2])

            // Exactly at the cap is allowed; one byte more is not.
            let exact = StoredMessage.test(id: "m4", from: "carol", to: "bob", body: "")
            #expect(exact.storageSize == 7)
            #expect(try await store.append(exact) == .stored)
            #expect(try await store.counts(for: "bob") == ["alice": 2, "carol": 1])
            let anyMore = StoredMessage.test(id: "m5", from: "alice", to: "bob", body: "")
            #expect(try await store.append(anyMore) == .full("bob's inbox is full (31 bytes)"))
            #expect(try await store.messages(for: "bob", from: nil) == [first, second, exact])
        }
    }

    @Test("remove deletes one message; an unknown one answers false", arguments: StoreKind.allCases)
    func remove(kind: StoreKind) async throws {
        try await kind.withInboxStore { store throws in
            let first = StoredMessage.test(from: "alice", to: "bob", body: "first")
            let second = StoredMessage.test(from: "carol", to: "bob", body: "second")
            #expect(try await store.append(first) == .stored)
            #expect(try await store.append(second) == .stored)
            #expect(try await store.remove(recipient: "bob", id: first.id))
            #expect(try await store.counts(for: "bob") == ["carol": 1])
            #expect(try await store.messages(for: "bob", from: nil) == [second])
            #expect(try await store.remove(recipient: "bob", id: first.id) == false)
            #expect(try await store.remove(recipient: "bob", id: "no-such-id") == false)
            #expect(try await store.remove(recipient: "nobody", id: second.id) == false)
            // An id is only found in its own recipient's inbox.
            #expect(try await store.remove(recipient: "carol", id: second.id) == false)
            #expect(try await store.remove(recipient: "bob", id: second.id))
            #expect(try await store.counts(for: "bob") == [:])
            #expect(try await store.messages(for: "bob", from: nil).isEmpty)
        }
    }

    @Test("expire deletes messages sent before the cutoff, wherever they are", arguments: StoreKind.allCases)
    func expire(kind: StoreKind) async throws {
        try await kind.withInboxStore { store throws in
            let late = StoredMessage.test(from: "alice", to: "bob", body: "late", at: 3_000)
            let early = StoredMessage.test(from: "carol", to: "bob", body: "early", at: 1_000)
            let middle = StoredMessage.test(from: "alice", to: "bob", body: "middle", at: 2_000)
            for message in [late, early, middle] {
                #expect(try await store.append(message) == .stored)
            }
            #expect(try await store.append(StoredMessage.test(from: "bob", to: "alice", at: 0)) == .stored)

            #expect(try await store.expire(recipient: "bob", before: Self.date(milliseconds: 1_000)) == 0)
            #expect(try await store.expire(recipient: "bob", before: Self.date(milliseconds: 1_001)) == 1)
            #expect(try await store.messages(for: "bob", from: nil) == [late, middle])
            // A cutoff between two milliseconds: 2000 ms is before 2000.5 ms.
            #expect(try await store.expire(recipient: "bob", before: Date(timeIntervalSince1970: 2.0005)) == 1)
            #expect(try await store.messages(for: "bob", from: nil) == [late])
            #expect(try await store.counts(for: "bob") == ["alice": 1])
            #expect(try await store.expire(recipient: "nobody", before: Self.date(milliseconds: 10_000)) == 0)
            #expect(try await store.expire(recipient: "bob", before: Self.date(milliseconds: 10_000)) == 1)
            #expect(try await store.counts(for: "bob") == [:])
            #expect(try await store.counts(for: "alice") == ["bob": 1])
        }
    }

    @Test("any body comes back unchanged: NUL, controls, quotes, braces, backslashes, the word NULL", arguments: StoreKind.allCases)
    func anyBody(kind: StoreKind) async throws {
        try await kind.withInboxStore { store throws in
            let bodies = ["a\u{0}b", "\u{1B}[31mred\u{7}", "\"{},\\N\\\"", "NULL", "tab\there\r\nnext", "\u{202E}txt.exe ünï 😀"]
            let sent = bodies.map { StoredMessage.test(from: "alice", to: "bob", body: $0) }
            for message in sent {
                #expect(try await store.append(message) == .stored)
            }
            #expect(try await store.messages(for: "bob", from: nil) == sent)
        }
    }

    @Test("the same id again is the same message: stored once", arguments: StoreKind.allCases)
    func duplicateId(kind: StoreKind) async throws {
        try await kind.withInboxStore(limits: InboxLimits(maximumMessages: 1)) { store throws in
            let message = StoredMessage.test(from: "alice", to: "bob")
            #expect(try await store.append(message) == .stored)
            #expect(try await store.append(message) == .stored)
            #expect(try await store.messages(for: "bob", from: nil) == [message])
        }
    }

    @Test("appends started one after another, without waiting, are stored in that order", arguments: StoreKind.allCases)
    func orderWithoutWaiting(kind: StoreKind) async throws {
        try await kind.withInboxStore { store throws in
            let sent = (0..<50).map { StoredMessage.test(from: $0 % 3 == 0 ? "carol" : "alice", to: "bob", body: "\($0)") }
            // As DeliveryService starts a session's sends: each in a task started at once.
            var appends: [Task<InboxAppendResult, any Error>] = []
            for message in sent {
                appends.append(Task.immediate { try await store.append(message) })
            }
            for append in appends {
                #expect(try await append.value == .stored)
            }
            #expect(try await store.messages(for: "bob", from: nil) == sent)
        }
    }

    @Test("removals and appends started one after another, without waiting, apply in that order", arguments: StoreKind.allCases)
    func removalsInOrder(kind: StoreKind) async throws {
        try await kind.withInboxStore(limits: InboxLimits(maximumMessages: 4)) { store throws in
            let sent = (0..<4).map { StoredMessage.test(from: "alice", to: "bob", body: "m\($0)") }
            let late = StoredMessage.test(from: "carol", to: "bob", body: "late")
            // Started at once, as a session's sends and acknowledgements are: the removals
            // make room for `late`, and removing an id twice finds it once.
            var appends = sent.map { message in Task.immediate { try await store.append(message) } }
            let removals = [sent[1].id, sent[1].id, sent[3].id, "no-such-id"].map { id in
                Task.immediate { try await store.remove(recipient: "bob", id: id) }
            }
            appends.append(Task.immediate { try await store.append(late) })
            appends.append(Task.immediate { try await store.append(sent[1]) })
            var stored: [InboxAppendResult] = []
            for append in appends {
                stored.append(try await append.value)
            }
            var removed: [Bool] = []
            for removal in removals {
                removed.append(try await removal.value)
            }
            #expect(stored == Array(repeating: .stored, count: 6))
            #expect(removed == [true, false, true, false])
            #expect(try await store.messages(for: "bob", from: nil) == [sent[0], sent[2], late, sent[1]])
            #expect(try await store.counts(for: "bob") == ["alice": 3, "carol": 1])
            #expect(try await store.append(StoredMessage.test(from: "dave", to: "bob")) == .full("bob's inbox is full (4 messages)"))
        }
    }

    @Test("concurrent appends to one inbox never take it past its cap", arguments: StoreKind.allCases)
    func capUnderConcurrency(kind: StoreKind) async throws {
        try await kind.withInboxStore(limits: InboxLimits(maximumMessages: 5)) { store throws in
            let results = Locked<[InboxAppendResult]>([])
            await StorageTestSupport.concurrently(20) { number in
                if let result = try? await store.append(StoredMessage.test(from: "sender\(number)", to: "bob")) {
                    results.withLock { $0.append(result) }
                }
            }
            let all = results.withLock { $0 }
            #expect(all.count == 20)
            #expect(all.filter { $0 == .stored }.count == 5)
            #expect(all.filter { $0 == .full("bob's inbox is full (5 messages)") }.count == 15)
            #expect(try await store.counts(for: "bob").values.reduce(0, +) == 5)
        }
    }

    @Test("every call after close throws closed; close is idempotent", arguments: StoreKind.allCases)
    func useAfterClose(kind: StoreKind) async throws {
        try await kind.withInboxStore { store throws in
            let message = StoredMessage.test(from: "alice", to: "bob")
            #expect(try await store.append(message) == .stored)
            await store.close()
            await store.close()
            await #expect { try await store.append(StoredMessage.test(from: "alice", to: "bob")) } throws: { Self.isClosed($0) }
            await #expect { try await store.messages(for: "bob", from: nil) } throws: { Self.isClosed($0) }
            await #expect { try await store.counts(for: "bob") } throws: { Self.isClosed($0) }
            await #expect { try await store.remove(recipient: "bob", id: message.id) } throws: { Self.isClosed($0) }
            await #expect { try await store.expire(recipient: "bob", before: Date()) } throws: { Self.isClosed($0) }
        }
    }

    @Test("the in-memory store names itself \"memory\" when used after close")
    func inMemoryClosedPath() async throws {
        let store = InMemoryInboxStore()
        await store.close()
        await #expect(throws: StorageError.closed("memory")) { try await store.counts(for: "bob") }
    }

    private static func date(milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    private static func isClosed(_ error: any Error) -> Bool {
        if case StorageError.unavailable(let text) = error {
            return text.hasSuffix(" was used after it was closed")
        }
        return false
    }
}

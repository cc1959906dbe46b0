import Foundation
import Testing

@testable import Server

/// The same contract checked against both `InboxStore` implementations, so the in-memory
/// twin used by unit tests cannot drift from the GDBM store.
@Suite("InboxStore parity")
struct InboxStoreTests {
    /// Which implementation a test runs against.
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case inMemory, gdbm

        var testDescription: String { rawValue }

        /// Runs `body` with a fresh store of this kind, closing it (and removing any
        /// files) afterwards.
        func withStore(limits: InboxLimits = InboxLimits(), _ body: (any InboxStore) throws -> Void) throws {
            switch self {
            case .inMemory:
                let store = InMemoryInboxStore(limits: limits)
                defer { store.close() }
                try body(store)
            case .gdbm:
                try StorageTestSupport.withTemporaryDirectory { parent in
                    let directory = try DataDirectory(path: parent + "/data")
                    let store = try GDBMInboxStore(directory: directory, limits: limits)
                    defer { store.close() }
                    try body(store)
                }
            }
        }
    }

    @Test("messages come back oldest first, per recipient and across senders", arguments: Kind.allCases)
    func order(kind: Kind) throws {
        try kind.withStore { store throws in
            let sent = [
                StoredMessage.test(from: "alice", to: "bob", body: "one", at: 3_000),
                StoredMessage.test(from: "carol", to: "bob", body: "two", at: 1_000),
                StoredMessage.test(from: "alice", to: "dave", body: "for dave", at: 2_000),
                StoredMessage.test(from: "alice", to: "bob", body: "three", at: 2_000),
            ]
            for message in sent {
                #expect(try store.append(message) == .stored)
            }
            // Append order, not send time: the store keeps the order messages arrived in.
            #expect(try store.messages(for: "bob", from: nil).map(\.body) == ["one", "two", "three"])
            #expect(try store.messages(for: "dave", from: nil) == [sent[2]])
            #expect(try store.messages(for: "nobody", from: nil).isEmpty)
            #expect(try store.messages(for: "bob", from: nil) == [sent[0], sent[1], sent[3]])
        }
    }

    @Test("the sender filter keeps only that sender's messages, in order", arguments: Kind.allCases)
    func senderFilter(kind: Kind) throws {
        try kind.withStore { store throws in
            for (from, body) in [("alice", "a1"), ("carol", "c1"), ("alice", "a2"), ("carol", "c2"), ("alice", "a3")] {
                #expect(try store.append(StoredMessage.test(from: from, to: "bob", body: body)) == .stored)
            }
            #expect(try store.messages(for: "bob", from: "alice").map(\.body) == ["a1", "a2", "a3"])
            #expect(try store.messages(for: "bob", from: "carol").map(\.body) == ["c1", "c2"])
            #expect(try store.messages(for: "bob", from: "eve").isEmpty)
            #expect(try store.messages(for: "alice", from: "bob").isEmpty)
        }
    }

    @Test("counts are per sender", arguments: Kind.allCases)
    func counts(kind: Kind) throws {
        try kind.withStore { store throws in
            #expect(try store.counts(for: "bob") == [:])
            for from in ["alice", "carol", "alice", "alice"] {
                #expect(try store.append(StoredMessage.test(from: from, to: "bob")) == .stored)
            }
            #expect(try store.append(StoredMessage.test(from: "bob", to: "alice")) == .stored)
            #expect(try store.counts(for: "bob") == ["alice": 3, "carol": 1])
            #expect(try store.counts(for: "alice") == ["bob": 1])
            #expect(try store.counts(for: "carol") == [:])
        }
    }

    @Test("an inbox at its message cap refuses the next message and stores nothing", arguments: Kind.allCases)
    func messageCap(kind: Kind) throws {
        try kind.withStore(limits: InboxLimits(maximumMessages: 3)) { store throws in
            let kept = (1...3).map { StoredMessage.test(from: "alice", to: "bob", body: "m\($0)") }
            for message in kept {
                #expect(try store.append(message) == .stored)
            }
            let refused = StoredMessage.test(from: "carol", to: "bob", body: "one too many")
            #expect(try store.append(refused) == .full("bob's inbox is full (3 messages)"))
            #expect(try store.messages(for: "bob", from: nil) == kept)
            #expect(try store.counts(for: "bob") == ["alice": 3])
            // Another inbox is not affected, and removing one makes room again.
            #expect(try store.append(StoredMessage.test(from: "bob", to: "carol")) == .stored)
            #expect(try store.remove(recipient: "bob", id: kept[0].id))
            #expect(try store.append(refused) == .stored)
            #expect(try store.messages(for: "bob", from: nil) == [kept[1], kept[2], refused])
        }
    }

    @Test("an inbox refuses a message that would take it past its byte cap", arguments: Kind.allCases)
    func byteCap(kind: Kind) throws {
        // storageSize = body + sender + id bytes.
        try kind.withStore(limits: InboxLimits(maximumBytes: 31)) { store throws in
            let first = StoredMessage.test(id: "m1", from: "alice", to: "bob", body: "12345")
            let second = StoredMessage.test(id: "m2", from: "alice", to: "bob", body: "12345")
            #expect(first.storageSize == 12)
            #expect(try store.append(first) == .stored)
            #expect(try store.append(second) == .stored)

            let tooBig = StoredMessage.test(id: "m3", from: "carol", to: "bob", body: "1")
            #expect(tooBig.storageSize == 8)
            #expect(try store.append(tooBig) == .full("bob's inbox is full (31 bytes)"))
            #expect(try store.messages(for: "bob", from: nil) == [first, second])
            #expect(try store.counts(for: "bob") == ["alice": 2])

            // Exactly at the cap is allowed; one byte more is not.
            let exact = StoredMessage.test(id: "m4", from: "carol", to: "bob", body: "")
            #expect(exact.storageSize == 7)
            #expect(try store.append(exact) == .stored)
            #expect(try store.counts(for: "bob") == ["alice": 2, "carol": 1])
            let anyMore = StoredMessage.test(id: "m5", from: "alice", to: "bob", body: "")
            #expect(try store.append(anyMore) == .full("bob's inbox is full (31 bytes)"))
            #expect(try store.messages(for: "bob", from: nil) == [first, second, exact])
        }
    }

    @Test("remove deletes one message; an unknown one answers false", arguments: Kind.allCases)
    func remove(kind: Kind) throws {
        try kind.withStore { store throws in
            let first = StoredMessage.test(from: "alice", to: "bob", body: "first")
            let second = StoredMessage.test(from: "carol", to: "bob", body: "second")
            #expect(try store.append(first) == .stored)
            #expect(try store.append(second) == .stored)
            #expect(try store.remove(recipient: "bob", id: first.id))
            #expect(try store.counts(for: "bob") == ["carol": 1])
            #expect(try store.messages(for: "bob", from: nil) == [second])
            #expect(try store.remove(recipient: "bob", id: first.id) == false)
            #expect(try store.remove(recipient: "bob", id: "no-such-id") == false)
            #expect(try store.remove(recipient: "nobody", id: second.id) == false)
            // An id is only found in its own recipient's inbox.
            #expect(try store.remove(recipient: "carol", id: second.id) == false)
            #expect(try store.remove(recipient: "bob", id: second.id))
            #expect(try store.counts(for: "bob") == [:])
            #expect(try store.messages(for: "bob", from: nil).isEmpty)
        }
    }

    @Test("expire deletes messages sent before the cutoff, wherever they are", arguments: Kind.allCases)
    func expire(kind: Kind) throws {
        try kind.withStore { store throws in
            let late = StoredMessage.test(from: "alice", to: "bob", body: "late", at: 3_000)
            let early = StoredMessage.test(from: "carol", to: "bob", body: "early", at: 1_000)
            let middle = StoredMessage.test(from: "alice", to: "bob", body: "middle", at: 2_000)
            for message in [late, early, middle] {
                #expect(try store.append(message) == .stored)
            }
            #expect(try store.append(StoredMessage.test(from: "bob", to: "alice", at: 0)) == .stored)

            #expect(try store.expire(recipient: "bob", before: Self.date(milliseconds: 1_000)) == 0)
            #expect(try store.expire(recipient: "bob", before: Self.date(milliseconds: 1_001)) == 1)
            #expect(try store.messages(for: "bob", from: nil) == [late, middle])
            // A cutoff between two milliseconds: 2000 ms is before 2000.5 ms.
            #expect(try store.expire(recipient: "bob", before: Date(timeIntervalSince1970: 2.0005)) == 1)
            #expect(try store.messages(for: "bob", from: nil) == [late])
            #expect(try store.counts(for: "bob") == ["alice": 1])
            #expect(try store.expire(recipient: "nobody", before: Self.date(milliseconds: 10_000)) == 0)
            #expect(try store.expire(recipient: "bob", before: Self.date(milliseconds: 10_000)) == 1)
            #expect(try store.counts(for: "bob") == [:])
            #expect(try store.counts(for: "alice") == ["bob": 1])
        }
    }

    @Test("the same id again is the same message: stored once", arguments: Kind.allCases)
    func duplicateId(kind: Kind) throws {
        try kind.withStore(limits: InboxLimits(maximumMessages: 1)) { store throws in
            let message = StoredMessage.test(from: "alice", to: "bob")
            #expect(try store.append(message) == .stored)
            #expect(try store.append(message) == .stored)
            #expect(try store.messages(for: "bob", from: nil) == [message])
        }
    }

    @Test("every call after close throws closed; close is idempotent", arguments: Kind.allCases)
    func useAfterClose(kind: Kind) throws {
        try kind.withStore { store throws in
            let message = StoredMessage.test(from: "alice", to: "bob")
            #expect(try store.append(message) == .stored)
            store.close()
            store.close()
            #expect { try store.append(StoredMessage.test(from: "alice", to: "bob")) } throws: { Self.isClosed($0) }
            #expect { try store.messages(for: "bob", from: nil) } throws: { Self.isClosed($0) }
            #expect { try store.counts(for: "bob") } throws: { Self.isClosed($0) }
            #expect { try store.remove(recipient: "bob", id: message.id) } throws: { Self.isClosed($0) }
            #expect { try store.expire(recipient: "bob", before: Date()) } throws: { Self.isClosed($0) }
        }
    }

    @Test("the in-memory store names itself \"memory\" when used after close")
    func inMemoryClosedPath() throws {
        let store = InMemoryInboxStore()
        store.close()
        #expect(throws: StorageError.closed("memory")) { try store.counts(for: "bob") }
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

import Foundation
import NIOCore
import NIOEmbedded
import Shared
import Testing
import TestSupport

@testable import Server

/// Which way a send goes, live or through the inbox, when one of the same session's
/// messages is still being stored.
@Suite("Send routing", .timeLimit(.minutes(TestTimeouts.minutes(1))))
struct SendRoutingTests {
    typealias Support = SessionHandlerTests

    @Test("a message stored because the live window was full holds up only those sent while it was stored")
    func liveAgainAfterAStore() async throws {
        let inbox = HeldInboxStore()
        try await Support.withServices(liveWindow: InboxLimits(maximumMessages: 2), inbox: inbox) { services in
            let (alice, bob) = try await Support.pair(services, ("alice", 1), ("bob", 2))
            for (id, body) in [(11, "one"), (12, "two")] {
                try await Support.send(.send(id: id, body: body), to: alice)
                #expect(try await Support.next(alice) { $0.answers(id) }.status == .sent)
            }
            // bob has two unacknowledged: the window is full, so "three" is stored, and
            // its append waits.
            inbox.hold()
            try await Support.send(.send(id: 13, body: "three"), to: alice)
            try await Support.eventually("the append of three") { inbox.held > 0 ? () : nil }
            var shown: [ServerFrame] = []
            while shown.count < 2 {
                shown.append(try await Support.next(bob) { $0.messageBody != nil })
            }
            try await Support.send(.ack(seq: shown.last!.seq!), to: bob)
            // Room again, but "three" is not stored yet: "four" waits for it rather than
            // overtaking it, and is not stored itself.
            try await Support.send(.send(id: 14, body: "four"), to: alice)
            inbox.release()
            #expect(try await Support.next(alice) { $0.answers(13) }.status == .stored)
            #expect(try await Support.next(alice) { $0.answers(14) }.status == .sent)
            // And the next goes straight through again.
            try await Support.send(.send(id: 15, body: "five"), to: alice)
            #expect(try await Support.next(alice) { $0.answers(15) }.status == .sent)
            while shown.count < 5 {
                shown.append(try await Support.next(bob) { $0.messageBody != nil })
            }
            #expect(shown.map(\.messageBody) == ["one", "two", "three", "four", "five"])
            #expect(inbox.appended == ["three"])
            _ = try await alice.finish(acceptAlreadyClosed: true)
            _ = try await bob.finish(acceptAlreadyClosed: true)
        }
    }

    @Test("a message the partner could not take live anyway is stored at once, beside the one before it")
    func storedBesideWhenNoRoom() async throws {
        let inbox = HeldInboxStore()
        try await Support.withServices(liveWindow: InboxLimits(maximumMessages: 1), inbox: inbox) { services in
            let (alice, bob) = try await Support.pair(services, ("alice", 1), ("bob", 2))
            try await Support.send(.send(id: 11, body: "one"), to: alice)
            #expect(try await Support.next(alice) { $0.answers(11) }.status == .sent)
            inbox.hold()
            // bob has not acknowledged "one": the window stays full, so both go to the inbox,
            // and the second does not wait for the first's sync to start its own.
            try await Support.send(.send(id: 12, body: "two"), to: alice)
            try await Support.send(.send(id: 13, body: "three"), to: alice)
            try await Support.eventually("both appends under way") { inbox.held == 2 ? () : nil }
            inbox.release()
            #expect(try await Support.next(alice) { $0.answers(12) }.status == .stored)
            #expect(try await Support.next(alice) { $0.answers(13) }.status == .stored)
            var shown: [String] = []
            while shown.count < 3 {
                shown.append(try await Support.next(bob) { $0.messageBody != nil }.messageBody!)
            }
            #expect(shown == ["one", "two", "three"])
            _ = try await alice.finish(acceptAlreadyClosed: true)
            _ = try await bob.finish(acceptAlreadyClosed: true)
        }
    }

    @Test("waiting for stores at shutdown includes a message still waiting behind one")
    func shutdownWaitsForWaitingSends() async throws {
        let inbox = HeldInboxStore()
        try await Support.withServices(liveWindow: InboxLimits(maximumMessages: 1), inbox: inbox) { services in
            let (alice, bob) = try await Support.pair(services, ("alice", 1), ("bob", 2))
            try await Support.send(.send(id: 11, body: "one"), to: alice)
            #expect(try await Support.next(alice) { $0.answers(11) }.status == .sent)
            inbox.hold()
            try await Support.send(.send(id: 12, body: "two"), to: alice)
            try await Support.eventually("the append of two") { inbox.held == 1 ? () : nil }
            // Room again ("one" is bob's first message: seq 1): "three" waits for "two"; by
            // its turn bob has stopped reading, so it is stored then, its append held too.
            try await Support.send(.ack(seq: 1), to: bob)
            try await Support.send(.send(id: 13, body: "three"), to: alice)
            bob.isWritable = false
            bob.pipeline.fireChannelWritabilityChanged()
            let done = Locked(false)
            let waiter = Task {
                await services.delivery.waitForStores(upTo: .seconds(30))
                done.withLock { $0 = true }
            }
            inbox.releaseHeld()
            try await Support.eventually("the append of three") { inbox.held == 1 ? () : nil }
            try await Task.sleep(for: .milliseconds(50))
            #expect(!done.withLock { $0 }, "three was accepted and is not stored yet")
            inbox.release()
            await waiter.value
            #expect(inbox.appended == ["two", "three"])
            #expect(try await Support.next(alice) { $0.answers(13) }.status == .stored)
            _ = try await alice.finish(acceptAlreadyClosed: true)
            _ = try await bob.finish(acceptAlreadyClosed: true)
        }
    }
}

/// An in-memory inbox whose appends can be held back, as a slow sync would hold them.
final class HeldInboxStore: InboxStore {
    private struct State {
        var holding = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var appended: [String] = []
    }

    private let store = InMemoryInboxStore()
    private let state = Locked(State())

    /// Appends from now on wait for `release`.
    func hold() { state.withLock { $0.holding = true } }

    /// Lets the held appends (and every later one) through.
    func release() {
        state.withLock { $0.holding = false }
        releaseHeld()
    }

    /// Lets the appends held now through; later ones are held still.
    func releaseHeld() {
        let waiters = state.withLock { state in
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Appends waiting for `release`.
    var held: Int { state.withLock { $0.waiters.count } }

    /// The bodies appended, in order.
    var appended: [String] { state.withLock { $0.appended } }

    func append(_ message: StoredMessage, space: InboxSpace) async throws(StorageError) -> InboxAppendResult {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let wait = state.withLock { state in
                if state.holding { state.waiters.append(continuation) }
                return state.holding
            }
            if !wait { continuation.resume() }
        }
        state.withLock { $0.appended.append(message.body) }
        return try await store.append(message, space: space)
    }

    func messages(for recipient: String, from sender: String?) async throws(StorageError) -> [StoredMessage] {
        try await store.messages(for: recipient, from: sender)
    }

    func counts(for recipient: String) async throws(StorageError) -> [String: Int] {
        try await store.counts(for: recipient)
    }

    func remove(recipient: String, id: String) async throws(StorageError) -> Bool {
        try await store.remove(recipient: recipient, id: id)
    }

    func expire(recipient: String, before cutoff: Date) async throws(StorageError) -> Int {
        try await store.expire(recipient: recipient, before: cutoff)
    }

    func usage() async throws(StorageError) -> [String: InboxUsage] {
        try await store.usage()
    }

    func close() async {
        await store.close()
    }
}

extension ServerFrame {
    /// Whether this answers the request `id` (a receipt or an error).
    fileprivate func answers(_ id: Int) -> Bool {
        switch self {
        case .receipt(let receiptID, _, _): return receiptID == id
        case .error(let error): return error.id == id
        default: return false
        }
    }

    /// A receipt's status; nil for anything else.
    fileprivate var status: ReceiptStatus? {
        if case .receipt(_, _, let status) = self { return status }
        return nil
    }

    fileprivate var messageBody: String? {
        if case .message(let message) = self { return message.body }
        return nil
    }

    fileprivate var seq: Int? {
        if case .message(let message) = self { return message.seq }
        return nil
    }
}

import NIOCore
import NIOEmbedded
import Shared
import Testing
import TestSupport

@testable import Server

/// "Delivered" receipts: they go to the session that sent the message, or, when that
/// session has ended before the recipient acknowledged, to the sender's newer session.
@Suite("Delivery receipts", .timeLimit(.minutes(TestTimeouts.minutes(1))))
struct DeliveryReceiptTests {
    typealias Support = SessionHandlerTests

    /// Sends `body` from `sender`, waits for it at `recipient`, and returns its id and seq.
    private func relay(_ body: String, from sender: NIOAsyncTestingChannel, to recipient: NIOAsyncTestingChannel) async throws
        -> (id: String, seq: Int)
    {
        try await Support.send(.send(id: 10, body: body), to: sender)
        let arrived = try await Support.next(recipient) {
            if case .message(let message) = $0 { return message.body == body }
            return false
        }
        guard case .message(let message) = arrived else { preconditionFailure("matched a message") }
        return (message.id, message.seq)
    }

    @Test("the sender's session hears delivered once the recipient acknowledges")
    func toTheSendingSession() async throws {
        try await Support.withServices { services in
            let (alice, bob) = try await Support.pair(services, ("alice", 1), ("bob", 2))
            let (id, seq) = try await relay("hello bob", from: alice, to: bob)
            #expect(try await Support.next(alice) { $0.isReceipt } == .receipt(id: 10, messageID: id, status: .sent))
            try await Support.send(.ack(seq: seq), to: bob)
            #expect(try await Support.next(alice) { $0.isReceipt } == .delivered(messageIDs: [id]))
            _ = try await alice.finish(acceptAlreadyClosed: true)
            _ = try await bob.finish(acceptAlreadyClosed: true)
        }
    }

    @Test("a sender who logged in again before the acknowledgement hears delivered in the new session")
    func toTheSendersNewSession() async throws {
        try await Support.withServices { services in
            let (alice, bob) = try await Support.pair(services, ("alice", 1), ("bob", 2))
            let (id, seq) = try await relay("hello bob", from: alice, to: bob)
            let again = try await Support.greetedChannel(services, sessionID: 3)
            try await Support.logIn(again, as: "alice", register: false)
            try await Support.closed(alice)
            try await Support.send(.ack(seq: seq), to: bob)
            #expect(try await Support.next(again) { $0.isReceipt } == .delivered(messageIDs: [id]))
            _ = try await again.finish(acceptAlreadyClosed: true)
            _ = try await bob.finish(acceptAlreadyClosed: true)
        }
    }
}

extension ServerFrame {
    fileprivate var isReceipt: Bool {
        switch self {
        case .receipt, .delivered: return true
        default: return false
        }
    }
}

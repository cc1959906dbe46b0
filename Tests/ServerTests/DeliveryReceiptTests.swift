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

    /// `first` and `second` logged in (registered unless told) and chatting with each other.
    private func pair(
        _ services: TestServices, _ first: (String, UInt64), _ second: (String, UInt64), register: Bool = true
    ) async throws -> (NIOAsyncTestingChannel, NIOAsyncTestingChannel) {
        let a = try await Support.greetedChannel(services, sessionID: first.1)
        try await Support.logIn(a, as: first.0, register: register)
        let b = try await Support.greetedChannel(services, sessionID: second.1)
        try await Support.logIn(b, as: second.0, register: register)
        try await Support.send(.chat(id: 3, with: second.0), to: a)
        try await Support.send(.chat(id: 3, with: first.0), to: b)
        for channel in [a, b] {
            _ = try await next(channel) { $0 == .ok(id: 3, username: channel === a ? second.0 : first.0) }
        }
        return (a, b)
    }

    private func next(_ channel: NIOAsyncTestingChannel, _ match: (ServerFrame) -> Bool) async throws -> ServerFrame {
        while true {
            let frame = try await Support.nextFrame(channel)
            if match(frame) { return frame }
        }
    }

    /// Sends `body` from `sender`, waits for it at `recipient`, and returns its id and seq.
    private func relay(_ body: String, from sender: NIOAsyncTestingChannel, to recipient: NIOAsyncTestingChannel) async throws
        -> (id: String, seq: Int)
    {
        try await Support.send(.send(id: 10, body: body), to: sender)
        let arrived = try await next(recipient) {
            if case .message(let message) = $0 { return message.body == body }
            return false
        }
        guard case .message(let message) = arrived else { preconditionFailure("matched a message") }
        return (message.id, message.seq)
    }

    @Test("the sender's session hears delivered once the recipient acknowledges")
    func toTheSendingSession() async throws {
        try await Support.withServices { services in
            let (alice, bob) = try await pair(services, ("alice", 1), ("bob", 2))
            let (id, seq) = try await relay("hello bob", from: alice, to: bob)
            #expect(try await next(alice) { $0.isReceipt } == .receipt(id: 10, messageID: id, status: .sent))
            try await Support.send(.ack(seq: seq), to: bob)
            #expect(try await next(alice) { $0.isReceipt } == .delivered(messageIDs: [id]))
            _ = try await alice.finish(acceptAlreadyClosed: true)
            _ = try await bob.finish(acceptAlreadyClosed: true)
        }
    }

    @Test("a sender who logged in again before the acknowledgement hears delivered in the new session")
    func toTheSendersNewSession() async throws {
        try await Support.withServices { services in
            let (alice, bob) = try await pair(services, ("alice", 1), ("bob", 2))
            let (id, seq) = try await relay("hello bob", from: alice, to: bob)
            let again = try await Support.greetedChannel(services, sessionID: 3)
            try await Support.logIn(again, as: "alice", register: false)
            try await Support.closed(alice)
            try await Support.send(.ack(seq: seq), to: bob)
            #expect(try await next(again) { $0.isReceipt } == .delivered(messageIDs: [id]))
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

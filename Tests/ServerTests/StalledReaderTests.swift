import NIOCore
import NIOEmbedded
import Shared
import Testing
import TestSupport

@testable import Server

/// A session whose client stops reading, without sockets: the channel's writability is
/// set by hand, as NIO sets it when the write buffer passes its high mark.
@Suite("Stalled readers", .timeLimit(.minutes(TestTimeouts.minutes(1))))
struct StalledReaderTests {
    typealias Support = SessionHandlerTests

    /// Every frame written to `channel` so far.
    private func written(_ channel: NIOAsyncTestingChannel) async throws -> [ServerFrame] {
        var frames: [ServerFrame] = []
        while let buffer = try await channel.readOutbound(as: ByteBuffer.self) {
            frames.append(try ServerFrame.decode(buffer).get())
        }
        return frames
    }

    /// The `new_message` notices among the frames written to `channel` so far. Other frames
    /// (a late "paired", say) may come at any time from other loops, so only these count.
    private func newMessageNotices(_ channel: NIOAsyncTestingChannel) async throws -> [ServerFrame] {
        try await written(channel).filter {
            if case .notice(.newMessage, _) = $0 { return true }
            return false
        }
    }

    /// The receipt status (or error code) alice gets for sending `body`.
    private func send(_ body: String, id: Int, from alice: NIOAsyncTestingChannel) async throws -> String {
        try await Support.send(.send(id: id, body: body), to: alice)
        while true {
            switch try await Support.nextFrame(alice) {
            case .receipt(id, _, let status): return status.rawValue
            case .error(let error) where error.id == id: return error.code.rawValue
            default: continue
            }
        }
    }

    @Test("over the mark, messages go to the inbox; caught up, the client is told and live delivery resumes")
    func spillAndResume() async throws {
        try await Support.withServices { services in
            let (alice, bob) = try await Support.pair(services, ("alice", 1), ("bob", 2))
            #expect(try await send("live one", id: 10, from: alice) == "sent")
            _ = try await Support.next(bob) { $0.isMessage(body: "live one") }
            while try await bob.readOutbound(as: ByteBuffer.self) != nil {}

            bob.isWritable = false
            bob.pipeline.fireChannelWritabilityChanged()
            #expect(try await send("while stalled", id: 11, from: alice) == "stored")
            #expect(try await send("still stalled", id: 12, from: alice) == "stored")
            #expect(try await written(bob).filter { $0.kind == .message }.isEmpty, "no message was written to bob")

            bob.isWritable = true
            bob.pipeline.fireChannelWritabilityChanged()
            await bob.testingEventLoop.advanceTime(by: SessionHandler.caughtUpDelay)
            #expect(
                try await Support.nextFrame(bob)
                    == .notice(code: .newMessage, message: "2 new messages from alice - /chat alice to read"))
            #expect(try await send("live again", id: 13, from: alice) == "sent")
            _ = try await Support.next(bob) { $0.isMessage(body: "live again") }
            _ = try await alice.finish(acceptAlreadyClosed: true)
            _ = try await bob.finish(acceptAlreadyClosed: true)
        }
    }

    @Test("a reader that catches up and falls behind again gets one notice with the total")
    func oneNoticeForFlappingReader() async throws {
        try await Support.withServices { services in
            let (alice, bob) = try await Support.pair(services, ("alice", 1), ("bob", 2))
            bob.isWritable = false
            bob.pipeline.fireChannelWritabilityChanged()
            #expect(try await send("one", id: 11, from: alice) == "stored")
            bob.isWritable = true
            bob.pipeline.fireChannelWritabilityChanged()
            bob.isWritable = false
            bob.pipeline.fireChannelWritabilityChanged()
            #expect(try await send("two", id: 12, from: alice) == "stored")
            #expect(try await send("three", id: 13, from: alice) == "stored")
            await bob.testingEventLoop.advanceTime(by: SessionHandler.caughtUpDelay)
            #expect(try await newMessageNotices(bob).isEmpty, "no notice while behind")
            bob.isWritable = true
            bob.pipeline.fireChannelWritabilityChanged()
            await bob.testingEventLoop.advanceTime(by: SessionHandler.caughtUpDelay)
            #expect(
                try await Support.nextFrame(bob)
                    == .notice(code: .newMessage, message: "3 new messages from alice - /chat alice to read"))
            await bob.testingEventLoop.advanceTime(by: SessionHandler.caughtUpDelay)
            #expect(try await newMessageNotices(bob).isEmpty, "one notice, not one per catch-up")
            _ = try await alice.finish(acceptAlreadyClosed: true)
            _ = try await bob.finish(acceptAlreadyClosed: true)
        }
    }

    @Test("a client that stays over the mark past the timeout is disconnected and its partner told")
    func disconnectAfterTimeout() async throws {
        try await Support.withServices { base in
            var services = base
            services.stalledReaderTimeout = .seconds(30)
            let (alice, bob) = try await Support.pair(services, ("alice", 1), ("bob", 2))
            bob.isWritable = false
            bob.pipeline.fireChannelWritabilityChanged()
            await bob.testingEventLoop.advanceTime(by: .seconds(29))
            #expect(bob.isActive, "closed before its time")
            await bob.testingEventLoop.advanceTime(by: .seconds(2))
            try await Support.closed(bob)
            while true {
                if case .notice(.partnerDisconnected, _) = try await Support.nextFrame(alice) { break }
            }
            _ = try await alice.finish(acceptAlreadyClosed: true)
            _ = try await bob.finish(acceptAlreadyClosed: true)
        }
    }
}

extension ServerFrame {
    fileprivate func isMessage(body: String) -> Bool {
        if case .message(let message) = self { return message.body == body }
        return false
    }
}

import ChatSession
import NIOCore
import NIOEmbedded
import Shared
import Testing

/// The session handler on an `EmbeddedChannel`: frames in, frames out, time advanced by
/// hand. Each test ends with `finish().isClean`.
@Suite("Client session handler")
struct ClientSessionHandlerTests {
    /// What the handler reported, in order, with the answers the test saw interleaved.
    final class Log {
        var entries: [String] = []
        var events: [SessionEvent] = []
    }

    struct Fixture {
        let channel: EmbeddedChannel
        let handler: ClientSessionHandler
        let log: Log

        var loop: EmbeddedEventLoop { channel.embeddedEventLoop }

        /// Frames written and flushed since the last call.
        func written() throws -> [ClientFrame] {
            loop.run()
            var frames: [ClientFrame] = []
            while let lines = try channel.readOutbound(as: ByteBuffer.self) {
                #expect(lines.readableBytesView.last == UInt8(ascii: "\n"), "whole lines only")
                for line in lines.readableBytesView.split(separator: UInt8(ascii: "\n")) {
                    frames.append(try ClientFrame.decode(ByteBuffer(bytes: line)).get())
                }
            }
            return frames
        }

        /// One line from the server, as the line decoder passes it on.
        func receive(_ frame: ServerFrame) throws {
            var line = ByteBuffer()
            frame.encode(into: &line)
            try channel.writeInbound(line)
            loop.run()
        }
    }

    private func fixture(_ configure: (inout SessionConfiguration) -> Void = { _ in }) throws -> Fixture {
        var configuration = SessionConfiguration(agent: "test/1", keepAliveInterval: nil)
        configure(&configuration)
        let loop = EmbeddedEventLoop()
        let handler = ClientSessionHandler(configuration: configuration, eventLoop: loop)
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(handler)
        let log = Log()
        handler.onEvent = { event in
            log.events.append(event)
            log.entries.append("\(event)".prefix(while: { $0 != "(" }).description)
        }
        return Fixture(channel: channel, handler: handler, log: log)
    }

    /// A fixture that has said hello and been greeted.
    private func greeted(_ configure: (inout SessionConfiguration) -> Void = { _ in }) throws -> Fixture {
        let fixture = try fixture(configure)
        let hello = fixture.handler.hello()
        #expect(try fixture.written() == [.hello(version: ProtocolVersion.current, agent: "test/1")])
        try fixture.receive(.hello(version: ProtocolVersion.current, agent: "chat-server/0.1.0"))
        #expect(try hello.wait() == "chat-server/0.1.0")
        return fixture
    }

    private func message(_ id: String, seq: Int, stored: Bool = false) -> ServerFrame {
        .message(ChatMessage(id: id, from: "bob", body: "hi", sentAtMilliseconds: 1, stored: stored, seq: seq))
    }

    @Test("the handshake event completes the handshake future")
    func handshake() throws {
        let fixture = try fixture()
        let done = TLSHandshakeCompleted(protocolVersion: "TLSv1.3", cipherSuite: "TLS_AES_256_GCM_SHA384")
        fixture.channel.pipeline.fireUserInboundEventTriggered(done)
        #expect(try fixture.handler.handshakeCompleted.wait() == done)
        #expect(try fixture.channel.finish().isClean)
    }

    @Test("an answer arrives after the events sent before it, and stored messages wait for the caller's ack")
    func answerAfterEarlierEvents() throws {
        let fixture = try greeted()
        let answer = fixture.handler.request(.chat(with: "bob"))
        answer.assumeIsolated().whenSuccess { _ in fixture.log.entries.append("answer") }
        #expect(try fixture.written() == [.chat(id: 1, with: "bob")])

        try fixture.receive(message("m1", seq: 1, stored: true))
        try fixture.receive(.notice(code: .paired, message: "now chatting with bob"))
        try fixture.receive(.ok(id: 1, username: "bob"))
        #expect(fixture.log.entries == ["message", "notice", "answer"])
        #expect(try answer.wait() == .ok(id: 1, username: "bob"))
        fixture.loop.advanceTime(by: .seconds(1))
        #expect(try fixture.written().isEmpty, "nothing is acknowledged before it is shown")

        fixture.handler.acknowledge(seq: 1)
        #expect(try fixture.written().isEmpty, "the ack waits a little for company")
        fixture.loop.advanceTime(by: ClientAcknowledgement.delay)
        #expect(try fixture.written() == [.ack(seq: 1)])
        #expect(try fixture.channel.finish().isClean)
    }

    @Test("one ack covers a burst; a gap not yet shown holds the ack back")
    func cumulativeAck() throws {
        let fixture = try greeted()
        for seq in 1...4 { try fixture.receive(message("m\(seq)", seq: seq)) }
        fixture.handler.acknowledge(seq: 1)
        fixture.handler.acknowledge(seq: 3)
        fixture.loop.advanceTime(by: ClientAcknowledgement.delay)
        #expect(try fixture.written() == [.ack(seq: 1)], "2 is not shown yet, so 3 is not covered")
        fixture.handler.acknowledge(seq: 2)
        fixture.handler.acknowledge(seq: 4)
        fixture.loop.advanceTime(by: ClientAcknowledgement.delay)
        #expect(try fixture.written() == [.ack(seq: 4)])
        #expect(try fixture.channel.finish().isClean)
    }

    @Test("a duplicate is dropped and acknowledged")
    func duplicateDropped() throws {
        let fixture = try greeted()
        try fixture.receive(message("m1", seq: 1))
        fixture.handler.acknowledge(seq: 1)
        fixture.loop.advanceTime(by: ClientAcknowledgement.delay)
        #expect(try fixture.written() == [.ack(seq: 1)])
        try fixture.receive(message("m1", seq: 2))
        #expect(fixture.log.entries == ["message"])
        fixture.loop.advanceTime(by: ClientAcknowledgement.delay)
        #expect(try fixture.written() == [.ack(seq: 2)])
        #expect(try fixture.channel.finish().isClean)
    }

    @Test("automatic acknowledgement: the ack goes out after the event handler ran")
    func automaticAck() throws {
        let fixture = try greeted { $0.acknowledgement = .automatic }
        try fixture.receive(message("m1", seq: 1))
        try fixture.receive(message("m2", seq: 2))
        #expect(fixture.log.entries == ["message", "message"])
        fixture.loop.advanceTime(by: ClientAcknowledgement.delay)
        #expect(try fixture.written() == [.ack(seq: 2)])
        #expect(try fixture.channel.finish().isClean)
    }

    @Test("a long burst is acknowledged at once every promptAfter messages, the rest after the delay")
    func promptAck() throws {
        let fixture = try greeted { $0.acknowledgement = .automatic }
        let prompt = ClientAcknowledgement.promptAfter
        for seq in 1...(2 * prompt + 3) { try fixture.receive(message("m\(seq)", seq: seq)) }
        #expect(try fixture.written() == [.ack(seq: prompt), .ack(seq: 2 * prompt)], "no time has passed")
        fixture.loop.advanceTime(by: ClientAcknowledgement.delay)
        #expect(try fixture.written() == [.ack(seq: 2 * prompt + 3)])
        #expect(try fixture.channel.finish().isClean)
    }

    @Test("closing acknowledges what was shown first")
    func ackBeforeClose() throws {
        let fixture = try greeted()
        try fixture.receive(message("m1", seq: 1))
        fixture.handler.acknowledge(seq: 1)
        fixture.handler.close()
        #expect(try fixture.written() == [.ack(seq: 1)])
        #expect(try fixture.channel.finish(acceptAlreadyClosed: true).isClean)
    }

    @Test("frames written in one turn leave in one flush")
    func oneFlushPerTurn() throws {
        let fixture = try greeted()
        fixture.handler.post(.send(body: "one"))
        fixture.handler.post(.send(body: "two"))
        #expect(try fixture.channel.readOutbound(as: ByteBuffer.self) == nil, "not flushed before the turn ends")
        fixture.loop.run()
        let lines = try fixture.channel.readOutbound(as: ByteBuffer.self)
        var expected = ByteBuffer()
        for frame in [ClientFrame.send(id: 1, body: "one"), .send(id: 2, body: "two")] {
            frame.encode(into: &expected)
            expected.writeInteger(UInt8(ascii: "\n"))
        }
        #expect(lines == expected, "both frames in one buffer, each a line")
        #expect(try fixture.channel.readOutbound(as: ByteBuffer.self) == nil)
        try fixture.receive(.receipt(id: 2, messageID: "x", status: .sent))
        guard case .reply(.receipt(2, "x", .sent)) = fixture.log.events.last else {
            Issue.record("a posted request's answer is an event: \(fixture.log.events)")
            return
        }
        #expect(try fixture.channel.finish().isClean)
    }

    @Test("keep-alive pings go out each interval and their answers are swallowed")
    func keepAlive() throws {
        let fixture = try greeted { $0.keepAliveInterval = .seconds(30) }
        fixture.loop.advanceTime(by: .seconds(29))
        #expect(try fixture.written().isEmpty)
        fixture.loop.advanceTime(by: .seconds(1))
        #expect(try fixture.written() == [.ping(id: 1)])
        try fixture.receive(.ok(id: 1))
        #expect(fixture.log.events.isEmpty)
        fixture.loop.advanceTime(by: .seconds(30))
        #expect(try fixture.written() == [.ping(id: 2)])
        #expect(try fixture.channel.finish().isClean)
    }

    @Test("no hello from the server in time fails the greeting and closes")
    func helloTimeout() throws {
        let fixture = try fixture { $0.helloTimeout = .seconds(5) }
        let hello = fixture.handler.hello()
        _ = try fixture.written()
        fixture.loop.advanceTime(by: .seconds(5))
        #expect(throws: SessionError.self) { try hello.wait() }
        #expect(!fixture.channel.isActive)
        guard case .closed(.failed(SessionError.helloTimedOut)) = fixture.log.events.last else {
            Issue.record("closed with the reason: \(fixture.log.events)")
            return
        }
        #expect(try fixture.channel.finish(acceptAlreadyClosed: true).isClean)
    }

    @Test("the server closing reports closed first, then fails the requests still waiting")
    func closedByServer() throws {
        let fixture = try greeted()
        let answer = fixture.handler.request(.who)
        answer.assumeIsolated().whenFailure { _ in fixture.log.entries.append("failed") }
        _ = try fixture.written()
        fixture.channel.pipeline.fireChannelInactive()
        #expect(fixture.log.entries == ["closed", "failed"])
        guard case .closed(.closedByServer) = fixture.log.events.last else {
            Issue.record("closed by the server: \(fixture.log.events)")
            return
        }
        #expect(throws: SessionError.self) { try answer.wait() }
        #expect(try fixture.channel.finish().isClean)
        #expect(fixture.log.events.count == 1, "closed is reported once")
    }

    @Test("closing from this side says so")
    func closedByClient() throws {
        let fixture = try greeted()
        fixture.handler.close()
        fixture.loop.run()
        guard case .closed(.closedByClient) = fixture.log.events.last else {
            Issue.record("closed by the client: \(fixture.log.events)")
            return
        }
        #expect(try fixture.channel.finish(acceptAlreadyClosed: true).isClean)
    }
}

import NIOCore
import NIOEmbedded
import NIOTestUtils
import Shared
import Testing

@Suite struct LineFrameCodecTests {
    private func buffer(_ string: String) -> ByteBuffer {
        ByteBuffer(string: string)
    }

    private func makeChannel(maxFrameLength: Int = LineFrameDecoder.defaultMaxFrameLength) -> EmbeddedChannel {
        EmbeddedChannel(handler: ByteToMessageHandler(LineFrameDecoder(maxFrameLength: maxFrameLength)))
    }

    private func readLines(_ channel: EmbeddedChannel) throws -> [String] {
        var lines: [String] = []
        while let line = try channel.readInbound(as: ByteBuffer.self) {
            lines.append(String(buffer: line))
        }
        return lines
    }

    // MARK: Valid input, checked by NIO's verifier (drip-fed, whole, and many at once)

    @Test func verifierAcceptsValidInput() throws {
        let ping = #"{"id":1,"type":"ping"}"#
        try ByteToMessageDecoderVerifier.verifyDecoder(
            stringInputOutputPairs: [
                ("\(ping)\n", [self.buffer(ping)]),
                ("\(ping)\r\n", [self.buffer(ping)]),
                ("a\nb\r\nc\n", [self.buffer("a"), self.buffer("b"), self.buffer("c")]),
                ("with \r inside\n", [self.buffer("with \r inside")]),
                ("\n", []),
                ("\r\n", []),
                ("ünïcödé\n", [self.buffer("ünïcödé")]),
            ],
            decoderFactory: { LineFrameDecoder() }
        )
    }

    @Test func verifierAcceptsFramesOfExactlyTheMaximum() throws {
        let max = String(repeating: "x", count: 16)
        try ByteToMessageDecoderVerifier.verifyDecoder(
            stringInputOutputPairs: [
                ("\(max)\n", [self.buffer(max)]),
                ("\(max)\r\n", [self.buffer(max)]),
            ],
            decoderFactory: { LineFrameDecoder(maxFrameLength: 16) }
        )
    }

    // MARK: Framing details through a channel

    @Test func stripsCRLF() throws {
        let channel = self.makeChannel()
        try channel.writeInbound(self.buffer("one\r\ntwo\n"))
        #expect(try self.readLines(channel) == ["one", "two"])
        #expect(try channel.finish().isClean)
    }

    @Test func multipleFramesInOneBuffer() throws {
        let channel = self.makeChannel()
        try channel.writeInbound(self.buffer("{\"a\":1}\n{\"b\":2}\r\n{\"c\":3}\npart"))
        #expect(try self.readLines(channel) == [#"{"a":1}"#, #"{"b":2}"#, #"{"c":3}"#])
        try channel.writeInbound(self.buffer("ial\n"))
        #expect(try self.readLines(channel) == ["partial"])
        #expect(try channel.finish().isClean)
    }

    @Test func frameSplitAcrossOneByteWrites() throws {
        let channel = self.makeChannel()
        let frame = Array(#"{"id":1,"type":"ping"}"#.utf8) + [UInt8(ascii: "\r"), UInt8(ascii: "\n")]
        for byte in frame.dropLast() {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
            #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        }
        try channel.writeInbound(ByteBuffer(bytes: [frame.last!]))
        let line = try #require(try channel.readInbound(as: ByteBuffer.self))
        #expect(ClientFrame.decode(line) == .success(.ping(id: 1)))
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        #expect(try channel.finish().isClean)
    }

    @Test func partialLineAtEOFIsDropped() throws {
        let channel = self.makeChannel()
        try channel.writeInbound(self.buffer("complete\nunterminated"))
        #expect(try self.readLines(channel) == ["complete"])
        // finish() runs decodeLast; the partial line must neither appear nor raise an error.
        #expect(try channel.finish().isClean)
    }

    // MARK: Maximum frame length

    @Test func exactlyMaxIsAcceptedAndMaxPlusOneRefused() throws {
        let accepted = self.makeChannel(maxFrameLength: 8)
        try accepted.writeInbound(self.buffer("12345678\n"))
        #expect(try self.readLines(accepted) == ["12345678"])
        #expect(try accepted.finish().isClean)

        let refused = self.makeChannel(maxFrameLength: 8)
        #expect(throws: ProtocolError.frameTooLarge(limit: 8)) {
            try refused.writeInbound(self.buffer("123456789\n"))
        }
        #expect(try self.readLines(refused) == [])
        #expect(try refused.finish().isClean)
    }

    @Test func frameTooLargeCarriesItsCode() throws {
        let channel = self.makeChannel(maxFrameLength: 2)
        let error = #expect(throws: ProtocolError.self) {
            try channel.writeInbound(self.buffer("abc\n"))
        }
        #expect(error?.code == .frameTooLarge)
        #expect(error?.id == nil)
        #expect(try channel.finish().isClean)
    }

    /// A peer that never sends a newline is cut off as soon as the frame cannot fit, not when it
    /// finally ends the line.
    @Test func unterminatedOversizePrefixIsRefusedEarly() throws {
        let channel = self.makeChannel(maxFrameLength: 8)
        try channel.writeInbound(self.buffer("12345678"))
        #expect(throws: ProtocolError.frameTooLarge(limit: 8)) {
            try channel.writeInbound(self.buffer("9"))
        }
        #expect(try channel.finish().isClean)
    }

    /// Max bytes plus "\r" may still end as a valid "\r\n" line, so it must not be refused yet.
    @Test func maxPlusCarriageReturnWaitsForTheNewline() throws {
        let channel = self.makeChannel(maxFrameLength: 8)
        try channel.writeInbound(self.buffer("12345678\r"))
        #expect(try self.readLines(channel) == [])
        try channel.writeInbound(self.buffer("\n"))
        #expect(try self.readLines(channel) == ["12345678"])

        try channel.writeInbound(self.buffer("12345678\r"))
        #expect(throws: ProtocolError.frameTooLarge(limit: 8)) {
            try channel.writeInbound(self.buffer("x"))
        }
        #expect(try channel.finish().isClean)
    }

    /// After an oversize frame nothing more is emitted, even complete valid lines in the same or
    /// later reads: the error is fired once and later data only reports the error state.
    @Test func nothingIsEmittedAfterFrameTooLarge() throws {
        let channel = self.makeChannel(maxFrameLength: 8)
        try channel.writeInbound(self.buffer("ok\n"))
        #expect(try self.readLines(channel) == ["ok"])

        #expect(throws: ProtocolError.frameTooLarge(limit: 8)) {
            try channel.writeInbound(self.buffer("far too long\nvalid\n"))
        }
        #expect(try self.readLines(channel) == [])

        #expect(throws: ByteToMessageDecoderError.self) {
            try channel.writeInbound(self.buffer("valid\n"))
        }
        #expect(try self.readLines(channel) == [])
        #expect(try channel.finish().isClean)
    }

    /// The decoder stops by itself, without relying on ByteToMessageHandler's error state.
    @Test func decoderItselfStopsAfterFrameTooLarge() throws {
        let decoder = LineFrameDecoder(maxFrameLength: 4)
        var buffer = self.buffer("toolong\nok\n")
        #expect(throws: ProtocolError.frameTooLarge(limit: 4)) {
            _ = try decoder.decode(buffer: &buffer)
        }
        buffer.writeString("fine\n")
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(try decoder.decodeLast(buffer: &buffer, seenEOF: true) == nil)
        #expect(buffer.readableBytes == 0)
    }

    @Test func defaultMaximumIs64KiB() throws {
        #expect(LineFrameDecoder.defaultMaxFrameLength == 65_536)
        let channel = self.makeChannel()
        let max = String(repeating: "x", count: 65_536)
        try channel.writeInbound(self.buffer(max + "\n"))
        #expect(try self.readLines(channel) == [max])
        #expect(throws: ProtocolError.frameTooLarge(limit: 65_536)) {
            try channel.writeInbound(self.buffer(max + "x\n"))
        }
        #expect(try channel.finish().isClean)
    }

    // MARK: Encoder

    @Test func encoderAppendsNewline() throws {
        let channel = EmbeddedChannel(handler: LineFrameEncoder())
        try channel.writeOutbound(ServerFrame.ok(id: 1).encode(allocator: channel.allocator))
        try channel.writeOutbound(ServerFrame.ok(id: 2).encode(allocator: channel.allocator))
        // Each write is flushed at once by writeOutbound: one buffer per line.
        var written = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            written += String(buffer: buffer)
        }
        #expect(written == #"{"id":1,"type":"ok"}"# + "\n" + #"{"id":2,"type":"ok"}"# + "\n")
        #expect(try channel.finish().isClean)
    }

    @Test func encoderGathersLinesUntilTheFlush() throws {
        let channel = EmbeddedChannel(handler: LineFrameEncoder())
        let first = channel.eventLoop.makePromise(of: Void.self)
        let second = channel.eventLoop.makePromise(of: Void.self)
        channel.write(ServerFrame.ok(id: 1).encode(allocator: channel.allocator), promise: first)
        channel.write(ServerFrame.ok(id: 2).encode(allocator: channel.allocator), promise: nil)
        channel.write(ServerFrame.ok(id: 3).encode(allocator: channel.allocator), promise: second)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "nothing goes down before the flush")
        channel.flush()
        let lines = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(String(buffer: lines) == #"{"id":1,"type":"ok"}"# + "\n" + #"{"id":2,"type":"ok"}"# + "\n" + #"{"id":3,"type":"ok"}"# + "\n")
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "one write per flush")
        try first.futureResult.wait()
        try second.futureResult.wait()
        #expect(try channel.finish().isClean)
    }

    /// Lines gathered but not flushed go down before a close (the TLS handler sends what was
    /// written ahead of its close_notify) and when the channel goes inactive (the layer below
    /// then fails their promises), so none is lost or stranded.
    @Test func encoderPassesGatheredLinesOnBeforeCloseAndOnInactive() throws {
        let closing = EmbeddedChannel()
        let recorder = OutboundRecorder()
        try closing.pipeline.syncOperations.addHandlers([recorder, LineFrameEncoder()])
        closing.write(ServerFrame.ok(id: 1).encode(allocator: closing.allocator), promise: nil)
        #expect(recorder.events.isEmpty)
        _ = try? closing.close().wait()
        #expect(recorder.events == ["write " + #"{"id":1,"type":"ok"}"# + "\n", "close"])

        let dropping = EmbeddedChannel()
        let below = OutboundRecorder()
        try dropping.pipeline.syncOperations.addHandlers([below, LineFrameEncoder()])
        dropping.write(ServerFrame.ok(id: 2).encode(allocator: dropping.allocator), promise: nil)
        dropping.pipeline.fireChannelInactive()
        #expect(below.events == ["write " + #"{"id":2,"type":"ok"}"# + "\n"])
        _ = try? dropping.finish()
    }

    /// Encoder output fed to the decoder gives back the frames: the two halves agree.
    @Test func encoderAndDecoderAgree() throws {
        let sender = EmbeddedChannel(handler: LineFrameEncoder())
        let receiver = self.makeChannel()
        let frames: [ServerFrame] = [.hello(version: 1, agent: "s"), .ok(id: 1, username: "a"), .notice(.shutdown)]
        for frame in frames {
            try sender.writeOutbound(frame.encode(allocator: sender.allocator))
        }
        while let bytes = try sender.readOutbound(as: ByteBuffer.self) {
            try receiver.writeInbound(bytes)
        }
        var received: [ServerFrame] = []
        while let line = try receiver.readInbound(as: ByteBuffer.self) {
            received.append(try ServerFrame.decode(line).get())
        }
        #expect(received == frames)
        #expect(try sender.finish().isClean)
        #expect(try receiver.finish().isClean)
    }
}

/// Records the writes and closes that reach it, in order, and passes them on.
private final class OutboundRecorder: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var events: [String] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        events.append("write " + String(buffer: unwrapOutboundIn(data)))
        context.write(data, promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        events.append("close")
        context.close(mode: mode, promise: promise)
    }
}

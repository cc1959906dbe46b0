import NIOCore
import NIOEmbedded
import Testing
import TestSupport

@testable import Shared

/// Seeded fuzzing of everything that reads bytes from the network: the frame decoders, the
/// line splitter and the TLS record layer. Inputs are the committed corpus
/// (`Tests/FuzzCorpus`) bent by `FrameMutator`; the same seed gives the same inputs, so a
/// failure names an input the next run reproduces.
///
/// The properties are the ones a hostile peer attacks: nothing crashes; anything accepted
/// re-encodes to something accepted as the same frame; invalid UTF-8 is never accepted;
/// every refusal becomes an error reply that a client can itself decode.
///
/// The loops yield now and then: they are seconds of CPU, and the suite's other tests
/// share the few cooperative threads (one per core) with them.
@Suite("Fuzzing the frame decoders and the TLS record layer")
struct FrameFuzzTests {
    static let clientInputs = 100_000
    static let serverInputs = 30_000
    static let lineStreams = 3_000
    static let tlsInputs = 3_000

    @Test("every corpus line is a valid frame, so the corpus cannot rot")
    func corpusIsValid() throws {
        for line in try FrameMutator.loadCorpus("client-frames.jsonl") {
            #expect(throws: Never.self, "\(String(decoding: line, as: UTF8.self))") {
                try ClientFrame.decode(line).get()
            }
        }
        for line in try FrameMutator.loadCorpus("server-frames.jsonl") {
            #expect(throws: Never.self, "\(String(decoding: line, as: UTF8.self))") {
                try ServerFrame.decode(line).get()
            }
        }
    }

    @Test("100,000 mutated client frames: accepted ones round-trip, refusals are answerable")
    func clientFrames() async throws {
        var mutator = FrameMutator(seed: 0xC11E_4700, corpus: try FrameMutator.loadCorpus("client-frames.jsonl"))
        var accepted = 0
        var failures = 0
        for index in 0..<Self.clientInputs {
            if index % 500 == 0 { await Task.yield() }
            let input = mutator.mutatedInput()
            switch ClientFrame.decode(input) {
            case .success(let frame):
                accepted += 1
                if String(validating: input, as: UTF8.self) == nil {
                    failures += 1
                    Issue.record("input \(index) is not UTF-8 but was accepted: \(input)")
                }
                if (try? ClientFrame.decode(frame.encode()).get()) != frame {
                    failures += 1
                    Issue.record("input \(index) does not round-trip: \(frame)")
                }
            case .failure(let error):
                // The server answers every refusal with an error frame; the client must be
                // able to read it, whatever the input echoed into its message.
                let reply = ServerFrame.error(error).encode()
                if (try? ServerFrame.decode(reply).get()) != .error(error) {
                    failures += 1
                    Issue.record("input \(index): the error reply does not decode: \(String(decoding: reply, as: UTF8.self))")
                }
            }
            if failures > 10 { break }
        }
        // Both sides of the decoder were exercised, not only the refusals.
        #expect(accepted > Self.clientInputs / 50, "only \(accepted) inputs were accepted")
        #expect(accepted < Self.clientInputs / 2, "\(accepted) accepted: the mutator is too gentle")
    }

    @Test("30,000 mutated server frames: the client's decoder never crashes, accepted ones round-trip")
    func serverFrames() async throws {
        var mutator = FrameMutator(seed: 0x5E4E_4700, corpus: try FrameMutator.loadCorpus("server-frames.jsonl"))
        var accepted = 0
        for index in 0..<Self.serverInputs {
            if index % 500 == 0 { await Task.yield() }
            let input = mutator.mutatedInput()
            guard case .success(let frame) = ServerFrame.decode(input) else { continue }
            accepted += 1
            #expect(String(validating: input, as: UTF8.self) != nil, "input \(index) is not UTF-8 but was accepted")
            #expect((try? ServerFrame.decode(frame.encode()).get()) == frame, "input \(index) does not round-trip: \(frame)")
        }
        #expect(accepted > Self.serverInputs / 50, "only \(accepted) inputs were accepted")
    }

    /// What the line decoder must produce for `stream`: the lines split at "\n", one "\r"
    /// before it dropped, empty lines skipped, a trailing partial line dropped; or, once a
    /// line (or the unterminated rest) is longer than `limit`, the lines before it and then
    /// `frameTooLarge`.
    private static func expectedLines(_ stream: [UInt8], limit: Int) -> (lines: [[UInt8]], tooLarge: Bool) {
        var lines: [[UInt8]] = []
        var rest = stream[...]
        while let newline = rest.firstIndex(of: UInt8(ascii: "\n")) {
            var line = Array(rest[rest.startIndex..<newline])
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if line.count > limit { return (lines, true) }
            if !line.isEmpty { lines.append(line) }
            rest = rest[(newline + 1)...]
        }
        let partialTooLong = rest.count > limit + 1 || (rest.count == limit + 1 && rest.last != UInt8(ascii: "\r"))
        return (lines, partialTooLong)
    }

    @Test("3,000 streams of mutated frames cut at random points split exactly as specified")
    func lineSplitting() async throws {
        var mutator = FrameMutator(seed: 0x11AE_5717, corpus: try FrameMutator.loadCorpus("client-frames.jsonl"))
        for index in 0..<Self.lineStreams {
            if index % 100 == 0 { await Task.yield() }
            let limit = 40 + mutator.below(200)
            var stream: [UInt8] = []
            for _ in 0...mutator.below(12) {
                stream += mutator.mutatedInput()
                stream += mutator.below(5) == 0 ? Array("\r\n".utf8) : [UInt8(ascii: "\n")]
            }
            let expected = Self.expectedLines(stream, limit: limit)

            let decoder = LineFrameDecoder(maxFrameLength: limit)
            var buffer = ByteBuffer()
            var lines: [[UInt8]] = []
            var tooLarge = false
            var offset = 0
            feeding: while offset < stream.count {
                let chunk = min(stream.count - offset, 1 + mutator.below(64))
                buffer.writeBytes(stream[offset..<(offset + chunk)])
                offset += chunk
                do {
                    while let frame = try decoder.decode(buffer: &buffer) {
                        lines.append(Array(frame.readableBytesView))
                    }
                } catch {
                    #expect(error as? ProtocolError == .frameTooLarge(limit: limit))
                    tooLarge = true
                    break feeding
                }
            }
            if !tooLarge {
                do {
                    while let frame = try decoder.decodeLast(buffer: &buffer, seenEOF: true) {
                        lines.append(Array(frame.readableBytesView))
                    }
                } catch {
                    tooLarge = true
                }
            }
            #expect(lines == expected.lines, "stream \(index) (limit \(limit)) split differently")
            #expect(tooLarge == expected.tooLarge, "stream \(index) (limit \(limit)): frameTooLarge \(tooLarge)")
            if lines != expected.lines || tooLarge != expected.tooLarge { break }
        }
    }

    /// Records whether anything reached the application above TLS.
    private final class PlaintextProbe: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var plaintextBytes = 0
        var handshakes = 0
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            plaintextBytes += unwrapInboundIn(data).readableBytes
        }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is TLSHandshakeCompleted { handshakes += 1 }
        }
        func errorCaught(context: ChannelHandlerContext, error: Error) {}
    }

    /// A real client's first flight (its ClientHello record), to mutate.
    private static func clientHello(_ certificates: CertificateFixture) throws -> [UInt8] {
        let client = EmbeddedChannel()
        try client.pipeline.syncOperations.addHandler(
            TLSHandler(context: try TLSContext.client(caFile: certificates.caFile), serverHostname: "localhost"))
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        var hello: [UInt8] = []
        while let bytes = try client.readOutbound(as: ByteBuffer.self) { hello += bytes.readableBytesView }
        _ = try? client.finish()
        return hello
    }

    @Test("3,000 garbage and mutated TLS records: no crash, no plaintext, no handshake")
    func garbageTLSRecords() async throws {
        let certificates = try CertificateFixture.shared()
        let context = try TLSContext.server(
            certificateChainFile: certificates.certificateFile, privateKeyFile: certificates.privateKeyFile)
        let hello = try Self.clientHello(certificates)
        #expect(hello.first == 0x16, "a TLS handshake record starts with content type 22")
        var mutator = FrameMutator(seed: 0x7150_0000, corpus: [hello])
        var closed = 0
        for index in 0..<Self.tlsInputs {
            if index % 50 == 0 { await Task.yield() }
            let input: [UInt8]
            switch index % 3 {
            case 0:  // a ClientHello bent by the usual mutations
                input = mutator.mutatedInput()
            case 1:  // a well-formed record header over random bytes, of every content type
                let type = UInt8(20 + mutator.below(6))
                let length = mutator.below(600)
                input = [type, 0x03, UInt8(1 + mutator.below(4)), UInt8(length >> 8), UInt8(length & 0xFF)]
                    + (0..<length).map { _ in UInt8(truncatingIfNeeded: mutator.next()) }
            default:  // a valid hello followed by random records
                input = hello + (0..<mutator.below(300)).map { _ in UInt8(truncatingIfNeeded: mutator.next()) }
            }
            let server = EmbeddedChannel()
            let probe = PlaintextProbe()
            try server.pipeline.syncOperations.addHandler(TLSHandler(context: context))
            try server.pipeline.syncOperations.addHandler(probe)
            try await server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
            // Fed in two pieces, so records split across reads are covered too.
            let cut = mutator.below(input.count + 1)
            for piece in [input[..<cut], input[cut...]] where server.isActive && !piece.isEmpty {
                _ = try? server.writeInbound(ByteBuffer(bytes: piece))
            }
            if !server.isActive { closed += 1 }
            #expect(probe.plaintextBytes == 0, "input \(index): plaintext reached the application")
            #expect(probe.handshakes == 0, "input \(index): a handshake completed without a client")
            while (try? server.readOutbound(as: ByteBuffer.self)) != nil {}
            _ = try? server.finish()
        }
        // Most garbage must be refused outright, not left waiting for the handshake timeout.
        #expect(closed > Self.tlsInputs / 2, "only \(closed) of \(Self.tlsInputs) connections were closed")
    }
}

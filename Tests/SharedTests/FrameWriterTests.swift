import NIOCore
import Testing
import TestSupport

@testable import Shared

/// The two-pass encoder (`FrameSizer`, then `FrameWriter`) against the encoder it replaced
/// (`LegacyFrameEncoding`) and against Foundation's: not a single output byte may differ, and
/// the sizer must never undercount (the writer would stop the process).
@Suite struct FrameWriterTests {
    // MARK: - Encoding

    /// A seeded source of awkward strings: escapes and multi-byte characters at every position,
    /// of every length around the eight-byte words the scans work in.
    private struct Strings {
        var mutator: FrameMutator
        static let pieces: [String] = (0..<0x20).map { String(UnicodeScalar(UInt8($0))) } + [
            "\"", "\\", "/", "\u{7F}", "é", "中", "😀", "\u{2028}", "\u{FEFF}", "a", "b", "z", "0", " ", ".", "~",
        ]

        mutating func next() -> String {
            let length = mutator.below(40)
            let plain = mutator.below(3) == 0
            var text = ""
            for _ in 0..<length {
                // Mostly plain letters, so runs span whole words between the awkward bytes.
                if plain || mutator.below(4) != 0 {
                    text.append(Character(UnicodeScalar(UInt8(ascii: "a") + UInt8(mutator.below(26)))))
                } else {
                    text += Self.pieces[mutator.below(Self.pieces.count)]
                }
            }
            return text
        }
    }

    private static func randomFrames(count: Int) -> ([ServerFrame], [ClientFrame]) {
        var strings = Strings(mutator: FrameMutator(seed: 0xE4C0_DE00, corpus: [[0]]))
        var numbers = FrameMutator(seed: 0x4E0B_0000, corpus: [[0]])
        func number() -> Int {
            switch numbers.below(4) {
            case 0: [0, 1, -1, 9, 10, -10, 99, 100, Int.max, Int.min, Int.max - 1, Int.min + 1][numbers.below(12)]
            case 1: Int(truncatingIfNeeded: numbers.next())
            default: Int(truncatingIfNeeded: numbers.next() >> UInt64(numbers.below(64))) * (numbers.below(2) == 0 ? 1 : -1)
            }
        }
        var server: [ServerFrame] = []
        var client: [ClientFrame] = []
        for _ in 0..<count {
            let optionalID = numbers.below(3) == 0 ? nil : number()
            server += [
                .hello(version: number(), agent: strings.next()),
                .ok(id: number(), username: numbers.below(2) == 0 ? nil : strings.next()),
                .error(ProtocolError(.unknown(strings.next()), message: strings.next(), id: optionalID,
                    retryAfter: numbers.below(2) == 0 ? nil : number())),
                .notice(code: .unknown(strings.next()), message: strings.next()),
                .message(ChatMessage(id: strings.next(), from: strings.next(), body: strings.next(),
                    sentAtMilliseconds: Int64(number()), stored: numbers.below(2) == 0, seq: number())),
                .receipt(id: optionalID, messageID: strings.next(), status: ReceiptStatus.allCases[numbers.below(2)]),
                .delivered(messageIDs: (0..<numbers.below(4)).map { _ in strings.next() }),
                .inbox(id: optionalID, counts: Dictionary((0..<numbers.below(4)).map { _ in (strings.next(), number()) },
                    uniquingKeysWith: { a, _ in a }), expired: number()),
                .who(id: number(), users: (0..<numbers.below(4)).map { _ in
                    PresenceEntry(username: strings.next(), status: numbers.below(2) == 0 ? .free : .chatting) }),
            ]
            client += [
                .hello(version: number(), agent: strings.next()),
                .register(id: number(), username: strings.next(), password: strings.next()),
                .login(id: number(), username: strings.next(), password: strings.next()),
                .logout(id: number()), .ping(id: number()), .chat(id: number(), with: strings.next()),
                .leave(id: number()), .send(id: number(), body: strings.next()), .ack(seq: number()),
                .who(id: number()), .inbox(id: number()),
            ]
        }
        return (server, client)
    }

    @Test func encoderWritesTheLegacyBytes() async {
        let (server, client) = Self.randomFrames(count: 3_000)
        var differences = 0
        for (index, frame) in server.enumerated() {
            if index % 1_000 == 0 { await Task.yield() }
            let new = frame.encode(allocator: ByteBufferAllocator())
            let legacy = LegacyFrameEncoding.encode(frame)
            if Array(new.readableBytesView) != legacy {
                differences += 1
                Issue.record("\(frame): \(String(decoding: new.readableBytesView, as: UTF8.self))")
            }
            if differences > 10 { return }
        }
        for frame in client where Array(frame.encode(allocator: ByteBufferAllocator()).readableBytesView) != LegacyFrameEncoding.encode(frame) {
            differences += 1
            Issue.record("\(frame)")
            if differences > 10 { return }
        }
    }

    /// `encodeLine(into:)`, which the server writes with: the legacy bytes and a newline, after
    /// what the buffer held, whether a message or receipt takes `HotFrameLines` (plain strings)
    /// or the general encoder (escapes, every other frame).
    @Test func linesAppendTheSameBytes() {
        let (server, _) = Self.randomFrames(count: 300)
        var buffer = ByteBufferAllocator().buffer(capacity: 16)
        buffer.writeString("held")
        var differences = 0
        for frame in server {
            let start = buffer.writerIndex
            frame.encodeLine(into: &buffer)
            let line = buffer.getBytes(at: start, length: buffer.writerIndex - start)!
            let expected = LegacyFrameEncoding.encode(frame) + [UInt8(ascii: "\n")]
            if line != expected {
                differences += 1
                Issue.record("\(frame): \(String(decoding: line, as: UTF8.self))")
                if differences > 10 { return }
            }
            // The mailbox writes messages from their fields, without the frame.
            if case .message(let message) = frame {
                var fields = ByteBufferAllocator().buffer(capacity: 0)
                ServerFrame.encodeMessageLine(
                    id: message.id, from: message.from, body: message.body,
                    sentAtMilliseconds: message.sentAtMilliseconds, stored: message.stored, seq: message.seq,
                    into: &fields)
                #expect(Array(fields.readableBytesView) == expected, "\(frame)")
            }
        }
        #expect(buffer.getString(at: 0, length: 4) == "held", "what the buffer held stays")
    }

    @Test func encoderWritesFoundationsBytes() {
        let (server, client) = Self.randomFrames(count: 100)
        for frame in server {
            let encoded = frame.encode(allocator: ByteBufferAllocator())
            #expect(Array(encoded.readableBytesView) == FoundationJSONOracle.reference(encoded), "\(frame)")
            #expect(ServerFrame.decode(encoded) == .success(frame))
        }
        for frame in client {
            let encoded = frame.encode(allocator: ByteBufferAllocator())
            #expect(Array(encoded.readableBytesView) == FoundationJSONOracle.reference(encoded), "\(frame)")
            #expect(ClientFrame.decode(encoded) == .success(frame))
        }
    }
}

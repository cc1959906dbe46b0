import NIOCore

/// The two frames every relayed message costs the server, its `message` to the recipient
/// and its `receipt` to the sender, written as lines in one pass: the strings checked for
/// escapes, the size added up from their lengths and the digits, the pieces copied in.
///
/// The general encoder (`FrameSizer`, then `FrameWriter`, over `ServerFrame.build`) walks
/// the frame twice through a builder per member, which cost these two frames about 2,900
/// instructions per relayed message of the 15,000 left (scripts/callgrind-relay.sh). It
/// stays the reference: a frame whose strings need an escape is left to it, and
/// `FrameWriterTests` holds both to the same bytes over random frames.
enum HotFrameLines {
    /// Appends `frame` and its `"\n"` to `buffer` when it is a `message` or a `receipt` whose
    /// strings need no escape; false, with nothing written, for any other frame.
    static func append(_ frame: ServerFrame, to buffer: inout ByteBuffer) -> Bool {
        switch frame {
        case .message(let message):
            return appendMessage(
                id: message.id, from: message.from, body: message.body,
                sentAtMilliseconds: message.sentAtMilliseconds, stored: message.stored, seq: message.seq, to: &buffer)
        case .receipt(let id, let messageID, let status):
            return appendReceipt(id: id, messageID: messageID, status: status, to: &buffer)
        default:
            return false
        }
    }

    // {"body":"…","from":"…","message_id":"…","sent_at":N,"seq":N,"stored":B,"type":"message"}
    private static var bodyOpening: StaticString { #"{"body":""# }
    private static var fromOpening: StaticString { #"","from":""# }
    private static var idOpening: StaticString { #"","message_id":""# }
    private static var sentAtOpening: StaticString { #"","sent_at":"# }
    private static var seqOpening: StaticString { #","seq":"# }
    private static var storedOpening: StaticString { #","stored":"# }
    private static var messageClosing: StaticString { #","type":"message"}\#n"# }
    /// The message line's bytes other than its strings, numbers and `stored`'s value.
    private static let messageFixedBytes = [
        bodyOpening, fromOpening, idOpening, sentAtOpening, seqOpening, storedOpening, messageClosing,
    ].reduce(0) { $0 + $1.utf8CodeUnitCount }

    /// The `message` line for these fields, when its strings need no escape.
    static func appendMessage(
        id: String, from: String, body: String, sentAtMilliseconds: Int64, stored: Bool, seq: Int,
        to buffer: inout ByteBuffer
    ) -> Bool {
        FrameWriter.withUTF8(body) { body in
            FrameWriter.withUTF8(from) { from in
                FrameWriter.withUTF8(id) { id in
                    guard isPlain(body), isPlain(from), isPlain(id) else { return false }
                    let sentAt = Int(sentAtMilliseconds)
                    let sentAtLength = FrameWriter.integerBytes(sentAt)
                    let seqLength = FrameWriter.integerBytes(seq)
                    let stored: StaticString = stored ? "true" : "false"
                    let size = messageFixedBytes + body.count + from.count + id.count + sentAtLength + seqLength
                        + stored.utf8CodeUnitCount
                    write(size: size, to: &buffer) { line in
                        line.put(bodyOpening)
                        line.put(body)
                        line.put(fromOpening)
                        line.put(from)
                        line.put(idOpening)
                        line.put(id)
                        line.put(sentAtOpening)
                        line.put(sentAt, length: sentAtLength)
                        line.put(seqOpening)
                        line.put(seq, length: seqLength)
                        line.put(storedOpening)
                        line.put(stored)
                        line.put(messageClosing)
                    }
                    return true
                }
            }
        }
    }

    // {"id":N,"message_id":"…","status":"sent","type":"receipt"}, `id` left out when nil
    private static func appendReceipt(
        id: Int?, messageID: String, status: ReceiptStatus, to buffer: inout ByteBuffer
    ) -> Bool {
        FrameWriter.withUTF8(messageID) { messageID in
            guard isPlain(messageID) else { return false }
            let idLength = id.map(FrameWriter.integerBytes) ?? 0
            let opening: StaticString = id == nil ? #"{"message_id":""# : #"{"id":"#
            let statusText: StaticString =
                switch status {
                case .sent: #"","status":"sent","type":"receipt"}"#
                case .stored: #"","status":"stored","type":"receipt"}"#
                }
            let afterID: StaticString = #","message_id":""#
            let size = opening.utf8CodeUnitCount + (id == nil ? 0 : idLength + afterID.utf8CodeUnitCount)
                + messageID.count + statusText.utf8CodeUnitCount + 1
            write(size: size, to: &buffer) { line in
                line.put(opening)
                if let id {
                    line.put(id, length: idLength)
                    line.put(afterID)
                }
                line.put(messageID)
                line.put(statusText)
                line.put("\n")
            }
            return true
        }
    }

    /// True when `utf8` goes into a JSON string as it is.
    @inline(__always)
    private static func isPlain(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        FrameWriter.firstByteToEscape(utf8, from: 0) == utf8.count
    }

    /// Reserves `size` bytes at the end of `buffer` and lets `body` fill exactly those.
    @inline(__always)
    private static func write(size: Int, to buffer: inout ByteBuffer, _ body: (inout Line) -> Void) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { space in
            var line = Line(start: space.baseAddress!, size: size)
            body(&line)
            // A miscounted size would be a bug here, never the peer's doing.
            precondition(line.count == size, "HotFrameLines: wrote \(line.count) of \(size) bytes")
            return size
        }
    }

    /// The room reserved for one line, filled front to back; every piece is checked against
    /// the reserved size before it is copied.
    private struct Line {
        let start: UnsafeMutableRawPointer
        let size: Int
        private(set) var count = 0

        init(start: UnsafeMutableRawPointer, size: Int) {
            self.start = start
            self.size = size
        }

        @inline(__always)
        mutating func put(_ text: StaticString) {
            put(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }

        @inline(__always)
        mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) {
            precondition(bytes.count <= size - count, "HotFrameLines: line larger than counted")
            guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
            (start + count).copyMemory(from: source, byteCount: bytes.count)
            count += bytes.count
        }

        @inline(__always)
        mutating func put(_ value: Int, length: Int) {
            precondition(length <= size - count, "HotFrameLines: line larger than counted")
            FrameWriter.writeInteger(value, length: length, at: start + count)
            count += length
        }
    }
}

extension ServerFrame {
    /// Appends the `message` frame for these fields and its `"\n"` to `buffer`: the bytes
    /// `ServerFrame.message(ChatMessage(...)).encodeLine(into:)` writes, without making the
    /// frame (which would copy its strings) when none of them needs an escape.
    public static func encodeMessageLine(
        id: String, from: String, body: String, sentAtMilliseconds: Int64, stored: Bool, seq: Int,
        into buffer: inout ByteBuffer
    ) {
        if HotFrameLines.appendMessage(
            id: id, from: from, body: body, sentAtMilliseconds: sentAtMilliseconds, stored: stored, seq: seq,
            to: &buffer)
        {
            return
        }
        ServerFrame.message(
            ChatMessage(id: id, from: from, body: body, sentAtMilliseconds: sentAtMilliseconds, stored: stored, seq: seq)
        ).encodeAppending(to: &buffer, terminated: true)
    }
}

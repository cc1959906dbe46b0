/// The fast path of `ServerFrame.decode` for the frames a conversation is made of (`message`,
/// `receipt`, `delivered`): reads the top-level members straight into the frame's fields,
/// without the `[String: JSONValue]` dictionary that `FrameFields` builds.
///
/// The same contract as `ClientFrameScanner`, the server's fast path: it answers only when
/// it is sure the general path (`JSONParser`, `FrameFields`) decodes the line to the same
/// frame, and otherwise says nothing (nil) and leaves the line, and every refusal, to it.
/// A name it does not know, a repeated name, a name or kind with an escape, a value of
/// another type than the frame gives it, or a missing field: nil. `ServerFrameScannerTests`
/// holds the two paths against each other over the corpus and its mutations.
struct ServerFrameScanner {
    /// The member names these frames use, one bit each to catch a repeat.
    private enum Member: UInt16 {
        case type = 1, id = 2, messageID = 4, from = 8, body = 16, sentAt = 32, seq = 64, stored = 128,
            status = 256, messageIDs = 512
    }

    private var seen: UInt16 = 0
    private var kind: ServerFrame.Kind?
    private var id: Int?
    private var messageID: String?
    private var from: String?
    private var body: String?
    private var sentAt: Int?
    private var seq: Int?
    private var stored: Bool?
    private var status: ReceiptStatus?
    private var messageIDs: [String]?

    /// The frame in `line` when it is certainly what the general path decodes; nil when the
    /// general path must decide.
    static func frame(in line: UnsafeBufferPointer<UInt8>) -> ServerFrame? {
        var parser = JSONParser(bytes: line)
        var scanner = ServerFrameScanner()
        let walked = try? parser.walkPlainObject { (parser, name) throws(JSONParseError) in
            try scanner.take(name, from: &parser)
        }
        guard walked == true, let kind = scanner.kind else { return nil }
        return scanner.frame(of: kind)
    }

    /// Reads the member `name` from `parser`, which sits on its value; false to give up.
    private mutating func take(_ name: Range<Int>, from parser: inout JSONParser) throws(JSONParseError) -> Bool {
        guard let member = Self.member(named: name, in: parser), seen & member.rawValue == 0 else { return false }
        seen |= member.rawValue
        if member == .type {
            guard try parser.peek() == UInt8(ascii: "\""), let text = parser.parsePlainASCIIString(),
                let kind = Self.kind(named: text, in: parser)
            else { return false }
            self.kind = kind
            return true
        }
        switch (member, try parser.parseValue()) {
        case (.id, .int(let value)): id = value
        case (.messageID, .string(let value)): messageID = value
        case (.from, .string(let value)): from = value
        case (.body, .string(let value)): body = value
        case (.sentAt, .int(let value)): sentAt = value
        case (.seq, .int(let value)): seq = value
        case (.stored, .bool(let value)): stored = value
        case (.status, .string(let value)):
            guard let known = ReceiptStatus(rawValue: value) else { return false }
            status = known
        case (.messageIDs, .array(let items)):
            var ids: [String] = []
            ids.reserveCapacity(items.count)
            for item in items {
                guard case .string(let text) = item else { return false }
                ids.append(text)
            }
            messageIDs = ids
        default: return false  // `type` (handled above), or a value of another type
        }
        return true
    }

    /// The frame, when every field `kind` requires is present with the right type.
    private func frame(of kind: ServerFrame.Kind) -> ServerFrame? {
        switch kind {
        case .message:
            guard let messageID, let from, let body, let sentAt, let seq else { return nil }
            return .message(
                ChatMessage(
                    id: messageID, from: from, body: body, sentAtMilliseconds: Int64(sentAt),
                    stored: stored ?? false, seq: seq))
        case .receipt:
            guard let messageID, let status else { return nil }
            return .receipt(id: id, messageID: messageID, status: status)
        case .delivered:
            guard let messageIDs else { return nil }
            return .delivered(messageIDs: messageIDs)
        default:
            return nil
        }
    }

    private static func member(named name: Range<Int>, in parser: JSONParser) -> Member? {
        guard !name.isEmpty else { return nil }
        let candidate: (Member, StaticString)
        switch parser.bytes[name.lowerBound] {
        case UInt8(ascii: "t"): candidate = (.type, "type")
        case UInt8(ascii: "i"): candidate = (.id, "id")
        case UInt8(ascii: "m"):
            candidate = name.count == 10 ? (.messageID, "message_id") : (.messageIDs, "message_ids")
        case UInt8(ascii: "f"): candidate = (.from, "from")
        case UInt8(ascii: "b"): candidate = (.body, "body")
        case UInt8(ascii: "s"):
            switch name.count {
            case 3: candidate = (.seq, "seq")
            case 6:
                if parser.bytes(in: name, equal: "stored") { return .stored }
                return parser.bytes(in: name, equal: "status") ? .status : nil
            default: candidate = (.sentAt, "sent_at")
            }
        default: return nil
        }
        return parser.bytes(in: name, equal: candidate.1) ? candidate.0 : nil
    }

    private static func kind(named name: Range<Int>, in parser: JSONParser) -> ServerFrame.Kind? {
        guard !name.isEmpty else { return nil }
        let candidate: (ServerFrame.Kind, StaticString)
        switch parser.bytes[name.lowerBound] {
        case UInt8(ascii: "m"): candidate = (.message, "message")
        case UInt8(ascii: "r"): candidate = (.receipt, "receipt")
        case UInt8(ascii: "d"): candidate = (.delivered, "delivered")
        default: return nil
        }
        return parser.bytes(in: name, equal: candidate.1) ? candidate.0 : nil
    }
}

/// The fast path of `ClientFrame.decode`: reads the top-level object's members straight into
/// the frame's fields, without the `[String: JSONValue]` dictionary that `FrameFields` builds.
///
/// It answers only when it is sure, and otherwise says nothing (nil), leaving the line to the
/// general path (`JSONParser`, `FrameFields`), which then decides exactly as before. It is
/// sure only for a line that the general path accepts as the same frame:
///
/// - names are matched as bytes, so a name with an escape or a non-ASCII byte is left alone
///   (String equality is canonical equivalence: `"\u0074ype"` is `"type"`);
/// - a name the frames do not use is left alone, so unknown members, and repeats among them,
///   stay the general path's business; a repeated known name is left alone too;
/// - `type` must be plain ASCII naming a known kind; everything else about it (missing, not a
///   string, unknown) is an error the general path words;
/// - other values go through `JSONParser.parseValue`, the general path's own code, so numbers,
///   strings, nesting depth and UTF-8 are judged exactly as there;
/// - a required field that is absent, null or of the wrong type is left alone, so every
///   refusal, and its message, still comes from one place; so is a known member of a type no
///   frame gives it (an `id` that is a string, say), even where the frame does not need it.
///
/// The price of saying nothing is parsing twice, paid only by unusual or bad frames.
/// `ClientFrameScannerTests` checks the agreement over the fuzz corpus and its mutations.
struct ClientFrameScanner {
    /// The member names any client frame uses, one bit each to catch a repeat.
    private enum Member: UInt16 {
        case type = 1, id = 2, body = 4, seq = 8, with = 16, username = 32, password = 64, version = 128,
            agent = 256, newPassword = 512
    }

    private var seen: UInt16 = 0
    private var kind: ClientFrame.Kind?
    // Typed as every frame uses them, rather than kept as `JSONValue`s: the scanner is
    // made and dropped for every line, and the smaller it is the less that costs.
    private var id: Int?
    private var seq: Int?
    private var version: Int?
    private var body: String?
    private var with: String?
    private var username: String?
    private var password: String?
    private var agent: String?
    private var newPassword: String?

    /// The frame in `line` when it is certainly what the general path decodes; nil when the
    /// general path must decide.
    static func frame(in line: UnsafeBufferPointer<UInt8>) -> ClientFrame? {
        var parser = JSONParser(bytes: line)
        var scanner = ClientFrameScanner()
        // A parse error here is a refusal the general path words (invalid_json or invalid_utf8).
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
        case (.seq, .int(let value)): seq = value
        case (.version, .int(let value)): version = value
        case (.body, .string(let value)): body = value
        case (.with, .string(let value)): with = value
        case (.username, .string(let value)): username = value
        case (.password, .string(let value)): password = value
        case (.agent, .string(let value)): agent = value
        case (.newPassword, .string(let value)): newPassword = value
        default: return false  // `type` (handled above), or a value of another type
        }
        return true
    }

    /// The frame, when every field `kind` requires is present with the right type.
    private func frame(of kind: ClientFrame.Kind) -> ClientFrame? {
        switch kind {
        case .passwd:
            guard let id, let password, let newPassword else { return nil }
            return .passwd(id: id, password: password, newPassword: newPassword)
        case .send:
            guard let id, let body else { return nil }
            return .send(id: id, body: body)
        case .ack:
            guard let seq else { return nil }
            return .ack(seq: seq)
        case .hello:
            guard let version, let agent else { return nil }
            return .hello(version: version, agent: agent)
        case .register, .login:
            guard let id, let username, let password else { return nil }
            return kind == .register
                ? .register(id: id, username: username, password: password)
                : .login(id: id, username: username, password: password)
        case .chat:
            guard let id, let with else { return nil }
            return .chat(id: id, with: with)
        case .logout, .ping, .leave, .who, .inbox:
            guard let id else { return nil }
            switch kind {
            case .logout: return .logout(id: id)
            case .ping: return .ping(id: id)
            case .leave: return .leave(id: id)
            case .who: return .who(id: id)
            default: return .inbox(id: id)
            }
        case .publishKeys, .fetchKeys, .deleteAccount, .upload, .chunk, .download, .fileDone, .fileForget:
            // Rare frames (nested members, checked keys, once in an account's life, or a
            // file's, whose chunks are few and large): the general path's.
            return nil
        }
    }

    private static func member(named name: Range<Int>, in parser: JSONParser) -> Member? {
        guard !name.isEmpty else { return nil }
        let candidate: (Member, StaticString)
        switch parser.bytes[name.lowerBound] {
        case UInt8(ascii: "t"): candidate = (.type, "type")
        case UInt8(ascii: "i"): candidate = (.id, "id")
        case UInt8(ascii: "b"): candidate = (.body, "body")
        case UInt8(ascii: "s"): candidate = (.seq, "seq")
        case UInt8(ascii: "w"): candidate = (.with, "with")
        case UInt8(ascii: "u"): candidate = (.username, "username")
        case UInt8(ascii: "p"): candidate = (.password, "password")
        case UInt8(ascii: "v"): candidate = (.version, "version")
        case UInt8(ascii: "a"): candidate = (.agent, "agent")
        case UInt8(ascii: "n"): candidate = (.newPassword, "new_password")
        default: return nil
        }
        return parser.bytes(in: name, equal: candidate.1) ? candidate.0 : nil
    }

    private static func kind(named name: Range<Int>, in parser: JSONParser) -> ClientFrame.Kind? {
        guard !name.isEmpty else { return nil }
        let candidate: (ClientFrame.Kind, StaticString)
        switch parser.bytes[name.lowerBound] {
        case UInt8(ascii: "s"): candidate = (.send, "send")
        case UInt8(ascii: "a"): candidate = (.ack, "ack")
        case UInt8(ascii: "h"): candidate = (.hello, "hello")
        case UInt8(ascii: "r"): candidate = (.register, "register")
        case UInt8(ascii: "l"):
            // login, logout and leave share their first letter.
            if parser.bytes(in: name, equal: "login") { return .login }
            candidate = name.count == 6 ? (.logout, "logout") : (.leave, "leave")
        case UInt8(ascii: "p"): candidate = name.count == 4 ? (.ping, "ping") : (.passwd, "passwd")
        case UInt8(ascii: "c"): candidate = (.chat, "chat")
        case UInt8(ascii: "w"): candidate = (.who, "who")
        case UInt8(ascii: "i"): candidate = (.inbox, "inbox")
        default: return nil
        }
        return parser.bytes(in: name, equal: candidate.1) ? candidate.0 : nil
    }
}

import NIOCore
import Shared
import Testing
import TestSupport

/// Encoding then decoding gives back the same frame, and the bytes are exactly the documented JSON.
@Suite struct FrameRoundTripTests {
    static let clientFrames: [ClientFrame] = [
        .hello(version: ProtocolVersion.current, agent: "chat-client/0.1.0"),
        .register(id: 1, username: "alice", password: "correct horse"),
        .login(id: 2, username: "Zoë", password: "pässwörd with \"quotes\" and \\ and \n"),
        .logout(id: 3),
        .ping(id: -4),
        .ping(id: Int.max),
        .chat(id: 5, with: "bob"),
        .chat(id: 6, with: "Not A Valid Name!"),
        .leave(id: 7),
        .send(id: 8, body: "hi bob"),
        .send(id: 9, body: "line one\nline two, \"quoted\", tab\t, emoji 👋, NUL \u{0}"),
        .ack(seq: 1),
        .ack(seq: Int.max),
        .passwd(id: 12, password: "old \"one\"", newPassword: "new \\ one ✓"),
        .who(id: 10),
        .inbox(id: 11),
        .publishKeys(id: 13, keys: TestKeys.keys(preKeys: 1...3)),
        .publishKeys(id: 14, keys: TestKeys.keys(identity: 2, registrationID: 16_380, signedID: 0xFF_FFFF, preKeys: [])),
        .fetchKeys(id: 15, username: "Bob"),
        .deleteAccount(id: 16, password: "correct \"horse\" ✓"),
        .upload(id: 17, file: String(repeating: "0f", count: 16), to: "bob", size: 2_500_000, chunks: 77),
        .chunk(id: 18, file: String(repeating: "0f", count: 16), index: 3, data: "QUJD+/=="),
        .download(id: 19, file: String(repeating: "0f", count: 16), from: 0, count: 16),
        .fileDone(id: 20, file: String(repeating: "0f", count: 16), received: true),
        .fileDone(id: 21, file: String(repeating: "0f", count: 16), received: false),
        .fileForget(id: 22, file: String(repeating: "0f", count: 16)),
    ]

    static let serverFrames: [ServerFrame] = [
        .hello(version: ProtocolVersion.current, agent: "chat-server/0.1.0"),
        .ok(id: 2, username: "alice"),
        .ok(id: 4),
        .error(.throttled(retryAfter: 8, id: 2)),
        .error(ProtocolError(.invalidJSON)),
        .error(ProtocolError(.unknown("from_the_future"), message: "new", id: 5)),
        .notice(.displaced),
        .notice(code: .shutdown, message: "server shutting down"),
        .notice(code: .unknown("maintenance"), message: "back soon"),
        .notice(.paired),
        .notice(code: .partnerDisconnected, message: "bob disconnected"),
        .message(ChatMessage(id: "m-1", from: "alice", body: "hi bob", sentAtMilliseconds: 1_700_000_000_000, stored: false, seq: 1)),
        .message(ChatMessage(id: "m-2", from: "bob", body: "é\n\"x\"\\ 👋", sentAtMilliseconds: 0, stored: true, seq: 2)),
        .message(ChatMessage(id: "m-3", from: "carol", body: "far future", sentAtMilliseconds: Int64.max, stored: true, seq: Int.max)),
        .receipt(id: 7, messageID: "m-1", status: .sent),
        .receipt(id: 8, messageID: "m-2", status: .stored),
        .receipt(id: nil, messageID: "m-2", status: .stored),
        .delivered(messageIDs: ["m-1"]),
        .delivered(messageIDs: ["m-1", "m-2", "é\"x"]),
        .delivered(messageIDs: []),
        .inbox(id: nil, counts: [:], expired: 0),
        .inbox(id: nil, counts: ["bob": 3, "carol": 1], expired: 2),
        .inbox(id: 9, counts: ["bob": 1_000], expired: 0),
        .who(id: 10, users: []),
        .who(id: 11, users: [
            PresenceEntry(username: "bob", status: .chatting), PresenceEntry(username: "carol", status: .free),
        ]),
        .ok(id: 12, username: "alice", identityKey: TestKeys.publicKey(1), preKeys: 57),
        .ok(id: 13, preKeys: 0),
        .ok(id: 14, username: "bob", identityKey: TestKeys.publicKey(2)),
        .ok(id: 15, username: "alice", mustChangePassword: true),
        .notice(.accountLocked),
        .notice(.accountDeleted),
        .keys(id: 15, bundle: TestKeys.keys(preKeys: []).bundle(username: "bob", preKey: TestKeys.preKey(9))),
        .keys(id: 16, bundle: TestKeys.keys(preKeys: []).bundle(username: "bob", preKey: nil)),
        .notice(code: .preKeysLow, message: "3 one-time prekeys left; publish more"),
        .error(ProtocolError(.identityChanged, message: "bob's identity key changed; open the chat again", id: 17)),
        .upload(id: 18, file: String(repeating: "0f", count: 16), stored: 12),
        .chunk(file: String(repeating: "0f", count: 16), index: 12, data: "QUJD+/=="),
        .fileOutcome(file: String(repeating: "0f", count: 16), username: "bob", outcome: .delivered),
        .fileOutcome(file: String(repeating: "0f", count: 16), username: "bob", outcome: .expired),
        .error(ProtocolError(.chunkOutOfOrder, message: "expected chunk 3 of this file, not 5", id: 19)),
    ]

    @Test(arguments: clientFrames)
    func clientFrameRoundTrips(_ frame: ClientFrame) {
        #expect(ClientFrame.decode(frame.encode()) == .success(frame))
    }

    @Test(arguments: serverFrames)
    func serverFrameRoundTrips(_ frame: ServerFrame) {
        #expect(ServerFrame.decode(frame.encode()) == .success(frame))
    }

    @Test(arguments: clientFrames)
    func clientFrameRoundTripsThroughByteBuffer(_ frame: ClientFrame) {
        let buffer = frame.encode(allocator: ByteBufferAllocator())
        #expect(ClientFrame.decode(buffer) == .success(frame))
    }

    @Test(arguments: serverFrames)
    func serverFrameRoundTripsThroughByteBuffer(_ frame: ServerFrame) {
        let buffer = frame.encode(allocator: ByteBufferAllocator())
        #expect(ServerFrame.decode(buffer) == .success(frame))
    }

    /// Every frame kind is covered above, so a new case cannot slip in without a round-trip test.
    @Test func everyKindIsCovered() {
        #expect(Set(Self.clientFrames.map(\.kind)) == Set(ClientFrame.Kind.allCases))
        #expect(Set(Self.serverFrames.map(\.kind)) == Set(ServerFrame.Kind.allCases))
    }

    /// The exact bytes: compact, keys sorted, absent optionals left out. These are the examples in
    /// docs/PROTOCOL.md.
    @Test func clientEncodingIsDeterministic() {
        let expected: [(ClientFrame, String)] = [
            (.hello(version: 1, agent: "chat-client/0.1.0"), #"{"agent":"chat-client/0.1.0","type":"hello","version":1}"#),
            (.register(id: 1, username: "alice", password: "correct horse"),
             #"{"id":1,"password":"correct horse","type":"register","username":"alice"}"#),
            (.login(id: 2, username: "alice", password: "correct horse"),
             #"{"id":2,"password":"correct horse","type":"login","username":"alice"}"#),
            (.logout(id: 3), #"{"id":3,"type":"logout"}"#),
            (.ping(id: 4), #"{"id":4,"type":"ping"}"#),
            (.chat(id: 5, with: "bob"), #"{"id":5,"type":"chat","with":"bob"}"#),
            (.leave(id: 6), #"{"id":6,"type":"leave"}"#),
            (.send(id: 7, body: "hi bob"), #"{"body":"hi bob","id":7,"type":"send"}"#),
            (.ack(seq: 1), #"{"seq":1,"type":"ack"}"#),
            (.who(id: 8), #"{"id":8,"type":"who"}"#),
            (.inbox(id: 9), #"{"id":9,"type":"inbox"}"#),
        ]
        for (frame, json) in expected {
            #expect(String(decoding: frame.encode(), as: UTF8.self) == json)
        }
    }

    @Test func serverEncodingIsDeterministic() {
        let expected: [(ServerFrame, String)] = [
            (.hello(version: 1, agent: "chat-server/0.1.0"), #"{"agent":"chat-server/0.1.0","type":"hello","version":1}"#),
            (.ok(id: 2, username: "alice"), #"{"id":2,"type":"ok","username":"alice"}"#),
            (.ok(id: 4), #"{"id":4,"type":"ok"}"#),
            (.error(.throttled(retryAfter: 8, id: 2)),
             #"{"code":"throttled","id":2,"message":"too many attempts, try again in 8 s","retry_after":8,"type":"error"}"#),
            (.error(ProtocolError(.invalidJSON)),
             #"{"code":"invalid_json","message":"frame is not a valid JSON object","type":"error"}"#),
            (.notice(.displaced), #"{"code":"displaced","message":"logged in from elsewhere","type":"notice"}"#),
            (.message(ChatMessage(id: "m-1", from: "alice", body: "hi", sentAtMilliseconds: 1_700_000_000_000, stored: false, seq: 4)),
             #"{"body":"hi","from":"alice","message_id":"m-1","sent_at":1700000000000,"seq":4,"stored":false,"type":"message"}"#),
            (.receipt(id: 7, messageID: "m-1", status: .sent), #"{"id":7,"message_id":"m-1","status":"sent","type":"receipt"}"#),
            (.delivered(messageIDs: ["m-1", "m-2"]), #"{"message_ids":["m-1","m-2"],"type":"delivered"}"#),
            (.inbox(id: nil, counts: ["carol": 1, "bob": 3], expired: 2),
             #"{"counts":{"bob":3,"carol":1},"expired":2,"type":"inbox"}"#),
            (.inbox(id: 9, counts: [:], expired: 0), #"{"counts":{},"expired":0,"id":9,"type":"inbox"}"#),
            (.who(id: 8, users: [PresenceEntry(username: "bob", status: .chatting)]),
             #"{"id":8,"type":"who","users":[{"status":"chatting","username":"bob"}]}"#),
        ]
        for (frame, json) in expected {
            #expect(String(decoding: frame.encode(), as: UTF8.self) == json)
        }
    }

    /// A raw newline inside an encoded frame would split it into two frames on the wire.
    @Test func encodedFramesNeverContainANewline() {
        let frame = ServerFrame.error(ProtocolError(.internal, message: "line one\nline two\r\n"))
        let bytes = frame.encode()
        #expect(!bytes.contains(UInt8(ascii: "\n")))
        #expect(!bytes.contains(UInt8(ascii: "\r")))
        #expect(ServerFrame.decode(bytes) == .success(frame))
    }

    @Test func requestIDs() {
        #expect(ClientFrame.hello(version: 1, agent: "a").id == nil)
        #expect(ClientFrame.login(id: 7, username: "a", password: "b").id == 7)
        #expect(ServerFrame.error(ProtocolError(.internal, id: 9)).id == 9)
        #expect(ServerFrame.notice(.shutdown).id == nil)
    }

    /// Logging a frame must not leak the password.
    @Test func descriptionRedactsPasswords() {
        let frames: [ClientFrame] = [
            .register(id: 1, username: "alice", password: "hunter2-secret"),
            .login(id: 2, username: "alice", password: "hunter2-secret"),
        ]
        for frame in frames {
            #expect(!"\(frame)".contains("hunter2"))
            #expect(!String(reflecting: frame).contains("hunter2"))
            #expect("\(frame)".contains("alice"))
        }
    }
}

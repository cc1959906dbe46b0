import NIOCore
import Shared
import Testing

/// Encoding then decoding gives back the same frame, and the bytes are exactly the documented JSON.
@Suite struct FrameRoundTripTests {
    static let clientFrames: [ClientFrame] = [
        .hello(version: ProtocolVersion.current, agent: "chat-client/0.1.0"),
        .register(id: 1, username: "alice", password: "correct horse"),
        .login(id: 2, username: "Zoë", password: "pässwörd with \"quotes\" and \\ and \n"),
        .logout(id: 3),
        .ping(id: -4),
        .ping(id: Int.max),
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

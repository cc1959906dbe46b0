import NIOCore
import NIOEmbedded
import Shared
import Testing
import TestSupport

@testable import Server

/// Seeded fuzzing of command handling: mutated frames, valid and not, in any order, through
/// the protocol rules alone (`SessionStateMachine`, 100,000 frames) and through the whole
/// `SessionHandler` with real services (line decoder included).
@Suite("Fuzzing command handling", .timeLimit(.minutes(TestTimeouts.minutes(3))))
struct SessionFuzzTests {
    static let machineSequences = 5_000
    static let framesPerSequence = 20
    static let handlerSequences = 150

    /// One input line: a corpus frame as is, or bent by the mutator.
    private static func nextLine(_ mutator: inout FrameMutator) -> [UInt8] {
        mutator.below(2) == 0 ? mutator.corpus[mutator.below(mutator.corpus.count)] : mutator.mutatedInput()
    }

    private static func isSlow(_ action: SessionStateMachine.Action) -> Bool {
        switch action {
        case .register, .login, .openChat, .leave, .who, .inbox, .changePassword, .publishKeys, .fetchKeys,
            .deleteAccount: true
        default: false
        }
    }

    @Test("100,000 frames through the protocol rules: replies echo ids, bad input closes in time, closed stays closed")
    func stateMachine() async throws {
        var mutator = FrameMutator(seed: 0x5E55_1010, corpus: try FrameMutator.loadCorpus("client-frames.jsonl"))
        let hello = Array(#"{"agent":"fuzz/1","type":"hello","version":2}"#.utf8)
        var closedSessions = 0
        var loggedInSessions = 0
        for sequence in 0..<Self.machineSequences {
            // Seconds of CPU: let the suite's other tests have the cooperative threads too.
            if sequence % 50 == 0 { await Task.yield() }
            var machine = SessionStateMachine(maximumBadFrames: 5)
            var badInARow = 0
            var everLoggedIn = false
            for step in 0..<Self.framesPerSequence {
                let line = step == 0 && mutator.below(10) < 8 ? hello : Self.nextLine(&mutator)
                let decoded = ClientFrame.decode(line)
                let wasClosed = machine.state == .closed
                let action = machine.frameReceived(decoded)
                let context = "sequence \(sequence) step \(step): \(String(decoding: line, as: UTF8.self))"

                if wasClosed {
                    #expect(action == .none, "a closed session acted: \(context)")
                    continue
                }
                var replies: [ServerFrame] = []
                switch action {
                case .send(let frame): replies = [frame]
                case .sendAndClose(let frames):
                    replies = frames
                    #expect(machine.state == .closed, "sendAndClose left the session open: \(context)")
                default: break
                }
                for reply in replies {
                    #expect((try? ServerFrame.decode(reply.encode()).get()) == reply, "unreadable reply: \(context)")
                }
                // A reply to a request names the request's id.
                if case .success(let frame) = decoded, let id = frame.id, case .send(let reply) = action {
                    #expect(reply.id == id, "reply \(reply) does not echo id \(id): \(context)")
                }
                // Bad frames in a row: the fifth closes, never a sixth answered.
                if case .send(.error(let error)) = action, error.code.countsAsBadFrame {
                    badInARow += 1
                } else if case .sendAndClose = action {
                    badInARow = 0
                } else if case .success = decoded {
                    badInARow = 0
                }
                #expect(badInARow < 5, "five bad frames in a row without a close: \(context)")

                // Finish slow work the way the handler would, before the next frame.
                if Self.isSlow(action) { #expect(machine.busy, "slow work without busy: \(context)") }
                if case .sendMessage = action {
                    #expect(machine.overlapping == 1, "a send not counted as overlapping: \(context)")
                }
                switch action {
                case .register: machine.registrationFinished()
                case .login(_, let username, _):
                    let succeeds = mutator.below(2) == 0
                    machine.loginFinished(username: succeeds ? username : nil)
                    if succeeds { everLoggedIn = true }
                case .openChat, .leave, .who, .inbox, .changePassword, .publishKeys, .fetchKeys:
                    machine.requestFinished()
                case .sendMessage: machine.overlappingRequestFinished()
                case .deleteAccount: machine.accountDeleted()
                default: break
                }
                #expect(!machine.busy && machine.overlapping == 0, "busy after its work finished: \(context)")
            }
            if machine.state == .closed { closedSessions += 1 }
            if everLoggedIn { loggedInSessions += 1 }
        }
        // The inputs reached every part of the rules, not only the hello check.
        #expect(closedSessions > 0 && closedSessions < Self.machineSequences)
        #expect(loggedInSessions > Self.machineSequences / 20, "only \(loggedInSessions) sessions logged in")
    }

    @Test("150 sessions of mutated lines through the real handler: every byte it writes is a valid frame")
    func handler() async throws {
        var mutator = FrameMutator(seed: 0x4A4D_1E55, corpus: try FrameMutator.loadCorpus("client-frames.jsonl"))
        var answeredPings = 0
        var logins = 0
        for sequence in 0..<Self.handlerSequences {
            // Fresh services per session: the mutated logins fail, and the login throttle
            // would otherwise refuse every later session's valid login.
            try await SessionHandlerTests.withServices { services in
                let channel = try await NIOAsyncTestingChannel { channel in
                    try channel.pipeline.syncOperations.addHandler(LinePerBuffer())
                    try channel.pipeline.syncOperations.addHandler(
                        SessionHandler(
                            services: services.sessionServices, sessionID: UInt64(sequence),
                            logger: SessionHandlerTests.logger, maximumFrameLength: 4096))
                }
                try await channel.connect(to: SocketAddress(ipAddress: "192.0.2.1", port: 4000)).get()
                var lines = [Array(#"{"agent":"fuzz/1","type":"hello","version":2}"#.utf8)]
                if sequence % 2 == 0 {
                    let name = "fuzz\(sequence)"
                    lines.append(Array(#"{"id":1,"password":"password1","type":"register","username":"\#(name)"}"#.utf8))
                    lines.append(Array(#"{"id":2,"password":"password1","type":"login","username":"\#(name)"}"#.utf8))
                }
                for _ in 0..<Self.framesPerSequence { lines.append(Self.nextLine(&mutator)) }
                // A ping last: its answer (or the close) says everything before it was handled.
                lines.append(Array(#"{"id":999999,"type":"ping"}"#.utf8))
                var stream: [UInt8] = []
                for line in lines { stream += line + [UInt8(ascii: "\n")] }
                // Cut at random points, as TCP would.
                var offset = 0
                while offset < stream.count, channel.isActive {
                    let size = min(stream.count - offset, 1 + mutator.below(300))
                    try await channel.writeInbound(ByteBuffer(bytes: stream[offset..<(offset + size)]))
                    offset += size
                }
                var sawPing = false
                // Generous: the first sessions register and log in (scrypt on a shared pool)
                // while the rest of the suite starts servers and dumps cores on two cores.
                _ = try await SessionHandlerTests.eventually(
                    "the ping's answer or a close (sequence \(sequence))", timeout: .seconds(30)
                ) { () -> Bool? in
                    while let buffer = try await channel.readOutbound(as: ByteBuffer.self) {
                        let decoded = ServerFrame.decode(buffer)
                        #expect(throws: Never.self, "sequence \(sequence): \(String(buffer: buffer))") { try decoded.get() }
                        if case .success(let frame) = decoded, frame.id == 999999 { sawPing = true }
                        if case .success(.ok(2, .some, _, _, _)) = decoded { logins += 1 }
                    }
                    return sawPing || !channel.isActive ? true : nil
                }
                if sawPing { answeredPings += 1 }
                if channel.isActive { try await channel.close() }
                _ = try? await channel.finish()
            }
        }
        // Real work happened: logins went through and most sessions lived to the last line.
        #expect(logins > Self.handlerSequences / 4, "only \(logins) logins")
        #expect(answeredPings > Self.handlerSequences / 4, "only \(answeredPings) sessions answered the last ping")
    }
}

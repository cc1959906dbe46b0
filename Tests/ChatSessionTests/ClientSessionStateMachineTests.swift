import ChatSession
import Shared
import Testing

/// The session rules without a channel: waiters are plain strings.
@Suite("Client session state machine")
struct ClientSessionStateMachineTests {
    typealias Machine = ClientSessionStateMachine<String>

    private func message(_ id: String, seq: Int = 1) -> ServerFrame {
        .message(ChatMessage(id: id, from: "bob", body: "hi", sentAtMilliseconds: 1, stored: false, seq: seq))
    }

    /// A machine that has said hello and been greeted.
    private func greeted(_ policy: AcknowledgementPolicy = .afterShown, remembering: Int = 100) -> Machine {
        var machine = Machine(acknowledgement: policy, rememberedMessages: remembering)
        let said = machine.sendingHello()
        #expect(said)
        guard case .greeted(let agent) = machine.received(.success(.hello(version: ProtocolVersion.current, agent: "srv/1"))) else {
            Issue.record("not greeted")
            return machine
        }
        #expect(agent == "srv/1")
        #expect(machine.isOpen)
        return machine
    }

    @Test("hello once; another version or an error refuses the greeting")
    func greeting() {
        var machine = Machine(acknowledgement: .afterShown, rememberedMessages: 10)
        #expect(!machine.isOpen)
        let first = machine.sendingHello()
        let second = machine.sendingHello()
        #expect(first)
        #expect(!second, "hello goes out once")
        guard case .greetingFailed(.versionMismatch(let version)) = machine.received(.success(.hello(version: 99, agent: "x"))) else {
            Issue.record("a newer version must fail the greeting")
            return
        }
        #expect(version == 99)

        var refused = Machine(acknowledgement: .afterShown, rememberedMessages: 10)
        _ = refused.sendingHello()
        let error = ProtocolError(.versionMismatch, message: "busy")
        guard case .greetingFailed(.refused(let got)) = refused.received(.success(.error(error))) else {
            Issue.record("an error before hello must fail the greeting")
            return
        }
        #expect(got == error)
        #expect(!refused.isOpen)
    }

    @Test("a request made before the greeting finished still gets its answer")
    func requestDuringGreeting() {
        var machine = Machine(acknowledgement: .afterShown, rememberedMessages: 10)
        _ = machine.sendingHello()
        let id = machine.startRequest(waiter: "early")
        let refusal = ProtocolError(.helloRequired, message: "say hello first", id: id)
        guard case .answer("early", .error(refusal)) = machine.received(.success(.error(refusal))) else {
            Issue.record("the refusal answers the request; it does not end the greeting")
            return
        }
        guard case .greeted = machine.received(.success(.hello(version: ProtocolVersion.current, agent: "srv/1"))) else {
            Issue.record("the greeting goes on")
            return
        }
    }

    @Test("replies go to the request with their id, whatever the order")
    func repliesMatchedByID() {
        var machine = greeted()
        let first = machine.startRequest(waiter: "first")
        let second = machine.startRequest(waiter: "second")
        #expect(first == 1 && second == 2)
        guard case .answer("second", .ok(2, "bob", nil, nil, false)) = machine.received(.success(.ok(id: 2, username: "bob"))) else {
            Issue.record("second's reply")
            return
        }
        guard case .answer("first", .receipt(1, "m1", .sent)) = machine.received(.success(.receipt(id: 1, messageID: "m1", status: .sent))) else {
            Issue.record("first's reply")
            return
        }
        #expect(machine.pendingCount == 0)
        guard case .emit(.reply(.ok(2, nil, nil, nil, false))) = machine.received(.success(.ok(id: 2))) else {
            Issue.record("a second answer to an answered id is passed on, not matched")
            return
        }
    }

    @Test("a keys frame answers the fetch_keys that asked, by id")
    func keysAnswerByID() {
        var machine = greeted()
        let id = machine.startRequest(waiter: "fetch")
        let bundle = PublishedBundle(
            username: "bob", registrationID: 7, identityKey: Array(repeating: 5, count: 33),
            signedPreKey: PublishedSignedPreKey(id: 1, publicKey: Array(repeating: 5, count: 33), signature: Array(repeating: 1, count: 64)),
            preKey: nil)
        guard case .answer("fetch", .keys(id, bundle)) = machine.received(.success(.keys(id: id ?? 0, bundle: bundle))) else {
            Issue.record("the keys frame answers its request")
            return
        }
        #expect(machine.pendingCount == 0)
    }

    @Test("a posted request's reply is an event; an error with an id answers its request")
    func postedAndErrors() {
        var machine = greeted()
        let posted = machine.startRequest(waiter: nil)
        let awaited = machine.startRequest(waiter: "send")
        #expect(machine.pendingCount == 1, "posted requests are not tracked")
        guard case .emit(.reply(.receipt(posted, "m", .stored))) = machine.received(.success(.receipt(id: posted, messageID: "m", status: .stored))) else {
            Issue.record("posted reply")
            return
        }
        let refusal = ProtocolError(.notChatting, message: "choose someone", id: awaited)
        guard case .answer("send", .error(refusal)) = machine.received(.success(.error(refusal))) else {
            Issue.record("an error frame with the id answers the request")
            return
        }
    }

    @Test("after shown: a message is passed on unacknowledged, a duplicate is dropped and acknowledged")
    func duplicatesAfterShown() {
        var machine = greeted(.afterShown)
        let due1 = machine.acknowledgementDue()
        #expect(due1 == nil, "nothing to acknowledge before it arrived")
        guard case .emit(.message(let first)) = machine.received(.success(message("m1", seq: 1))) else {
            Issue.record("first delivery")
            return
        }
        #expect(first.id == "m1")
        let due2 = machine.acknowledgementDue()
        #expect(due2 == nil, "not before it is shown")
        let due3 = machine.shown(seq: 1)
        #expect(due3, "the caller acknowledges once shown")
        let due4 = machine.acknowledgementDue()
        #expect(due4 == 1)
        let due5 = machine.acknowledgementDue()
        #expect(due5 == nil, "taken as sent")
        guard case .acknowledgeDuplicate = machine.received(.success(message("m1", seq: 2))) else {
            Issue.record("a redelivery is dropped but acknowledged")
            return
        }
        let due6 = machine.acknowledgementDue()
        #expect(due6 == 2)
    }

    @Test("automatic: the ack follows the event; the caller's acknowledge sends nothing more")
    func automaticAcknowledgement() {
        var machine = greeted(.automatic)
        guard case .emitThenAcknowledge(.message) = machine.received(.success(message("m1", seq: 1))) else {
            Issue.record("automatic ack")
            return
        }
        let moved = machine.shown(seq: 1)
        #expect(!moved, "the caller's acknowledge adds nothing")
        guard case .acknowledgeDuplicate = machine.received(.success(message("m1", seq: 2))) else {
            Issue.record("duplicate")
            return
        }
        let due7 = machine.acknowledgementDue()
        #expect(due7 == 2)
    }

    @Test("unasked frames become events; keep-alive answers are swallowed")
    func unsolicited() {
        var machine = Machine(acknowledgement: .afterShown, rememberedMessages: 10)
        let early = machine.keepAliveDue()
        #expect(early == nil, "no ping before the greeting")
        machine = greeted()
        guard case .emit(.receipt("m", .stored)) = machine.received(.success(.receipt(id: nil, messageID: "m", status: .stored))) else {
            Issue.record("receipt")
            return
        }
        guard case .emit(.delivered(["m", "n"])) = machine.received(.success(.delivered(messageIDs: ["m", "n"]))) else {
            Issue.record("delivered")
            return
        }
        guard case .emit(.inboxSummary(let counts, 2)) = machine.received(.success(.inbox(id: nil, counts: ["bob": 3], expired: 2))) else {
            Issue.record("summary")
            return
        }
        #expect(counts == ["bob": 3])
        guard case .emit(.notice(.paired, "now chatting with bob")) = machine.received(.success(.notice(code: .paired, message: "now chatting with bob"))) else {
            Issue.record("notice")
            return
        }
        guard case .emit(.error(let error)) = machine.received(.success(.error(ProtocolError(.timedOut, message: "bye")))) else {
            Issue.record("error without id")
            return
        }
        #expect(error.code == .timedOut)
        guard case .emit(.badFrame) = machine.received(.failure(ProtocolError(.invalidJSON, message: "junk"))) else {
            Issue.record("bad frame")
            return
        }
        let ping = machine.keepAliveDue()
        #expect(ping != nil)
        guard case .ignore = machine.received(.success(.ok(id: ping ?? 0))) else {
            Issue.record("the keep-alive's ok is nobody's business")
            return
        }
    }

    @Test("closing hands back every waiter once; nothing starts afterwards")
    func closing() {
        var machine = greeted()
        _ = machine.startRequest(waiter: "a")
        _ = machine.startRequest(waiter: nil)
        _ = machine.keepAliveDue()
        _ = machine.startRequest(waiter: "b")
        let (waiters, first) = machine.closed()
        #expect(Set(waiters) == ["a", "b"])
        #expect(first)
        let again = machine.closed()
        #expect(again.waiters.isEmpty && !again.first)
        let late = machine.startRequest(waiter: "late")
        let ping = machine.keepAliveDue()
        #expect(late == nil)
        #expect(ping == nil)
        guard case .ignore = machine.received(.success(message("m"))) else {
            Issue.record("nothing is read after the close")
            return
        }
    }
}

@Suite("Received message ids")
struct ReceivedMessagesTests {
    @Test("duplicates are found; the last capacity ids are always remembered, at most twice that")
    func bounded() {
        var received = ReceivedMessages(capacity: 3)
        let fresh = ["a", "b", "c"].map { received.insert($0) }
        #expect(fresh == [true, true, true])
        let duplicate = received.insert("b")
        #expect(!duplicate)
        for id in ["d", "e"] {
            let inserted = received.insert(id)
            #expect(inserted)
        }
        #expect(received.count == 5)
        #expect(["a", "b", "c", "d", "e"].allSatisfy { received.contains($0) })
        let sixth = received.insert("f")
        #expect(sixth, "the newer generation is full: the older one (a, b, c) goes")
        #expect(received.count == 3)
        #expect(!received.contains("a") && !received.contains("c"))
        #expect(["d", "e", "f"].allSatisfy { received.contains($0) })
        let forgotten = received.insert("a")
        #expect(forgotten, "a forgotten id is new again")
        let again = received.insert("d")
        #expect(!again, "found in the older generation")
        // Over many ids: never more than twice the capacity, never fewer than the last three.
        var many = ReceivedMessages(capacity: 3)
        for index in 0..<50 {
            _ = many.insert("id\(index)")
            #expect(many.count <= 6)
            #expect((max(0, index - 2)...index).allSatisfy { many.contains("id\($0)") })
        }
    }
}

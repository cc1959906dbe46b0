import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Shared
import Testing

@testable import Server

/// Pairing rules, without sockets: outboxes over embedded channels.
@Suite("InProcessPresence")
struct InProcessPresenceTests {
    private func outbox(_ name: String, session: UInt64) -> SessionMailbox {
        SessionMailbox(username: name, sessionID: session, liveWindow: InboxLimits(), channel: EmbeddedChannel())
    }

    @Test("paired only when each has chosen the other; live routing follows the pairing")
    func mutualChoice() {
        let registry = InProcessPresence<SessionMailbox>()
        _ = registry.claim(outbox("alice", session: 1))
        _ = registry.claim(outbox("bob", session: 2))
        let first = registry.choose(username: "alice", partner: "bob")
        #expect(!first.paired)
        #expect(first.partner?.username == "bob")
        #expect(registry.livePartner(from: "alice", to: "bob") == nil)
        let second = registry.choose(username: "bob", partner: "alice")
        #expect(second.paired)
        #expect(registry.livePartner(from: "alice", to: "bob")?.username == "bob")
        #expect(registry.livePartner(from: "bob", to: "alice")?.username == "alice")
        #expect(registry.who(except: "carol").map(\.status) == [.chatting, .chatting])
    }

    @Test("choosing someone else, leaving, or logging out ends the pairing and names the abandoned partner")
    func endingAPair() {
        let registry = InProcessPresence<SessionMailbox>()
        let carol = outbox("carol", session: 3)
        for session in [outbox("alice", session: 1), outbox("bob", session: 2), carol] {
            _ = registry.claim(session)
        }
        _ = registry.choose(username: "alice", partner: "bob")
        _ = registry.choose(username: "bob", partner: "alice")
        let switched = registry.choose(username: "bob", partner: "carol")
        #expect(switched.abandoned?.username == "alice")
        #expect(registry.livePartner(from: "alice", to: "bob") == nil)

        _ = registry.choose(username: "carol", partner: "bob")
        #expect(registry.leave(username: "carol")?.username == "bob")
        #expect(carol.route.choice == nil)

        _ = registry.choose(username: "carol", partner: "bob")
        #expect(registry.release(username: "bob", sessionID: 2)?.username == "carol")
        #expect(!registry.isOnline("bob"))
    }

    @Test("a newer login displaces the older one, and a stale release cannot log out the newer")
    func displacement() {
        let registry = InProcessPresence<SessionMailbox>()
        _ = registry.claim(outbox("alice", session: 1))
        _ = registry.claim(outbox("bob", session: 2))
        _ = registry.choose(username: "alice", partner: "bob")
        _ = registry.choose(username: "bob", partner: "alice")
        let again = outbox("alice", session: 3)
        let claimed = registry.claim(again)
        #expect(claimed.displaced?.sessionID == 1)
        #expect(claimed.abandonedPartner?.username == "bob", "bob must hear alice left")
        #expect(again.route.choice == nil, "the new session starts without a choice")
        #expect(registry.release(username: "alice", sessionID: 1) == nil)
        #expect(registry.isOnline("alice"))
        #expect(registry.session(for: "alice")?.sessionID == 3)
    }

    @Test("every online session's route follows the pairing rules after any sequence of changes")
    func routesFollowTheRegistry() {
        let registry = InProcessPresence<SessionMailbox>()
        let names = ["alice", "bob", "carol", "dave"]
        // The model: who is online, and whom each has chosen.
        var sessions: [String: SessionMailbox] = [:]
        var choices: [String: String] = [:]
        var nextSession: UInt64 = 1
        // A fixed-seed xorshift, so a failure names a reproducible step.
        var state: UInt64 = 0x0BAD_5EED_1234_5678
        func next(_ bound: Int) -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % UInt64(bound))
        }
        for step in 0..<5_000 {
            let name = names[next(names.count)]
            switch next(4) {
            case 0:
                let fresh = outbox(name, session: nextSession)
                nextSession += 1
                let claimed = registry.claim(fresh)
                // What the server does with the displaced session.
                _ = claimed.displaced?.close()
                sessions[name] = fresh
                choices[name] = nil
            case 1:
                if let session = sessions[name] {
                    _ = session.close()
                    _ = registry.release(username: name, sessionID: session.sessionID)
                    sessions[name] = nil
                    choices[name] = nil
                }
            case 2:
                let partner = names[next(names.count)]
                _ = registry.choose(username: name, partner: partner)
                if sessions[name] != nil { choices[name] = partner }
            default:
                _ = registry.leave(username: name)
                choices[name] = nil
            }
            for (user, session) in sessions {
                let route = session.route
                #expect(route.choice == choices[user], "step \(step): \(user)'s choice")
                let expected = choices[user].flatMap { chosen in choices[chosen] == user ? sessions[chosen] : nil }
                #expect(route.partner === expected, "step \(step): \(user)'s live partner")
                #expect(
                    registry.livePartner(from: user, to: choices[user] ?? "") === expected,
                    "step \(step): the registry's own answer")
            }
        }
    }
}

@Suite("SessionMailbox")
struct SessionMailboxTests {
    private func message(_ id: String) -> StoredMessage {
        StoredMessage(id: id, from: "alice", to: "bob", body: "hi \(id)", sentAtMilliseconds: 1)
    }

    @Test("delivered messages stay pending until acknowledged; close hands back the rest, in order")
    func pendingUntilAcknowledged() throws {
        let channel = EmbeddedChannel(handler: LinePerBuffer())
        let outbox = SessionMailbox(username: "bob", sessionID: 1, liveWindow: InboxLimits(), channel: channel)
        #expect(outbox.deliver(message("1"), fromInbox: false))
        #expect(outbox.deliver(message("2"), fromInbox: true))
        #expect(outbox.deliver(message("3"), fromInbox: false))
        #expect(outbox.deliver(message("2"), fromInbox: true), "a repeat is accepted but not written twice")
        // Frames offered in one turn of the loop are flushed together at its end.
        channel.embeddedEventLoop.run()
        var written = 0
        while try channel.readOutbound(as: ByteBuffer.self) != nil { written += 1 }
        #expect(written == 3)
        #expect(outbox.acknowledge(upTo: 2).map(\.message.id) == ["1", "2"], "cumulative, in seq order")
        #expect(outbox.acknowledge(upTo: 2).isEmpty, "already acknowledged")
        #expect(outbox.acknowledge(upTo: Int.min).isEmpty, "any seq a client sends is taken, the smallest too")
        #expect(outbox.acknowledge(upTo: 9).map(\.message.id) == ["3"], "past the last one written")
        #expect(outbox.acknowledge(upTo: Int.max).isEmpty, "the largest too")
        #expect(outbox.deliver(message("5"), fromInbox: false))
        let left = outbox.close()
        #expect(left.map(\.message.id) == ["5"])
        #expect(!outbox.deliver(message("4"), fromInbox: false), "a closed session refuses, so the sender stores it")
        _ = try? channel.finish()
    }

    @Test("while a relay runs, live messages wait for it and stored ones are left to it; close hands back what waited")
    func relayHoldsTheSendersMessages() throws {
        let channel = EmbeddedChannel(handler: LinePerBuffer())
        let outbox = SessionMailbox(
            username: "bob", sessionID: 1, liveWindow: InboxLimits(maximumMessages: 3), channel: channel)
        #expect(outbox.beginRelay(from: "alice"))
        #expect(!outbox.beginRelay(from: "alice"), "one relay at a time; asked to read again")
        #expect(outbox.deliver(message("live1"), fromInbox: false), "accepted, to be written after the relay")
        #expect(outbox.deliver(message("stored2"), fromInbox: true), "left to the relay")
        channel.embeddedEventLoop.run()
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "nothing written while the relay runs")
        #expect(outbox.relayReadDone(from: "alice"), "asked again: one more read")
        #expect(outbox.deliver(message("stored1"), fromInbox: true, byRelay: true))
        #expect(outbox.deliver(message("live2"), fromInbox: false))
        #expect(outbox.deliver(message("live3"), fromInbox: false))
        #expect(!outbox.deliver(message("live4"), fromInbox: false), "the waiting ones count against the live window")
        #expect(!outbox.relayReadDone(from: "alice"), "nothing asked meanwhile: the relay ends")
        channel.embeddedEventLoop.run()
        var seen: [(String, Int)] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            if case .message(let message) = try ServerFrame.decode(buffer).get() { seen.append((message.id, message.seq)) }
        }
        #expect(seen.map(\.0) == ["stored1", "live1", "live2", "live3"], "the relay's first, then the waiting ones in order")
        #expect(seen.map(\.1) == [1, 2, 3, 4], "seqs in the order written")
        #expect(outbox.deliver(message("live5"), fromInbox: false) == false, "window full until acknowledged")
        #expect(outbox.acknowledge(upTo: 2).map(\.message.id) == ["stored1", "live1"])
        #expect(outbox.beginRelay(from: "alice"))
        #expect(outbox.deliver(message("live5"), fromInbox: false))
        #expect(outbox.close().map(\.message.id) == ["live2", "live3", "live5"], "written or waiting, all handed back")
        _ = try? channel.finish()
    }

    @Test("live messages past the live window are refused (the sender stores them); acks and inbox messages do not count")
    func liveWindow() throws {
        let channel = EmbeddedChannel(handler: LinePerBuffer())
        let outbox = SessionMailbox(
            username: "bob", sessionID: 1, liveWindow: InboxLimits(maximumMessages: 2), channel: channel)
        #expect(outbox.deliver(message("1"), fromInbox: false))
        #expect(outbox.deliver(message("2"), fromInbox: false))
        #expect(!outbox.deliver(message("3"), fromInbox: false), "two live messages unacknowledged: the window is full")
        #expect(outbox.deliver(message("4"), fromInbox: true), "an inbox message has its place in the inbox already")
        #expect(outbox.acknowledge(upTo: 1).map(\.fromInbox) == [false])
        #expect(outbox.deliver(message("3"), fromInbox: false), "an ack frees its place")
        #expect(outbox.close().map(\.message.id) == ["2", "4", "3"])
        _ = try? channel.finish()
    }

    @Test("frames offered on the channel's loop in one turn are written at once and share one flush")
    func framesOnTheLoopShareOneFlush() throws {
        let counter = FlushCounter()
        let channel = EmbeddedChannel(handlers: [counter, LinePerBuffer()])
        let outbox = SessionMailbox(username: "bob", sessionID: 1, liveWindow: InboxLimits(), channel: channel)
        for id in ["1", "2", "3"] {
            #expect(outbox.deliver(message(id), fromInbox: false))
        }
        outbox.send(.notice(code: .paired, message: "now chatting with alice"))
        #expect(counter.flushes == 0, "the flush waits for the end of the loop's turn")
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 1)
        var ids: [String] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            switch try ServerFrame.decode(buffer).get() {
            case .message(let message): ids.append(message.id)
            case .notice: ids.append("notice")
            default: Issue.record("unexpected frame")
            }
        }
        #expect(ids == ["1", "2", "3", "notice"])
        _ = try? channel.finish()
    }

    @Test("frames offered from other threads cross to the loop in one task, in order, with one flush")
    func framesFromOtherThreadsShareOneFlush() async throws {
        let counter = FlushCounter()
        let channel = await NIOAsyncTestingChannel(handlers: [counter, LinePerBuffer()])
        let outbox = SessionMailbox(username: "bob", sessionID: 1, liveWindow: InboxLimits(), channel: channel)
        // Hold the loop, so every frame below is offered before it can run anything.
        let loopHeld = ConditionLock(value: 0)
        channel.testingEventLoop.execute {
            loopHeld.lock(whenValue: 1)
            loopHeld.unlock()
        }
        for id in 1...20 {
            #expect(outbox.deliver(message(String(id)), fromInbox: false))
        }
        loopHeld.lock()
        loopHeld.unlock(withValue: 1)
        // Runs after everything queued before it.
        try await channel.testingEventLoop.executeInContext {}
        #expect(counter.flushes == 1)
        var ids: [String] = []
        while let buffer = try await channel.readOutbound(as: ByteBuffer.self) {
            if case .message(let message) = try ServerFrame.decode(buffer).get() { ids.append(message.id) }
        }
        #expect(ids == (1...20).map(String.init))
        _ = try? await channel.finish()
    }
}

import Logging
import Shared
import Testing

@testable import Server

/// A session as presence sees it, recording what it is told.
final class RecordingSession: PresentSession {
    let username: String
    let sessionID: UInt64
    private let state = Locked<(route: Route<RecordingSession>, frames: [ServerFrame], events: [SessionEvent])>(
        (Route(), [], []))

    init(_ username: String, _ sessionID: UInt64) {
        self.username = username
        self.sessionID = sessionID
    }

    var route: Route<RecordingSession> { state.withLock { $0.route } }
    var frames: [ServerFrame] { state.withLock { $0.frames } }
    var events: [SessionEvent] { state.withLock { $0.events } }

    /// The codes of the notices received so far.
    var notices: [NoticeCode] {
        frames.compactMap { frame in
            if case .notice(let code, _) = frame { return code }
            return nil
        }
    }

    func setRoute(_ route: Route<RecordingSession>) { state.withLock { $0.route = route } }
    func fire(_ event: SessionEvent) { state.withLock { $0.events.append(event) } }

    @discardableResult
    func send(_ frame: ServerFrame) -> Bool {
        state.withLock { $0.frames.append(frame) }
        return true
    }
}

/// `ClusterPresence` over the in-memory twin of the shared directory: several nodes in one
/// process, messages handed over when the test says.
@Suite("ClusterPresence")
struct ClusterPresenceTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// `count` nodes of one in-memory cluster, joined.
    static func nodes(_ count: Int, hooks: ClusterHooks<RecordingSession> = ClusterHooks()) async throws
        -> (InMemoryCluster, [ClusterPresence<RecordingSession>])
    {
        let cluster = InMemoryCluster()
        var nodes: [ClusterPresence<RecordingSession>] = []
        for index in 0..<count {
            let node = ClusterPresence<RecordingSession>(directory: cluster.directory(), timing: ClusterTiming(), logger: logger)
            try await node.start(label: "node-\(index)", hooks: hooks)
            nodes.append(node)
        }
        return (cluster, nodes)
    }

    @Test("pairing across nodes: each side's route says paired elsewhere once the other node has heard; notices reach the other node")
    func pairAcrossNodes() async throws {
        let (cluster, nodes) = try await Self.nodes(2)
        let alice = RecordingSession("alice", 1)
        let bob = RecordingSession("bob", 1)
        _ = try await nodes[0].claim(alice)
        _ = try await nodes[1].claim(bob)
        let first = try await nodes[0].choose(username: "alice", partner: "bob")
        #expect(!first.paired)
        #expect(first.partner is RemoteReach)
        first.partner?.send(.notice(code: .invited, message: "alice wants to chat"))
        cluster.deliver()
        #expect(bob.notices == [.invited])
        #expect(alice.route.choice == "bob" && !alice.route.isPaired)

        let second = try await nodes[1].choose(username: "bob", partner: "alice")
        #expect(second.paired)
        #expect(bob.route.choice == "alice" && bob.route.pairedElsewhere && bob.route.partner == nil)
        #expect(!alice.route.isPaired, "node 0 has not heard yet")
        cluster.deliver()
        #expect(alice.route.choice == "bob" && alice.route.pairedElsewhere)
        #expect(try await nodes[0].who(except: "carol") == [
            PresenceEntry(username: "alice", status: .chatting), PresenceEntry(username: "bob", status: .chatting),
        ])
        #expect(nodes[0].livePartner(from: "bob", to: "alice") == nil, "live delivery is for one node")

        // bob leaves: alice's route loses him, and she hears it through the reach returned.
        let partner = try await nodes[1].leave(username: "bob")
        #expect(partner?.username == "alice")
        partner?.send(.notice(code: .partnerLeft, message: "bob left the chat"))
        cluster.deliver()
        #expect(!alice.route.isPaired && alice.route.choice == "bob")
        #expect(alice.notices == [.partnerLeft])
    }

    @Test("the operator's close reaches whichever node holds the session; the answer waits for it to be gone")
    func operatorCloseAcrossNodes() async throws {
        let (cluster, nodes) = try await Self.nodes(2)
        let bob = RecordingSession("bob", 4)
        _ = try await nodes[1].claim(bob)
        // chat-server admin on the database itself: a directory that never joined.
        let admin = ClusterSessions(
            directory: cluster.directory(), throttle: LoginThrottle(), wait: .seconds(60), pollInterval: .milliseconds(5))
        let closing = Task { await admin.close("bob", notice: .accountLocked) }
        for _ in 0..<2_000 where bob.events.isEmpty {
            cluster.deliver()
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(bob.events == [.closedByOperator(.accountLocked)])
        #expect(try await nodes[0].who(except: "") == [PresenceEntry(username: "bob", status: .free)], "not gone yet")
        // The session's handler ends it, as a real one does when fired.
        _ = try await nodes[1].release(username: "bob", sessionID: 4)
        #expect(await closing.value == .closed)
        #expect(await admin.close("bob", notice: .accountLocked) == SessionClosing.none, "nobody to close")

        // Told, but not gone within the wait (the node has not heard yet): said so.
        let carol = RecordingSession("carol", 5)
        _ = try await nodes[1].claim(carol)
        let fromNode = ClusterSessions(
            directory: cluster.directory(), throttle: LoginThrottle(), wait: .milliseconds(50), pollInterval: .milliseconds(5))
        #expect(await fromNode.close("carol", notice: .passwordReset) == .asked, "told, not yet closed")
        cluster.deliver()
        #expect(carol.events == [.closedByOperator(.passwordReset)])
    }

    @Test("a login on another node displaces the first session there; its partner is named; a late release of it changes nothing")
    func displacementAcrossNodes() async throws {
        let (cluster, nodes) = try await Self.nodes(2)
        let alice = RecordingSession("alice", 7)
        let bob = RecordingSession("bob", 8)
        _ = try await nodes[0].claim(alice)
        _ = try await nodes[1].claim(bob)
        _ = try await nodes[0].choose(username: "alice", partner: "bob")
        _ = try await nodes[1].choose(username: "bob", partner: "alice")
        cluster.deliver()

        let again = RecordingSession("alice", 7)
        let claimed = try await nodes[1].claim(again)
        #expect(claimed.displaced == nil, "the displaced session is on the other node")
        #expect(claimed.abandonedPartner?.username == "bob")
        #expect(!bob.route.isPaired && bob.route.choice == "alice", "bob keeps his choice, without a partner")
        cluster.deliver()
        #expect(alice.events == [.displaced])
        #expect(try await nodes[0].release(username: "alice", sessionID: 7) == nil)
        #expect(cluster.table.entries["alice"]?.holder == SessionAddress(node: 2, session: 7))
        // bob chose alice: her new session is invited at once, and pairs with one choice.
        #expect(try await nodes[1].claim(RecordingSession("carol", 9)).choosers.isEmpty)
        let choice = try await nodes[1].choose(username: "alice", partner: "bob")
        #expect(choice.paired)
        #expect(again.route.partner === bob && bob.route.partner === again, "both on node 1 now: live")
        #expect(nodes[1].livePartner(from: "alice", to: "bob") === bob)
    }

    @Test("a dead node's users go offline; their partners elsewhere are told and lose them; its messages go nowhere")
    func deadNode() async throws {
        let (cluster, nodes) = try await Self.nodes(3)
        let alice = RecordingSession("alice", 1)
        let bob = RecordingSession("bob", 1)
        let carol = RecordingSession("carol", 1)
        _ = try await nodes[0].claim(alice)
        _ = try await nodes[1].claim(bob)
        _ = try await nodes[2].claim(carol)
        _ = try await nodes[0].choose(username: "alice", partner: "bob")
        _ = try await nodes[1].choose(username: "bob", partner: "alice")
        cluster.deliver()
        #expect(alice.route.pairedElsewhere)

        cluster.kill(nodes[1].node)
        #expect(try await nodes[2].who(except: "carol").map(\.username) == ["alice"], "dead before it is buried")
        // Both survivors noticed; the presence lock makes the second burial find nothing.
        try await Task.sleep(for: .milliseconds(200))
        cluster.deliver()
        #expect(!alice.route.isPaired && alice.route.choice == "bob")
        #expect(alice.frames == [PairingNotice.disconnected("bob")], "told once")
        #expect(cluster.table.entries["bob"] == nil)
        #expect(try await nodes[0].who(except: "alice").map(\.username) == ["carol"])
    }

    @Test("a route update older than the one applied is dropped, whichever way it came; one for another session too")
    func routeVersions() async throws {
        let (cluster, nodes) = try await Self.nodes(1)
        let other = cluster.directory()
        _ = other.join(label: "other", timing: ClusterTiming()) { _ in }
        let alice = RecordingSession("alice", 1)
        _ = try await nodes[0].claim(alice)
        let node = nodes[0].node
        let newer = RouteUpdate(
            username: "alice", session: 1, version: 1_000, choice: "bob", partner: SessionAddress(node: 9, session: 4))
        other.send([
            Outgoing(to: .node(node), message: .route(newer)),
            Outgoing(to: .node(node), message: .route(RouteUpdate(username: "alice", session: 2, version: 2_000, choice: "carol"))),
            Outgoing(to: .node(node), message: .route(RouteUpdate(username: "alice", session: 1, version: 999, choice: "dave"))),
        ])
        cluster.deliver()
        #expect(alice.route.choice == "bob" && alice.route.pairedElsewhere)
        // This node's own change comes back with an older version than the message above.
        _ = try await nodes[0].choose(username: "alice", partner: "erin")
        #expect(alice.route.choice == "bob", "older than the update applied")
    }

    @Test("a node counted dead closes its sessions without a word and starts again under a new number")
    func rejoined() async throws {
        let (cluster, nodes) = try await Self.nodes(1)
        let alice = RecordingSession("alice", 1)
        _ = try await nodes[0].claim(alice)
        let old = nodes[0].node
        cluster.rejoin(old)
        #expect(alice.events == [.dropped])
        #expect(nodes[0].node != old)
        #expect(nodes[0].session(for: "alice") == nil)
        #expect(cluster.table.entries.isEmpty)
        // A new login works under the new number.
        _ = try await nodes[0].claim(RecordingSession("alice", 2))
        #expect(cluster.table.entries["alice"]?.holder == SessionAddress(node: nodes[0].node, session: 2))
    }

    @Test("after the message connection was cut: routes from the table, lost sessions displaced, stale rows released, relays asked for")
    func resynchronise() async throws {
        let relays = Locked<[String]>([])
        let forgotten = Locked(0)
        let hooks = ClusterHooks<RecordingSession>(
            storedElsewhere: { session, sender in relays.withLock { $0.append("\(session.username)<-\(sender)") } },
            keysMayHaveChanged: { forgotten.withLock { $0 += 1 } })
        let (cluster, nodes) = try await Self.nodes(2, hooks: hooks)
        let alice = RecordingSession("alice", 1)
        let bob = RecordingSession("bob", 1)
        _ = try await nodes[0].claim(alice)
        _ = try await nodes[1].claim(bob)
        _ = try await nodes[0].choose(username: "alice", partner: "bob")
        _ = try await nodes[1].choose(username: "bob", partner: "alice")
        // Node 0 misses the route update (its connection was cut), then reconnects.
        #expect(!alice.route.isPaired)
        cluster.reconnect(nodes[0].node)
        try await Task.sleep(for: .milliseconds(200))
        #expect(alice.route.pairedElsewhere, "the route came from the table")
        #expect(relays.withLock { $0 } == ["alice<-bob"], "and what was announced meanwhile is looked for")
        #expect(forgotten.withLock { $0 } == 1)
    }

    @Test("every session's route follows the pairing rules across three nodes after any sequence of changes and deliveries")
    func routesFollowTheTable() async throws {
        let (cluster, nodes) = try await Self.nodes(3)
        let names = ["alice", "bob", "carol", "dave"]
        var sessions: [String: (node: Int, session: RecordingSession)] = [:]
        var choices: [String: String] = [:]
        var nextSession: UInt64 = 1
        var state: UInt64 = 0x5EED_C1A5_7E12_0001
        func next(_ bound: Int) -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % UInt64(bound))
        }
        for step in 0..<1_500 {
            let name = names[next(names.count)]
            switch next(5) {
            case 0:
                let node = next(nodes.count)
                let fresh = RecordingSession(name, nextSession)
                nextSession += 1
                _ = try await nodes[node].claim(fresh)
                sessions[name] = (node, fresh)
                choices[name] = nil
            case 1:
                if let (node, session) = sessions[name] {
                    _ = try await nodes[node].release(username: name, sessionID: session.sessionID)
                    sessions[name] = nil
                    choices[name] = nil
                }
            case 2:
                let partner = names[next(names.count)]
                if let (node, _) = sessions[name], partner != name {
                    _ = try await nodes[node].choose(username: name, partner: partner)
                    choices[name] = partner
                }
            case 3:
                if let (node, _) = sessions[name] {
                    _ = try await nodes[node].leave(username: name)
                    choices[name] = nil
                }
            default:
                cluster.deliver()
            }
            if step % 7 == 6 { cluster.deliver() }
            if step % 7 != 6 { continue }
            for (user, held) in sessions {
                let route = held.session.route
                #expect(route.choice == choices[user], "step \(step): \(user)'s choice")
                let partner = choices[user].flatMap { chosen in choices[chosen] == user ? sessions[chosen] : nil }
                #expect(route.isPaired == (partner != nil), "step \(step): whether \(user) is paired")
                if let partner, partner.node == held.node {
                    #expect(route.partner === partner.session, "step \(step): \(user)'s live partner on the same node")
                } else {
                    #expect(route.partner == nil, "step \(step): no live partner for \(user) on another node")
                }
            }
            #expect(Set(cluster.table.entries.keys) == Set(sessions.keys), "step \(step): who is online")
            for user in sessions.keys {
                #expect(cluster.table.entries[user]?.choice == choices[user], "step \(step): \(user)'s choice in the table")
            }
        }
    }
}

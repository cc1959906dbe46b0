import Shared
import Testing

@testable import Server

/// The pairing rules as a value, and the text of the messages between nodes.
@Suite("PairingTable")
struct PairingTableTests {
    typealias Table = PairingTable<SessionAddress>

    static func at(_ node: Int64, _ session: UInt64) -> SessionAddress {
        SessionAddress(node: node, session: session)
    }

    @Test("each change names exactly the users whose route it may change: the user and those who chose them")
    func changedRoutes() {
        var table = Table()
        #expect(table.claim("alice", holder: Self.at(1, 1)).changedRoutes == ["alice"])
        _ = table.claim("bob", holder: Self.at(2, 1))
        _ = table.claim("carol", holder: Self.at(2, 2))
        #expect(table.choose("carol", partner: "alice").changedRoutes == ["carol"], "alice has not chosen carol")
        let first = table.choose("alice", partner: "bob")
        #expect(!first.paired && first.partnerOnline && first.changedRoutes == ["alice"])
        let second = table.choose("bob", partner: "alice")
        #expect(second.paired && second.changedRoutes == ["bob", "alice"])
        #expect(table.partner(of: "alice") == "bob")
        // alice turns to carol, who chose her: bob loses his partner, carol gains one.
        let turn = table.choose("alice", partner: "carol")
        #expect(turn.abandoned == "bob" && turn.paired)
        #expect(Set(turn.changedRoutes) == ["alice", "bob", "carol"])
        #expect(table.who(except: "dave").map(\.status) == [.chatting, .free, .chatting])
        #expect(table.choosers(of: "alice") == ["bob", "carol"])
        // A release by anyone but the holder changes nothing.
        #expect(table.release("alice", holder: Self.at(1, 9)) == .init(released: false, partner: nil, changedRoutes: []))
        let release = table.release("alice", holder: Self.at(1, 1))
        #expect(release.released && release.partner == "carol" && Set(release.changedRoutes) == ["carol"])
    }

    @Test("a claim by another holder displaces the first and names its partner; the same holder again only starts afresh")
    func claims() {
        var table = Table()
        _ = table.claim("alice", holder: Self.at(1, 1))
        _ = table.claim("bob", holder: Self.at(1, 2))
        _ = table.choose("alice", partner: "bob")
        _ = table.choose("bob", partner: "alice")
        let again = table.claim("alice", holder: Self.at(1, 1))
        #expect(again.displaced == nil && again.abandonedPartner == nil && again.changedRoutes == ["alice", "bob"])
        _ = table.choose("alice", partner: "bob")
        let elsewhere = table.claim("alice", holder: Self.at(2, 5))
        #expect(elsewhere.displaced == Self.at(1, 1) && elsewhere.abandonedPartner == "bob")
        #expect(table.entries["alice"] == .init(holder: Self.at(2, 5), choice: nil))
        #expect(table.entries["bob"]?.choice == "alice", "the partner keeps their choice")
    }

    @Test("a dead node's users go, one release each, with their partners named")
    func releaseAll() {
        var table = Table()
        _ = table.claim("alice", holder: Self.at(1, 1))
        _ = table.claim("bob", holder: Self.at(2, 1))
        _ = table.claim("carol", holder: Self.at(2, 2))
        _ = table.choose("alice", partner: "bob")
        _ = table.choose("bob", partner: "alice")
        let gone = table.releaseAll { $0.node == 2 }
        #expect(gone.map(\.username) == ["bob", "carol"])
        #expect(gone.first?.release.partner == "alice" && gone.first?.release.changedRoutes == ["alice"])
        #expect(Array(table.entries.keys) == ["alice"])
    }
}

@Suite("NodeEnvelope")
struct NodeEnvelopeTests {
    static let messages: [NodeMessage] = [
        .route(RouteUpdate(username: "alice", session: 7, version: 42, choice: nil, partner: nil)),
        .route(RouteUpdate(username: "alice", session: .max, version: .max, choice: "bob", partner: nil)),
        .route(
            RouteUpdate(
                username: "a.b-c_d", session: 1, version: 2, choice: "bob", partner: SessionAddress(node: 3, session: 4))),
        .displace(username: "alice", session: 12),
        .frame(username: "bob", session: 3, .notice(code: .paired, message: "now chatting with alice")),
        .frame(username: "bob", session: nil, .notice(code: .partnerLeft, message: "tabs\tand  spaces, \"quotes\" and \u{1F600}")),
        .frame(username: "bob", session: nil, .delivered(messageIDs: ["0123456789abcdef-0123456789abcdef", "x-1"])),
        .frame(username: "bob", session: nil, .receipt(id: nil, messageID: "m-1", status: .stored)),
        .frame(username: "bob", session: nil, .error(ProtocolError(.notStored, message: "your message to x could not be stored"))),
        .stored(recipient: "bob", sender: "alice"),
        .keysChanged(username: "alice", identity: .unknown),
        .keysChanged(username: "alice", identity: .none),
        .keysChanged(username: "alice", identity: .key(Array(0..<33))),
        .close(username: "alice", notice: .accountLocked),
        .close(username: "bob", notice: .accountDeleted),
        .close(username: "carol", notice: .passwordReset),
    ]

    @Test("every message comes back as it was sent", arguments: messages)
    func roundTrip(_ message: NodeMessage) {
        let envelope = NodeEnvelope(from: 17, serial: 99, message: message)
        let text = envelope.encoded
        #expect(NodeEnvelope(decoding: text) == envelope, "\(text)")
        #expect(!text.contains("\n"))
    }

    @Test(
        "text that is not a message is refused, not misread",
        arguments: [
            "", "1", "1 2", "1 2 r", "x 2 s bob alice", "1 2 s bob", "1 2 s bob alice extra", "1 2 q bob",
            "1 2 r alice 7 42 bob 3", "1 2 r alice 7 42  3 4", "1 2 d alice", "1 2 f bob 3 {not json", "1 2 k alice !!!",
            "1 2 s  alice", "1 2 c alice", "1 2 c  account_locked", "1 2 c alice account_locked extra",
        ])
    func refused(_ text: String) {
        #expect(NodeEnvelope(decoding: text) == nil)
    }

    @Test("a delivered receipt too long for one notification is cut into pieces that each fit, ids in order")
    func longDeliveredIsSplit() {
        let ids = (0..<1_000).map { String(format: "%016x-%016x", $0, $0 * 7) }
        let pieces = ServerFrame.delivered(messageIDs: ids).piecesForNodeMessages(username: "alice")
        #expect(pieces.count > 1)
        var joined: [String] = []
        for piece in pieces {
            guard case .delivered(let part) = piece else {
                Issue.record("not a delivered frame")
                return
            }
            joined += part
            let envelope = NodeEnvelope(from: .max, serial: .max, message: .frame(username: "alice", session: .max, piece))
            #expect(envelope.encoded.utf8.count <= NodeEnvelope.maximumBytes)
        }
        #expect(joined == ids)
        let short = ServerFrame.delivered(messageIDs: ["a"])
        #expect(short.piecesForNodeMessages(username: "alice") == [short])
    }
}

import Foundation
import Shared

/// Where a logged-in session is in a cluster: the node that holds it and its id there.
struct SessionAddress: Hashable, Sendable {
    /// The node's number, given when it joined (a new one each time it joins).
    var node: Int64
    /// The session's id on that node.
    var session: UInt64
}

/// What a session's route became, as presence tells the node holding the session.
struct RouteUpdate: Equatable, Sendable {
    var username: String
    /// The session the route is for; an update for an older session of the user is dropped.
    var session: UInt64
    /// The change's place in the order of every presence change (taken under the cluster's
    /// presence lock): an update older than one already applied is dropped, so updates that
    /// arrive by different paths still end as the database did.
    var version: Int64
    var choice: String?
    /// The partner's session when paired (the partner is `choice`).
    var partner: SessionAddress?
}

/// A message from one node to another (or to all): what presence and delivery need another
/// node to do for a session it holds. Chat messages themselves never travel this way (their
/// bodies go through the inbox), so every message is small.
enum NodeMessage: Equatable, Sendable {
    /// Set this session's route.
    case route(RouteUpdate)
    /// The user logged in on another node: close this session with `displaced`.
    case displace(username: String, session: UInt64)
    /// Write this control frame (a notice, a receipt) to the user's session: that session
    /// only, or whichever the user has when `session` is nil.
    case frame(username: String, session: UInt64?, ServerFrame)
    /// A message from `sender` was stored for `recipient`: deliver it if they are paired,
    /// else say that a message waits.
    case stored(recipient: String, sender: String)
    /// The user published (or lost) keys: a cached identity key other than this one is stale.
    case keysChanged(username: String, identity: AnnouncedIdentity)
    /// The operator locked, deleted or reset the password of the user: close whichever
    /// session of theirs this node holds, with this notice. Sent to every node, by a node
    /// or by `chat-server admin` on the database itself.
    case close(username: String, notice: NoticeCode)
}

/// The identity key a node announces after a change to a user's keys.
enum AnnouncedIdentity: Equatable, Sendable {
    /// The store's answer was lost (a failed write): the key may or may not have changed.
    case unknown
    /// The user has no keys now.
    case none
    case key([UInt8])
}

/// A node message as sent: who sent it and its number among that node's messages (which
/// also keeps two equal messages in one transaction apart: PostgreSQL delivers equal
/// notifications of one transaction once).
struct NodeEnvelope: Equatable, Sendable {
    var from: Int64
    var serial: UInt64
    var message: NodeMessage
}

/// A node message and where it goes.
struct Outgoing: Equatable, Sendable {
    enum Destination: Equatable, Sendable {
        /// The node with this number.
        case node(Int64)
        /// The node holding the user's session, if another node holds one.
        case user(String)
        /// Every other node.
        case everyone
    }

    var to: Destination
    var message: NodeMessage
}

extension NodeEnvelope {
    /// The longest encoded envelope sent: PostgreSQL refuses a NOTIFY payload of 8,000
    /// bytes or more.
    static let maximumBytes = 7_900

    /// One line of text: the sender, the serial, a one-letter kind and its fields, separated
    /// by single spaces (an absent field is empty). Usernames hold no spaces; a frame's JSON,
    /// which may, comes last.
    var encoded: String {
        var fields = [String(from), String(serial)]
        switch message {
        case .route(let update):
            fields += [
                "r", update.username, String(update.session), String(update.version), update.choice ?? "",
                update.partner.map { String($0.node) } ?? "", update.partner.map { String($0.session) } ?? "",
            ]
        case .displace(let username, let session):
            fields += ["d", username, String(session)]
        case .frame(let username, let session, let frame):
            fields += ["f", username, session.map(String.init) ?? "", String(decoding: frame.encode(), as: UTF8.self)]
        case .stored(let recipient, let sender):
            fields += ["s", recipient, sender]
        case .keysChanged(let username, let identity):
            let key: String
            switch identity {
            case .unknown: key = ""
            case .none: key = "-"
            case .key(let bytes): key = Data(bytes).base64EncodedString()
            }
            fields += ["k", username, key]
        case .close(let username, let notice):
            fields += ["c", username, notice.rawValue]
        }
        return fields.joined(separator: " ")
    }

    /// Reads what `encoded` wrote; nil for anything else.
    init?(decoding text: String) {
        let fields = text.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 4, let from = Int64(fields[0]), let serial = UInt64(fields[1]) else { return nil }
        let rest = fields[3]
        let message: NodeMessage?
        switch fields[2] {
        case "r": message = Self.route(rest)
        case "d": message = Self.displace(rest)
        case "f": message = Self.frame(rest)
        case "s": message = Self.stored(rest)
        case "k": message = Self.keysChanged(rest)
        case "c": message = Self.close(rest)
        default: message = nil
        }
        guard let message else { return nil }
        self.init(from: from, serial: serial, message: message)
    }

    private static func route(_ text: String) -> NodeMessage? {
        let fields = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 6, let username = name(fields[0]), let session = UInt64(fields[1]),
            let version = Int64(fields[2])
        else { return nil }
        let choice = fields[3].isEmpty ? nil : name(fields[3])
        guard fields[3].isEmpty || choice != nil else { return nil }
        let partner: SessionAddress?
        switch (fields[4].isEmpty, fields[5].isEmpty) {
        case (true, true):
            partner = nil
        case (false, false):
            guard let node = Int64(fields[4]), let partnerSession = UInt64(fields[5]), choice != nil else { return nil }
            partner = SessionAddress(node: node, session: partnerSession)
        default:
            return nil
        }
        return .route(RouteUpdate(username: username, session: session, version: version, choice: choice, partner: partner))
    }

    private static func displace(_ text: String) -> NodeMessage? {
        let fields = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 2, let username = name(fields[0]), let session = UInt64(fields[1]) else { return nil }
        return .displace(username: username, session: session)
    }

    private static func frame(_ text: String) -> NodeMessage? {
        let fields = text.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 3, let username = name(fields[0]) else { return nil }
        let session = fields[1].isEmpty ? nil : UInt64(fields[1])
        guard fields[1].isEmpty || session != nil, case .success(let frame) = ServerFrame.decode(Array(fields[2].utf8)) else {
            return nil
        }
        return .frame(username: username, session: session, frame)
    }

    private static func stored(_ text: String) -> NodeMessage? {
        let fields = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 2, let recipient = name(fields[0]), let sender = name(fields[1]) else { return nil }
        return .stored(recipient: recipient, sender: sender)
    }

    private static func keysChanged(_ text: String) -> NodeMessage? {
        let fields = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 2, let username = name(fields[0]) else { return nil }
        switch fields[1] {
        case "": return .keysChanged(username: username, identity: .unknown)
        case "-": return .keysChanged(username: username, identity: .none)
        default:
            guard let key = Data(base64Encoded: fields[1]) else { return nil }
            return .keysChanged(username: username, identity: .key(Array(key)))
        }
    }

    private static func close(_ text: String) -> NodeMessage? {
        let fields = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 2, let username = name(fields[0]), !fields[1].isEmpty else { return nil }
        return .close(username: username, notice: NoticeCode(rawValue: fields[1]))
    }

    /// A username field: non-empty, without spaces (normalised names have none).
    private static func name(_ text: String) -> String? {
        text.isEmpty || text.contains(" ") ? nil : text
    }
}

extension ServerFrame {
    /// This frame cut into frames that each fit a node message: a `delivered` naming more
    /// ids than fit is split, oldest ids first; any other frame is returned whole.
    func piecesForNodeMessages(username: String) -> [ServerFrame] {
        guard case .delivered(let ids) = self, ids.count > 1,
            NodeEnvelope(from: .max, serial: .max, message: .frame(username: username, session: .max, self)).encoded.utf8.count
                > NodeEnvelope.maximumBytes
        else { return [self] }
        let half = ids.count / 2
        return ServerFrame.delivered(messageIDs: Array(ids[..<half])).piecesForNodeMessages(username: username)
            + ServerFrame.delivered(messageIDs: Array(ids[half...])).piecesForNodeMessages(username: username)
    }
}

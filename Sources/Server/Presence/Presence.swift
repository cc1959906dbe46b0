import Shared

/// A way to a user's session wherever it is: the session itself on this node, or a message
/// to the node that holds it. Notices and receipts go through it; chat messages do not.
protocol SessionReach: Sendable {
    /// The user's normalised name.
    var username: String { get }
    /// Sends a control frame (notice, receipt); best effort. False when the session is known
    /// to have closed.
    @discardableResult
    func send(_ frame: ServerFrame) -> Bool
}

/// A logged-in session as presence knows it: whose it is, and where to keep its route.
protocol PresentSession: AnyObject, SessionReach {
    /// Unique per connection on this node, so a stale session cannot release a newer one.
    var sessionID: UInt64 { get }
    /// The route presence set last.
    var route: Route<Self> { get }
    /// Presence calls this whenever the session's route changes, so the per-message path
    /// reads the session's own copy instead of asking presence.
    func setRoute(_ route: Route<Self>)
    /// Asks the session's own handler to act (displaced, shutdown, dropped).
    func fire(_ event: SessionEvent)
}

/// Where one user's messages go, as of the last change of anyone's choice.
struct Route<Session: PresentSession>: Sendable {
    /// Whom the user has chosen to chat with.
    var choice: String?
    /// That user's session, when they have chosen this user back (a live pair) and are on
    /// this node.
    var partner: Session?
    /// Paired with a user on another node: messages between them travel through the inbox.
    var pairedElsewhere = false

    /// Whether the chosen user has chosen this one back, on this node or another.
    var isPaired: Bool { partner != nil || pairedElsewhere }
}

/// What a login's claim of the user's name means for the people involved.
struct ClaimOutcome<Session: PresentSession> {
    /// The user's older session on this node, to be told and closed (one on another node is
    /// told by presence).
    var displaced: Session?
    /// The partner the older session was paired with, who must be told the user left.
    var abandonedPartner: (any SessionReach)?
    /// The online users who have chosen this one (sorted), for the `invited` notices.
    var choosers: [String] = []
}

/// What a change of choice means for the people involved.
struct ChoiceOutcome {
    /// The user this one was paired with before, who must be told they left.
    var abandoned: (any SessionReach)?
    /// The chosen partner, when they are online.
    var partner: (any SessionReach)?
    /// True when the partner had already chosen this user: the chat is live.
    var paired: Bool
}

/// Who is online on which session, whom each has chosen, and how to reach them.
///
/// Two users are *paired* when each has chosen the other; only then do messages go live. A
/// user has at most one choice, so is in at most one chat (`PairingTable` holds the rules).
/// Implementations keep every local session's `Route` up to date on each change, so delivery
/// never asks presence per message.
///
/// Changes are async: `InProcessPresence` (one process) answers at once, `ClusterPresence`
/// (several nodes on one database) after its transaction. Changes started one after another
/// from one thread take effect in that order (each call starts its work before its first
/// suspension), so a logout followed by a login on one connection cannot be reordered.
protocol Presence<Session>: Sendable {
    associatedtype Session: PresentSession

    /// Makes `session` its user's session.
    ///
    /// - Throws: `StorageError` when shared presence cannot be written: the login fails.
    func claim(_ session: Session) async throws -> ClaimOutcome<Session>

    /// Removes the user if `sessionID` is still theirs; returns the partner they were paired
    /// with, who must be told.
    func release(username: String, sessionID: UInt64) async throws -> (any SessionReach)?

    /// `username` chooses `partner`.
    func choose(username: String, partner: String) async throws -> ChoiceOutcome

    /// `username` drops their choice; returns the partner they were paired with.
    func leave(username: String) async throws -> (any SessionReach)?

    /// Everyone online except `username`, on every node, sorted, with whether they are in a chat.
    func who(except username: String) async throws -> [PresenceEntry]

    /// The recipient's session on this node when `from` and `to` are paired (a live delivery).
    func livePartner(from: String, to: String) -> Session?

    /// The user's session, if online on this node.
    func session(for username: String) -> Session?

    /// A way to the user's session, on this node or another; nil when they are known to be
    /// offline.
    func reach(_ username: String) -> (any SessionReach)?

    /// A message for a user who is not on this node was stored: their node is told, and
    /// delivers it (paired with the sender) or says a message waits.
    func announceStored(_ message: StoredMessage)
}

/// The notices presence itself words, for changes no session asked for (a node that died).
enum PairingNotice {
    /// To the partner of a user whose connection (or node) went away.
    static func disconnected(_ username: String) -> ServerFrame {
        .notice(code: .partnerDisconnected, message: "\(username) disconnected")
    }
}

extension Presence {
    /// Whether `username` is logged in on this node right now.
    func isOnline(_ username: String) -> Bool {
        session(for: username) != nil
    }
}

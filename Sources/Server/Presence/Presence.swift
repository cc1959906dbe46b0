import Shared

/// A logged-in session as presence knows it: whose it is, and where to keep its route.
protocol PresentSession: AnyObject, Sendable {
    /// The user's normalised name.
    var username: String { get }
    /// Unique per connection, so a stale session cannot release a newer one.
    var sessionID: UInt64 { get }
    /// Presence calls this whenever the session's route changes, so the per-message path
    /// reads the session's own copy instead of asking presence.
    func setRoute(_ route: Route<Self>)
}

/// Where one user's messages go, as of the last change of anyone's choice.
struct Route<Session: PresentSession>: Sendable {
    /// Whom the user has chosen to chat with.
    var choice: String?
    /// That user's session, when they have chosen this user back (a live pair).
    var partner: Session?
}

/// What a change of choice means for the people involved.
struct ChoiceOutcome<Session: PresentSession> {
    /// The user this one was paired with before, who must be told they left.
    var abandoned: Session?
    /// The chosen partner's session, when they are online.
    var partner: Session?
    /// True when the partner had already chosen this user: the chat is live.
    var paired: Bool
}

/// Who is online on which session, whom each has chosen, and how to reach them.
///
/// Two users are *paired* when each has chosen the other; only then do messages go live. A
/// user has at most one choice, so is in at most one chat. Implementations keep every
/// session's `Route` up to date on each change, so delivery never asks presence per message.
/// `InProcessPresence` is the one-process implementation; a shared one for several server
/// nodes fills the same seam.
protocol Presence<Session>: Sendable {
    associatedtype Session: PresentSession

    /// Makes `session` its user's session. Returns the session it displaced, and the partner
    /// that session was paired with (who must be told the user left).
    func claim(_ session: Session) -> (displaced: Session?, abandonedPartner: Session?)

    /// Removes the user if `sessionID` is still theirs; returns the partner they were paired
    /// with, who must be told.
    func release(username: String, sessionID: UInt64) -> Session?

    /// `username` chooses `partner`.
    func choose(username: String, partner: String) -> ChoiceOutcome<Session>

    /// `username` drops their choice; returns the partner they were paired with.
    func leave(username: String) -> Session?

    /// The recipient's session when `from` and `to` are paired (a live delivery); nil otherwise.
    func livePartner(from: String, to: String) -> Session?

    /// The user's session, if online.
    func session(for username: String) -> Session?

    /// Everyone online except `username`, sorted, with whether they are in a chat.
    func who(except username: String) -> [PresenceEntry]

    /// The online users who have chosen `username` (sorted), for the `invited` notices a
    /// user gets on logging in.
    func choosers(of username: String) -> [String]
}

extension Presence {
    /// Whether `username` is logged in right now.
    func isOnline(_ username: String) -> Bool {
        session(for: username) != nil
    }
}

import Shared

/// `Presence` for one server process: every logged-in session of this process in one
/// `PairingTable`, behind one lock. Pairing decisions look at two entries at once and must
/// not interleave.
///
/// Every change also updates the `Route` of each user it concerns, so the per-message path
/// (whom to send to, and whether live) never takes this lock. Nothing here suspends: the
/// async methods finish before they return to a caller that started them at once.
final class InProcessPresence<Session: PresentSession>: Presence {
    private let table = Locked(PairingTable<SessionHolder<Session>>())

    init() {}

    func claim(_ session: Session) -> ClaimOutcome<Session> {
        table.withLock { table in
            let claim = table.claim(session.username, holder: SessionHolder(session))
            Self.refreshRoutes(of: claim.changedRoutes, in: table)
            return ClaimOutcome(
                displaced: claim.displaced?.session,
                abandonedPartner: claim.abandonedPartner.flatMap { table.entries[$0]?.holder.session },
                choosers: table.choosers(of: session.username))
        }
    }

    func release(username: String, sessionID: UInt64) -> (any SessionReach)? {
        table.withLock { table -> Session? in
            guard let entry = table.entries[username], entry.holder.session.sessionID == sessionID else { return nil }
            let release = table.release(username, holder: entry.holder)
            entry.holder.session.setRoute(Route())
            Self.refreshRoutes(of: release.changedRoutes, in: table)
            return release.partner.flatMap { table.entries[$0]?.holder.session }
        }
    }

    func choose(username: String, partner: String) -> ChoiceOutcome {
        table.withLock { table in
            let choice = table.choose(username, partner: partner)
            Self.refreshRoutes(of: choice.changedRoutes, in: table)
            return ChoiceOutcome(
                abandoned: choice.abandoned.flatMap { table.entries[$0]?.holder.session },
                partner: table.entries[partner]?.holder.session,
                paired: choice.paired)
        }
    }

    func leave(username: String) -> (any SessionReach)? {
        table.withLock { table -> Session? in
            let leave = table.leave(username)
            Self.refreshRoutes(of: leave.changedRoutes, in: table)
            return leave.partner.flatMap { table.entries[$0]?.holder.session }
        }
    }

    func who(except username: String) -> [PresenceEntry] {
        table.withLock { $0.who(except: username) }
    }

    func livePartner(from: String, to: String) -> Session? {
        table.withLock { table in
            guard table.entries[from]?.choice == to, table.partner(of: to) == from else { return nil }
            return table.entries[to]?.holder.session
        }
    }

    func session(for username: String) -> Session? {
        table.withLock { $0.entries[username]?.holder.session }
    }

    func reach(_ username: String) -> (any SessionReach)? {
        session(for: username)
    }

    /// Every user is on this node: the store's caller has told the recipient already.
    func announceStored(_ message: StoredMessage) {}

    /// The online users who have chosen `username` (sorted).
    func choosers(of username: String) -> [String] {
        table.withLock { $0.choosers(of: username) }
    }

    /// Recomputes the route of each named user who is online. (The lock order is always
    /// presence, then session.)
    private static func refreshRoutes(of usernames: [String], in table: PairingTable<SessionHolder<Session>>) {
        for username in usernames {
            guard let entry = table.entries[username] else { continue }
            let partner = table.partner(of: username).flatMap { table.entries[$0]?.holder.session }
            entry.holder.session.setRoute(Route(choice: entry.choice, partner: partner))
        }
    }
}

/// A session as a `PairingTable` holder: equal when it is the same connection's session (a
/// user who logs in again on one connection displaces nobody).
struct SessionHolder<Session: PresentSession>: Equatable, Sendable {
    let session: Session

    init(_ session: Session) {
        self.session = session
    }

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.session.sessionID == rhs.session.sessionID
    }
}

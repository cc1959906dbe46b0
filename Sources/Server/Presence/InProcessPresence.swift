import Shared

/// `Presence` for one server process: every logged-in session of this process, behind one
/// lock. Pairing decisions look at two entries at once and must not interleave.
///
/// Every change also updates the `Route` of each user it concerns, so the per-message path
/// (whom to send to, and whether live) never takes this lock.
final class InProcessPresence<Session: PresentSession>: Presence {
    private struct Entry {
        let session: Session
        var choice: String?
    }

    private let entries = Locked<[String: Entry]>([:])

    init() {}

    func claim(_ session: Session) -> (displaced: Session?, abandonedPartner: Session?) {
        entries.withLock { entries in
            let previous = entries[session.username]
            entries[session.username] = Entry(session: session, choice: nil)
            Self.refreshRoutes(of: [session.username, previous?.choice], in: entries)
            guard let previous, previous.session.sessionID != session.sessionID else { return (nil, nil) }
            return (previous.session, Self.pairedPartner(of: session.username, choice: previous.choice, in: entries))
        }
    }

    func release(username: String, sessionID: UInt64) -> Session? {
        entries.withLock { entries in
            guard let entry = entries[username], entry.session.sessionID == sessionID else { return nil }
            entries.removeValue(forKey: username)
            entry.session.setRoute(Route())
            Self.refreshRoutes(of: [entry.choice], in: entries)
            return Self.pairedPartner(of: username, choice: entry.choice, in: entries)
        }
    }

    func choose(username: String, partner: String) -> ChoiceOutcome<Session> {
        entries.withLock { entries in
            guard var entry = entries[username] else { return ChoiceOutcome(paired: false) }
            var outcome = ChoiceOutcome<Session>(paired: false)
            let previousChoice = entry.choice
            if previousChoice != partner {
                outcome.abandoned = Self.pairedPartner(of: username, choice: previousChoice, in: entries)
            }
            entry.choice = partner
            entries[username] = entry
            Self.refreshRoutes(of: [username, previousChoice, partner], in: entries)
            outcome.partner = entries[partner]?.session
            outcome.paired = entries[partner]?.choice == username
            return outcome
        }
    }

    func leave(username: String) -> Session? {
        entries.withLock { entries in
            guard var entry = entries[username] else { return nil }
            let partner = Self.pairedPartner(of: username, choice: entry.choice, in: entries)
            let previousChoice = entry.choice
            entry.choice = nil
            entries[username] = entry
            Self.refreshRoutes(of: [username, previousChoice], in: entries)
            return partner
        }
    }

    func livePartner(from: String, to: String) -> Session? {
        entries.withLock { entries in
            guard entries[from]?.choice == to, let recipient = entries[to], recipient.choice == from else { return nil }
            return recipient.session
        }
    }

    func session(for username: String) -> Session? {
        entries.withLock { $0[username]?.session }
    }

    func who(except username: String) -> [PresenceEntry] {
        entries.withLock { entries in
            entries.keys.sorted().filter { $0 != username }.map { name in
                let paired = Self.pairedPartner(of: name, choice: entries[name]?.choice, in: entries) != nil
                return PresenceEntry(username: name, status: paired ? .chatting : .free)
            }
        }
    }

    func choosers(of username: String) -> [String] {
        entries.withLock { entries in
            entries.filter { $0.key != username && $0.value.choice == username }.keys.sorted()
        }
    }

    /// Recomputes the route of each named user who is online. A change to one entry can
    /// only alter the routes of that user and of the users they chose before and after.
    /// (The lock order is always presence, then session.)
    private static func refreshRoutes(of usernames: [String?], in entries: [String: Entry]) {
        for case let username? in usernames {
            guard let entry = entries[username] else { continue }
            entry.session.setRoute(
                Route(choice: entry.choice, partner: pairedPartner(of: username, choice: entry.choice, in: entries)))
        }
    }

    private static func pairedPartner(of username: String, choice: String?, in entries: [String: Entry]) -> Session? {
        guard let choice, let partner = entries[choice], partner.choice == username else { return nil }
        return partner.session
    }
}

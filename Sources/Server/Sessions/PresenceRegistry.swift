import NIOConcurrencyHelpers
import Shared

/// Who is online, and whom each has chosen to chat with.
///
/// Two users are *paired* when each has chosen the other; only then do messages go live.
/// A user has at most one choice, so is in at most one session. All of it sits behind one
/// lock: pairing decisions look at two entries at once and must not interleave.
///
/// Every change also updates the `SessionOutbox.Route` of each user it concerns, so the
/// per-message path (whom to send to, and whether live) never takes this lock.
final class PresenceRegistry: Sendable {
    private struct Entry {
        let outbox: SessionOutbox
        var choice: String?
    }

    /// What a change of choice means for the people involved.
    struct ChoiceOutcome {
        /// The user this one was paired with before, who must be told they left.
        var abandoned: SessionOutbox?
        /// The chosen partner's session, when they are online.
        var partner: SessionOutbox?
        /// True when the partner had already chosen this user: the session is live.
        var paired: Bool
    }

    private let entries = NIOLockedValueBox<[String: Entry]>([:])

    /// Makes `outbox` its user's session. Returns the session it displaced, and the partner
    /// that session was paired with (who must be told the user left).
    func claim(_ outbox: SessionOutbox) -> (displaced: SessionOutbox?, abandonedPartner: SessionOutbox?) {
        entries.withLockedValue { entries in
            let previous = entries[outbox.username]
            entries[outbox.username] = Entry(outbox: outbox, choice: nil)
            Self.refreshRoutes(of: [outbox.username, previous?.choice], in: entries)
            guard let previous, previous.outbox.sessionID != outbox.sessionID else { return (nil, nil) }
            return (previous.outbox, Self.pairedPartner(of: outbox.username, choice: previous.choice, in: entries))
        }
    }

    /// Removes the user if `sessionID` is still theirs; returns the partner they were paired
    /// with, who must be told.
    func release(username: String, sessionID: UInt64) -> SessionOutbox? {
        entries.withLockedValue { entries in
            guard let entry = entries[username], entry.outbox.sessionID == sessionID else { return nil }
            entries.removeValue(forKey: username)
            entry.outbox.setRoute(SessionOutbox.Route())
            Self.refreshRoutes(of: [entry.choice], in: entries)
            return Self.pairedPartner(of: username, choice: entry.choice, in: entries)
        }
    }

    /// `username` chooses `partner`.
    func choose(username: String, partner: String) -> ChoiceOutcome {
        entries.withLockedValue { entries in
            guard var entry = entries[username] else { return ChoiceOutcome(paired: false) }
            var outcome = ChoiceOutcome(paired: false)
            let previousChoice = entry.choice
            if previousChoice != partner {
                outcome.abandoned = Self.pairedPartner(of: username, choice: previousChoice, in: entries)
            }
            entry.choice = partner
            entries[username] = entry
            Self.refreshRoutes(of: [username, previousChoice, partner], in: entries)
            outcome.partner = entries[partner]?.outbox
            outcome.paired = entries[partner]?.choice == username
            return outcome
        }
    }

    /// `username` ends their session; returns the partner they were paired with.
    func leave(username: String) -> SessionOutbox? {
        entries.withLockedValue { entries in
            guard var entry = entries[username] else { return nil }
            let partner = Self.pairedPartner(of: username, choice: entry.choice, in: entries)
            let previousChoice = entry.choice
            entry.choice = nil
            entries[username] = entry
            Self.refreshRoutes(of: [username, previousChoice], in: entries)
            return partner
        }
    }

    /// The recipient's session when `from` and `to` are paired (a live delivery); nil otherwise.
    func livePartner(from: String, to: String) -> SessionOutbox? {
        entries.withLockedValue { entries in
            guard entries[from]?.choice == to, let recipient = entries[to], recipient.choice == from else { return nil }
            return recipient.outbox
        }
    }

    /// Whether `username` is logged in right now.
    func isOnline(_ username: String) -> Bool {
        entries.withLockedValue { $0[username] != nil }
    }

    /// The user's session, if online.
    func outbox(for username: String) -> SessionOutbox? {
        entries.withLockedValue { $0[username]?.outbox }
    }

    /// Everyone online except `username`, sorted, with whether they are in a session.
    func who(except username: String) -> [PresenceEntry] {
        entries.withLockedValue { entries in
            entries.keys.sorted().filter { $0 != username }.map { name in
                let paired = Self.pairedPartner(of: name, choice: entries[name]?.choice, in: entries) != nil
                return PresenceEntry(username: name, status: paired ? .chatting : .free)
            }
        }
    }

    /// Every online session (for shutdown).
    func allOutboxes() -> [SessionOutbox] {
        entries.withLockedValue { $0.values.map(\.outbox) }
    }

    /// Recomputes the route of each named user who is online. A change to one entry can
    /// only alter the routes of that user and of the users they chose before and after.
    private static func refreshRoutes(of usernames: [String?], in entries: [String: Entry]) {
        for case let username? in usernames {
            guard let entry = entries[username] else { continue }
            entry.outbox.setRoute(
                SessionOutbox.Route(
                    choice: entry.choice,
                    partner: pairedPartner(of: username, choice: entry.choice, in: entries)))
        }
    }

    private static func pairedPartner(of username: String, choice: String?, in entries: [String: Entry]) -> SessionOutbox? {
        guard let choice, let partner = entries[choice], partner.choice == username else { return nil }
        return partner.outbox
    }
}

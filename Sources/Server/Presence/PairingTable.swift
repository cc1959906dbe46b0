import Shared

/// The pairing rules as a value: who is online, held by what, and whom each has chosen.
///
/// `InProcessPresence` keeps one for the whole process behind its lock; `ClusterPresence`
/// loads the rows a change concerns from the shared table into one, inside the database's
/// transaction, and writes back what changed. So one set of rules decides on one node and
/// on many.
///
/// Two users are *paired* when each has chosen the other. Each change names the users whose
/// route (their choice, and their partner when paired) it may have changed: the changed user
/// and those who had chosen them. Those are exactly the users whose route can be computed
/// from the rows a change loads (the changed user, whom they chose, and whom they choose).
struct PairingTable<Holder: Equatable & Sendable>: Equatable, Sendable {
    /// One online user.
    struct Entry: Equatable, Sendable {
        /// Whatever holds the user's session: the session itself on one node, its address in
        /// a cluster.
        var holder: Holder
        /// Whom the user has chosen.
        var choice: String?
    }

    /// Every user this table knows, by normalised name.
    private(set) var entries: [String: Entry] = [:]

    init(entries: [String: Entry] = [:]) {
        self.entries = entries
    }

    /// What a claim did.
    struct Claim: Equatable, Sendable {
        /// The user's previous holder (a session to displace), if it was not `holder` itself.
        var displaced: Holder?
        /// The user the previous session was paired with, who must be told they left.
        var abandonedPartner: String?
        /// Users whose route may have changed.
        var changedRoutes: [String]
    }

    /// What a release did.
    struct Release: Equatable, Sendable {
        /// False when the user was not held by the releasing holder (displaced meanwhile).
        var released: Bool
        /// The partner the user was paired with, who must be told.
        var partner: String?
        var changedRoutes: [String]
    }

    /// What a choice did.
    struct Choice: Equatable, Sendable {
        /// The partner the user was paired with before, who must be told they left.
        var abandoned: String?
        /// Whether the chosen partner is online.
        var partnerOnline: Bool
        /// True when the partner had already chosen the user: the chat is live.
        var paired: Bool
        var changedRoutes: [String]
    }

    /// What leaving (dropping the choice) did.
    struct Leave: Equatable, Sendable {
        /// The partner the user was paired with, who must be told.
        var partner: String?
        var changedRoutes: [String]
    }

    /// Makes `holder` the user's session, with no choice (a new session starts afresh).
    mutating func claim(_ username: String, holder: Holder) -> Claim {
        let previous = entries[username]
        let abandoned = previous.flatMap { pairedPartner(of: username, choice: $0.choice) }
        entries[username] = Entry(holder: holder, choice: nil)
        let displaced = previous.flatMap { $0.holder == holder ? nil : $0.holder }
        return Claim(
            displaced: displaced, abandonedPartner: displaced == nil ? nil : abandoned,
            changedRoutes: [username] + chosenBack(by: previous?.choice, of: username))
    }

    /// Removes the user if `holder` still holds them.
    mutating func release(_ username: String, holder: Holder) -> Release {
        guard let entry = entries[username], entry.holder == holder else {
            return Release(released: false, partner: nil, changedRoutes: [])
        }
        let partner = pairedPartner(of: username, choice: entry.choice)
        entries.removeValue(forKey: username)
        return Release(released: true, partner: partner, changedRoutes: chosenBack(by: entry.choice, of: username))
    }

    /// Removes every user `holder` matches (a node that died), as releases one by one.
    mutating func releaseAll(where matches: (Holder) -> Bool) -> [(username: String, release: Release)] {
        entries.filter { matches($0.value.holder) }.keys.sorted().map { username in
            (username, release(username, holder: entries[username]!.holder))
        }
    }

    /// `username` chooses `partner`; nothing changes when `username` is not online.
    mutating func choose(_ username: String, partner: String) -> Choice {
        guard var entry = entries[username] else {
            return Choice(abandoned: nil, partnerOnline: false, paired: false, changedRoutes: [])
        }
        let previous = entry.choice
        let abandoned = previous == partner ? nil : pairedPartner(of: username, choice: previous)
        entry.choice = partner
        entries[username] = entry
        let paired = entries[partner]?.choice == username
        return Choice(
            abandoned: abandoned, partnerOnline: entries[partner] != nil, paired: paired,
            changedRoutes: [username] + chosenBack(by: previous, of: username) + chosenBack(by: partner, of: username))
    }

    /// `username` drops their choice.
    mutating func leave(_ username: String) -> Leave {
        guard var entry = entries[username] else { return Leave(partner: nil, changedRoutes: []) }
        let partner = pairedPartner(of: username, choice: entry.choice)
        let previous = entry.choice
        entry.choice = nil
        entries[username] = entry
        return Leave(partner: partner, changedRoutes: [username] + chosenBack(by: previous, of: username))
    }

    /// The user `username` is paired with, if any.
    func partner(of username: String) -> String? {
        pairedPartner(of: username, choice: entries[username]?.choice)
    }

    /// Everyone except `username`, sorted, with whether they are in a chat.
    func who(except username: String) -> [PresenceEntry] {
        entries.keys.sorted().filter { $0 != username }.map { name in
            PresenceEntry(username: name, status: partner(of: name) != nil ? .chatting : .free)
        }
    }

    /// The users who have chosen `username`, sorted.
    func choosers(of username: String) -> [String] {
        entries.filter { $0.key != username && $0.value.choice == username }.keys.sorted()
    }

    /// `choice` when that user has chosen `username` back (and so `username`'s partner).
    private func pairedPartner(of username: String, choice: String?) -> String? {
        guard let choice, entries[choice]?.choice == username else { return nil }
        return choice
    }

    /// `[name]` when `name` is online and has chosen `username`: a change to `username`
    /// changes that user's route (their partner comes or goes).
    private func chosenBack(by name: String?, of username: String) -> [String] {
        guard let name, name != username, entries[name]?.choice == username else { return [] }
        return [name]
    }
}

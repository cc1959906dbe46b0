import Logging
import Shared

/// What the rest of the server does for messages that arrive from other nodes.
struct ClusterHooks<Session: PresentSession>: Sendable {
    /// A message from the sender named was stored for the session's user on another node.
    var storedElsewhere: @Sendable (_ recipient: Session, _ sender: String) -> Void = { _, _ in }
    /// A user's published keys changed on another node.
    var keysChanged: @Sendable (_ username: String, _ identity: AnnouncedIdentity) -> Void = { _, _ in }
    /// Messages may have been missed: any cached identity key may be stale.
    var keysMayHaveChanged: @Sendable () -> Void = {}
}

/// `Presence` for several nodes on one database: the pairing table is shared (a
/// `PresenceDirectory`), this node keeps its own sessions and their routes.
///
/// Every change runs as one transaction under the cluster's presence lock: the rows it
/// concerns are loaded into a `PairingTable`, the same rules as on one node decide, and what
/// changed is written back together with the messages other nodes need (a session to
/// displace, a route that changed). Each transaction takes the next version of the presence
/// order, and every route update carries it, so a session's route ends as the database's
/// whichever way its updates arrive (this node's own transaction returning, or another
/// node's message).
///
/// Liveness: every node heartbeats; one not heard from for `ClusterTiming.deadAfter` is
/// dead, and the first node to notice takes its users out of the table (their partners told
/// `partner_disconnected`, as for a dropped connection). A node that finds itself counted
/// dead closes its sessions without a word (the clients log in again, here or elsewhere)
/// and starts afresh under a new number. One whose message connection was cut resynchronises:
/// routes and displacements from the table, deliveries it may have missed from the inbox.
final class ClusterPresence<Session: PresentSession>: Presence {
    private struct Held {
        let session: Session
        /// The version of the last route update applied to it.
        var version: Int64
    }

    private struct State {
        var node: Int64 = 0
        var sessions: [String: Held] = [:]
        var hooks = ClusterHooks<Session>()
        /// Dead nodes being taken out, so each is taken out once here.
        var burying: Set<Int64> = []
    }

    /// A frame a change asks to send to a user's session, wherever it is.
    struct Notice: Sendable {
        let username: String
        let address: SessionAddress
        let frame: ServerFrame
    }

    /// What a change's body returns besides its result.
    struct Effects: Sendable {
        /// Users whose routes may have changed.
        var changedRoutes: [String] = []
        var outgoing: [Outgoing] = []
        var notices: [Notice] = []
    }

    private let directory: any PresenceDirectory
    private let timing: ClusterTiming
    private let logger: Logger
    private let state = Locked(State())

    init(directory: any PresenceDirectory, timing: ClusterTiming, logger: Logger) {
        self.directory = directory
        self.timing = timing
        self.logger = logger
    }

    /// This node's number in the cluster (0 before `start`).
    var node: Int64 { state.withLock { $0.node } }

    /// Joins the cluster as `label`; messages from other nodes reach `hooks` from then on.
    ///
    /// - Throws: `StorageError` when the shared directory cannot be reached.
    @discardableResult
    func start(label: String, hooks: ClusterHooks<Session>) async throws -> Int64 {
        state.withLock { $0.hooks = hooks }
        let node = try await directory.join(label: label, timing: timing) { [weak self] event in
            self?.handle(event)
        }
        state.withLock { $0.node = node }
        logger.info("joined the cluster as node \(node)", metadata: ["node": "\(label)"])
        return node
    }

    /// Takes this node's remaining users out of presence (partners told) and leaves the
    /// cluster. For shutdown, once every session has ended.
    func leave() async {
        let node = self.node
        guard node != 0 else { return }
        do {
            try await bury(node)
        } catch {
            logger.warning("could not leave the cluster cleanly (the others will count this node dead): \(error)")
        }
        await directory.leave()
    }

    // MARK: - Presence

    func claim(_ session: Session) async throws -> ClaimOutcome<Session> {
        let username = session.username
        // Known here before the transaction, so messages for it that overtake the
        // transaction's answer find it.
        let (node, previous) = state.withLock { state -> (Int64, Held?) in
            let previous = state.sessions[username]
            state.sessions[username] = Held(session: session, version: 0)
            return (state.node, previous)
        }
        let holder = SessionAddress(node: node, session: session.sessionID)
        do {
            let abandoned = try await change(.users([username])) { table -> ((String, SessionAddress)?, Effects) in
                let claim = table.claim(username, holder: holder)
                var effects = Effects(changedRoutes: claim.changedRoutes)
                if let displaced = claim.displaced, displaced.node != node {
                    effects.outgoing.append(
                        Outgoing(to: .node(displaced.node), message: .displace(username: username, session: displaced.session)))
                }
                return (claim.abandonedPartner.flatMap { name in table.entries[name].map { (name, $0.holder) } }, effects)
            }
            // Only notices depend on it: a failed read costs the `invited` lines, not the login.
            let choosers = (try? await directory.choosers(of: username)) ?? []
            let displaced = previous.flatMap { $0.session.sessionID == session.sessionID ? nil : $0.session }
            return ClaimOutcome(
                displaced: displaced, abandonedPartner: abandoned.flatMap { reach($0.0, at: $0.1) }, choosers: choosers)
        } catch {
            state.withLock { state in
                if state.sessions[username]?.session === session { state.sessions[username] = previous }
            }
            throw error
        }
    }

    func release(username: String, sessionID: UInt64) async throws -> (any SessionReach)? {
        let node = state.withLock { state -> Int64 in
            if let held = state.sessions[username], held.session.sessionID == sessionID {
                held.session.setRoute(Route())
                state.sessions[username] = nil
            }
            return state.node
        }
        let holder = SessionAddress(node: node, session: sessionID)
        let partner = try await change(.users([username])) { table -> ((String, SessionAddress)?, Effects) in
            let release = table.release(username, holder: holder)
            return (
                release.partner.flatMap { name in table.entries[name].map { (name, $0.holder) } },
                Effects(changedRoutes: release.changedRoutes)
            )
        }
        return partner.flatMap { reach($0.0, at: $0.1) }
    }

    func choose(username: String, partner: String) async throws -> ChoiceOutcome {
        guard let holder = localHolder(of: username) else { return ChoiceOutcome(paired: false) }
        typealias Found = (abandoned: (String, SessionAddress)?, partner: SessionAddress?, paired: Bool)
        let found = try await change(.users([username, partner])) { table -> (Found, Effects) in
            // A session displaced meanwhile must not choose for the one that displaced it.
            guard table.entries[username]?.holder == holder else { return ((nil, nil, false), Effects()) }
            let choice = table.choose(username, partner: partner)
            return (
                (
                    choice.abandoned.flatMap { name in table.entries[name].map { (name, $0.holder) } },
                    table.entries[partner]?.holder, choice.paired
                ),
                Effects(changedRoutes: choice.changedRoutes)
            )
        }
        return ChoiceOutcome(
            abandoned: found.abandoned.flatMap { reach($0.0, at: $0.1) },
            partner: found.partner.flatMap { reach(partner, at: $0) },
            paired: found.paired)
    }

    func leave(username: String) async throws -> (any SessionReach)? {
        guard let holder = localHolder(of: username) else { return nil }
        let partner = try await change(.users([username])) { table -> ((String, SessionAddress)?, Effects) in
            guard table.entries[username]?.holder == holder else { return (nil, Effects()) }
            let leave = table.leave(username)
            return (
                leave.partner.flatMap { name in table.entries[name].map { (name, $0.holder) } },
                Effects(changedRoutes: leave.changedRoutes)
            )
        }
        return partner.flatMap { reach($0.0, at: $0.1) }
    }

    func who(except username: String) async throws -> [PresenceEntry] {
        try await directory.who(except: username)
    }

    func livePartner(from: String, to: String) -> Session? {
        guard let recipient = session(for: to) else { return nil }
        let route = recipient.route
        return route.choice == from && route.partner?.username == from ? recipient : nil
    }

    func session(for username: String) -> Session? {
        state.withLock { $0.sessions[username]?.session }
    }

    func reach(_ username: String) -> (any SessionReach)? {
        if let session = session(for: username) { return session }
        return RemoteReach(username: username, address: nil, directory: directory)
    }

    func announceStored(_ message: StoredMessage) {
        directory.send([Outgoing(to: .user(message.to), message: .stored(recipient: message.to, sender: message.from))])
    }

    /// Tells the other nodes that `username`'s published keys changed.
    func announceKeysChanged(_ username: String, identity: AnnouncedIdentity) {
        directory.send([Outgoing(to: .everyone, message: .keysChanged(username: username, identity: identity))])
    }

    // MARK: - Changes

    /// Runs `body` as one presence transaction; afterwards applies the route updates and
    /// sends the notices meant for this node's sessions (the others' went in the transaction).
    private func change<Result: Sendable>(
        _ scope: PresenceScope, forgetting: Int64? = nil,
        _ body: @escaping @Sendable (inout PairingTable<SessionAddress>) -> (Result, Effects)
    ) async throws -> Result {
        let node = self.node
        let (result, updates, notices) = try await directory.change(scope, forgetting: forgetting) {
            table, version -> ((Result, [RouteUpdate], [Notice]), [Outgoing]) in
            let (result, effects) = body(&table)
            var outgoing = effects.outgoing
            var updates: [RouteUpdate] = []
            for (update, holder) in Self.routeUpdates(of: effects.changedRoutes, in: table, version: version) {
                if holder == node {
                    updates.append(update)
                } else {
                    outgoing.append(Outgoing(to: .node(holder), message: .route(update)))
                }
            }
            var notices: [Notice] = []
            for notice in effects.notices {
                if notice.address.node == node {
                    notices.append(notice)
                } else {
                    outgoing += notice.frame.piecesForNodeMessages(username: notice.username).map { piece in
                        Outgoing(
                            to: .node(notice.address.node),
                            message: .frame(username: notice.username, session: notice.address.session, piece))
                    }
                }
            }
            return ((result, updates, notices), outgoing)
        }
        for update in updates { apply(update) }
        for notice in notices {
            localSession(notice.username, notice.address.session)?.send(notice.frame)
        }
        return result
    }

    /// The route of each named user the table holds, and the node holding them.
    private static func routeUpdates(
        of usernames: [String], in table: PairingTable<SessionAddress>, version: Int64
    ) -> [(RouteUpdate, Int64)] {
        var seen: Set<String> = []
        return usernames.compactMap { name in
            guard seen.insert(name).inserted, let entry = table.entries[name] else { return nil }
            let partner = table.partner(of: name).flatMap { table.entries[$0]?.holder }
            return (
                RouteUpdate(
                    username: name, session: entry.holder.session, version: version, choice: entry.choice,
                    partner: partner),
                entry.holder.node
            )
        }
    }

    /// Sets a local session's route, unless the update is for another session or older
    /// than one applied already.
    private func apply(_ update: RouteUpdate) {
        state.withLock { state in
            guard var held = state.sessions[update.username], held.session.sessionID == update.session,
                update.version > held.version
            else { return }
            held.version = update.version
            state.sessions[update.username] = held
            let partner = update.partner.flatMap { address -> Session? in
                guard address.node == state.node, let choice = update.choice,
                    let partner = state.sessions[choice], partner.session.sessionID == address.session
                else { return nil }
                return partner.session
            }
            held.session.setRoute(
                Route(choice: update.choice, partner: partner, pairedElsewhere: update.partner != nil && partner == nil))
        }
    }

    /// The address of the user's session here, if they have one.
    private func localHolder(of username: String) -> SessionAddress? {
        state.withLock { state in
            state.sessions[username].map { SessionAddress(node: state.node, session: $0.session.sessionID) }
        }
    }

    private func localSession(_ username: String, _ sessionID: UInt64?) -> Session? {
        state.withLock { state in
            guard let held = state.sessions[username], sessionID == nil || held.session.sessionID == sessionID else {
                return nil
            }
            return held.session
        }
    }

    /// The user's session at `address`: the session itself when it is here.
    private func reach(_ username: String, at address: SessionAddress) -> (any SessionReach)? {
        if address.node == node { return localSession(username, address.session) }
        return RemoteReach(username: username, address: address, directory: directory)
    }

    // MARK: - Events from the cluster

    private func handle(_ event: ClusterEvent) {
        switch event {
        case .messages(let envelopes):
            for envelope in envelopes { receive(envelope) }
        case .rejoined(let node):
            let dropped = state.withLock { state -> [Session] in
                state.node = node
                defer { state.sessions.removeAll() }
                return state.sessions.values.map(\.session)
            }
            logger.warning(
                "this node was counted dead by the others; closed its \(dropped.count) sessions, joined again as node \(node)")
            for session in dropped { session.fire(.dropped) }
        case .reconnected:
            Task { await self.resynchronise() }
        case .deadNodes(let nodes):
            for node in nodes { Task { try? await self.buryOnce(node) } }
        }
    }

    private func receive(_ envelope: NodeEnvelope) {
        switch envelope.message {
        case .route(let update):
            apply(update)
        case .displace(let username, let sessionID):
            localSession(username, sessionID)?.fire(.displaced)
        case .frame(let username, let sessionID, let frame):
            localSession(username, sessionID)?.send(frame)
        case .stored(let recipient, let sender):
            if let session = session(for: recipient) {
                state.withLock { $0.hooks }.storedElsewhere(session, sender)
            }
        case .keysChanged(let username, let identity):
            if envelope.from != node { state.withLock { $0.hooks }.keysChanged(username, identity) }
        case .close(let username, let notice):
            // A node asking closed a session of its own itself; its echo must not close a
            // login made here since.
            if envelope.from != node { session(for: username)?.fire(.closedByOperator(notice)) }
        }
    }

    /// Takes a dead node's users out of presence, unless this node is at it already.
    private func buryOnce(_ dead: Int64) async throws {
        guard state.withLock({ $0.burying.insert(dead).inserted }) else { return }
        defer { state.withLock { _ = $0.burying.remove(dead) } }
        try await bury(dead)
    }

    /// Takes every user `dead` holds out of presence, their partners told, and ends its
    /// membership; for a node not heard from, or this one leaving.
    private func bury(_ dead: Int64) async throws {
        let gone = try await change(.node(dead), forgetting: dead) { table -> (Int, Effects) in
            var effects = Effects()
            let releases = table.releaseAll { $0.node == dead }
            for (username, release) in releases {
                effects.changedRoutes += release.changedRoutes
                if let partner = release.partner, let entry = table.entries[partner] {
                    effects.notices.append(
                        Notice(username: partner, address: entry.holder, frame: PairingNotice.disconnected(username)))
                }
            }
            return (releases.count, effects)
        }
        if dead != node, gone > 0 {
            logger.notice("node \(dead) was not heard from for \(timing.deadAfter): its \(gone) users are offline now")
        }
    }

    /// After the message connection was cut: cached keys are forgotten; this node's rows
    /// are brought in line with its sessions (rows of sessions that ended meanwhile go, their
    /// partners told; sessions whose rows went were displaced); every route is set afresh;
    /// and every session paired with a user elsewhere looks in the inbox for what it missed.
    private func resynchronise() async {
        let (node, hooks, held) = state.withLock { state in
            (state.node, state.hooks, state.sessions.mapValues { $0.session.sessionID })
        }
        hooks.keysMayHaveChanged()
        do {
            let lost = try await change(.node(node)) { table -> ([String], Effects) in
                var effects = Effects()
                for (username, entry) in table.entries where entry.holder.node == node && held[username] != entry.holder.session {
                    let release = table.release(username, holder: entry.holder)
                    effects.changedRoutes += release.changedRoutes
                    if let partner = release.partner, let holder = table.entries[partner]?.holder {
                        effects.notices.append(
                            Notice(username: partner, address: holder, frame: PairingNotice.disconnected(username)))
                    }
                }
                var lost: [String] = []
                for (username, session) in held {
                    if table.entries[username]?.holder == SessionAddress(node: node, session: session) {
                        effects.changedRoutes.append(username)
                    } else {
                        lost.append(username)
                    }
                }
                return (lost, effects)
            }
            for username in lost {
                localSession(username, held[username])?.fire(.displaced)
            }
            for session in state.withLock({ $0.sessions.values.map(\.session) }) {
                let route = session.route
                if route.pairedElsewhere, let partner = route.choice {
                    hooks.storedElsewhere(session, partner)
                }
            }
            logger.notice("presence resynchronised after the cluster connection came back")
        } catch {
            logger.error("presence not resynchronised after the cluster connection came back: \(error)")
        }
    }
}

/// A user's session on another node, reached through node messages.
struct RemoteReach: SessionReach {
    let username: String
    /// The session, when known; otherwise whichever node holds the user.
    let address: SessionAddress?
    let directory: any PresenceDirectory

    @discardableResult
    func send(_ frame: ServerFrame) -> Bool {
        directory.send(
            frame.piecesForNodeMessages(username: username).map { piece in
                Outgoing(
                    to: address.map { .node($0.node) } ?? .user(username),
                    message: .frame(username: username, session: address?.session, piece))
            })
        return true
    }
}

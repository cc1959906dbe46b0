import Shared

/// Several nodes' shared presence in one process: the twin of the PostgreSQL directory, for
/// tests. Each node takes a directory of its own (`directory()`); messages wait until the
/// test hands them over (`deliver()`), as notifications wait for their listener. A node can
/// be killed (`kill(_:)`: the others are told it is dead), lose its messages
/// (`reconnect(_:)`), or be counted dead and join again (`rejoin(_:)`).
///
/// A change sees only the rows its scope names (and those their users chose), as the
/// database's transaction does, so a scope too narrow for a rule shows here too.
final class InMemoryCluster: Sendable {
    private struct Member {
        let label: String
        let events: @Sendable (ClusterEvent) -> Void
        var waiting: [NodeEnvelope] = []
    }

    private struct State {
        var table = PairingTable<SessionAddress>()
        var version: Int64 = 0
        var nextNode: Int64 = 1
        var serial: UInt64 = 0
        var members: [Int64: Member] = [:]
        /// Nodes that joined again, by their old number: their directories follow.
        var renumbered: [Int64: Int64] = [:]
    }

    private let state = Locked(State())

    init() {}

    /// A new node's way into the cluster.
    func directory() -> InMemoryPresenceDirectory {
        InMemoryPresenceDirectory(cluster: self)
    }

    /// The whole shared table.
    var table: PairingTable<SessionAddress> {
        state.withLock { $0.table }
    }

    /// Hands every node the messages sent to it so far, in the order they were sent.
    func deliver() {
        let batches = state.withLock { state -> [(@Sendable (ClusterEvent) -> Void, [NodeEnvelope])] in
            state.members.keys.sorted().compactMap { node in
                guard let waiting = state.members[node]?.waiting, !waiting.isEmpty else { return nil }
                state.members[node]!.waiting.removeAll()
                return (state.members[node]!.events, waiting)
            }
        }
        for (events, envelopes) in batches { events(.messages(envelopes)) }
    }

    /// `node` stops hearing anything, as if it crashed; the others are told it is dead.
    func kill(_ node: Int64) {
        let others = state.withLock { state -> [@Sendable (ClusterEvent) -> Void] in
            state.members[node] = nil
            return state.members.values.map(\.events)
        }
        for events in others { events(.deadNodes([node])) }
    }

    /// `node`'s message connection was cut and is back: what waited for it is lost, and it
    /// is told so.
    func reconnect(_ node: Int64) {
        let events = state.withLock { state in
            state.members[node]?.waiting.removeAll()
            return state.members[node]?.events
        }
        events?(.reconnected)
    }

    /// The others counted `node` dead and took its users out; it joins again under a new
    /// number, and is told so.
    func rejoin(_ node: Int64) {
        let (events, number) = state.withLock { state -> ((@Sendable (ClusterEvent) -> Void)?, Int64) in
            guard let member = state.members.removeValue(forKey: node) else { return (nil, 0) }
            state.table = PairingTable(entries: state.table.entries.filter { $0.value.holder.node != node })
            let number = state.nextNode
            state.nextNode += 1
            state.members[number] = Member(label: member.label, events: member.events)
            state.renumbered[node] = number
            return (member.events, number)
        }
        events?(.rejoined(number))
    }

    fileprivate func join(label: String, events: @escaping @Sendable (ClusterEvent) -> Void) -> Int64 {
        state.withLock { state in
            let node = state.nextNode
            state.nextNode += 1
            state.members[node] = Member(label: label, events: events)
            return node
        }
    }

    /// The number `node` goes by now (it changes when the node joins again).
    fileprivate func current(_ node: Int64) -> Int64 {
        state.withLock { state in
            var node = node
            while let next = state.renumbered[node] { node = next }
            return node
        }
    }

    fileprivate func leave(_ node: Int64) {
        state.withLock { _ = $0.members.removeValue(forKey: node) }
    }

    fileprivate func change<Result>(
        by node: Int64, _ scope: PresenceScope, forgetting: Int64?,
        _ body: (inout PairingTable<SessionAddress>, Int64) -> (Result, [Outgoing])
    ) -> Result {
        state.withLock { state in
            state.version += 1
            let loadedNames = Self.names(in: scope, of: state.table)
            let loaded = PairingTable(entries: state.table.entries.filter { loadedNames.contains($0.key) })
            var changed = loaded
            let (result, outgoing) = body(&changed, state.version)
            var entries = state.table.entries
            for name in loadedNames { entries[name] = changed.entries[name] }
            for (name, entry) in changed.entries where !loadedNames.contains(name) { entries[name] = entry }
            state.table = PairingTable(entries: entries)
            if let forgetting { state.members[forgetting] = nil }
            Self.post(outgoing, from: node, in: &state)
            return result
        }
    }

    fileprivate func send(_ messages: [Outgoing], from node: Int64) {
        state.withLock { Self.post(messages, from: node, in: &$0) }
    }

    fileprivate func who(except username: String) -> [PresenceEntry] {
        state.withLock { state in
            live(state).who(except: username)
        }
    }

    fileprivate func choosers(of username: String) -> [String] {
        state.withLock { live($0).choosers(of: username) }
    }

    fileprivate func isOnline(_ username: String) -> Bool {
        state.withLock { live($0).entries[username] != nil }
    }

    /// The table without the rows of nodes that are not members (dead ones not yet buried).
    private func live(_ state: State) -> PairingTable<SessionAddress> {
        PairingTable(entries: state.table.entries.filter { state.members[$0.value.holder.node] != nil })
    }

    /// The users a scope loads: its own, and whom they chose.
    private static func names(in scope: PresenceScope, of table: PairingTable<SessionAddress>) -> Set<String> {
        let named: [String]
        switch scope {
        case .users(let users): named = users.filter { table.entries[$0] != nil }
        case .node(let node): named = table.entries.filter { $0.value.holder.node == node }.map(\.key)
        }
        let chosen = named.compactMap { table.entries[$0]?.choice }.filter { table.entries[$0] != nil }
        return Set(named + chosen)
    }

    private static func post(_ messages: [Outgoing], from node: Int64, in state: inout State) {
        for outgoing in messages {
            state.serial += 1
            let envelope = NodeEnvelope(from: node, serial: state.serial, message: outgoing.message)
            let targets: [Int64]
            switch outgoing.to {
            case .node(let target): targets = [target]
            case .user(let username): targets = state.table.entries[username].map { [$0.holder.node] } ?? []
            case .everyone: targets = Array(state.members.keys)
            }
            for target in targets where target != node {
                state.members[target]?.waiting.append(envelope)
            }
        }
    }
}

/// One node's `PresenceDirectory` in an `InMemoryCluster`.
final class InMemoryPresenceDirectory: PresenceDirectory {
    private let cluster: InMemoryCluster
    private let node = Locked<Int64>(0)

    fileprivate init(cluster: InMemoryCluster) {
        self.cluster = cluster
    }

    func join(label: String, timing: ClusterTiming, events: @escaping @Sendable (ClusterEvent) -> Void) -> Int64 {
        let number = cluster.join(label: label, events: events)
        node.withLock { $0 = number }
        return number
    }

    func change<Result: Sendable>(
        _ scope: PresenceScope, forgetting: Int64?,
        _ body: @escaping @Sendable (inout PairingTable<SessionAddress>, Int64) -> (Result, [Outgoing])
    ) -> Result {
        cluster.change(by: cluster.current(node.withLock { $0 }), scope, forgetting: forgetting, body)
    }

    func who(except username: String) -> [PresenceEntry] {
        cluster.who(except: username)
    }

    func choosers(of username: String) -> [String] {
        cluster.choosers(of: username)
    }

    func isOnline(_ username: String) -> Bool {
        cluster.isOnline(username)
    }

    func send(_ messages: [Outgoing]) {
        cluster.send(messages, from: cluster.current(node.withLock { $0 }))
    }

    func sendNow(_ messages: [Outgoing]) {
        send(messages)
    }

    func leave() {
        cluster.leave(cluster.current(node.withLock { $0 }))
    }
}

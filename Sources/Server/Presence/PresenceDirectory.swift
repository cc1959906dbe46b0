import Shared

/// How often a node says it is alive, and how long the others wait before counting it dead.
struct ClusterTiming: Equatable, Sendable {
    /// Between two heartbeats of a node.
    var heartbeat: Duration = .seconds(2)
    /// A node not heard from for this long is dead: its sessions count as offline, and the
    /// first node to notice takes them out of presence. Several heartbeats, so one late
    /// heartbeat (a busy database, a paused process) is not a death.
    var deadAfter: Duration = .seconds(6)

    /// `deadAfter` in seconds, for SQL intervals.
    var deadAfterSeconds: Double {
        Double(deadAfter.components.seconds) + Double(deadAfter.components.attoseconds) / 1e18
    }
}

/// Which rows of the shared presence table a change loads: always also the rows of the
/// users those rows chose, so that every route the change can alter can be computed.
enum PresenceScope: Equatable, Sendable {
    /// These users.
    case users([String])
    /// Every user held by this node.
    case node(Int64)
}

/// What a node's membership tells its presence, one event at a time and in order.
enum ClusterEvent: Sendable {
    /// Messages sent to this node (or to all), in the order their transactions committed.
    case messages([NodeEnvelope])
    /// The others counted this node dead and took its users offline; it has joined again as
    /// the node given, with no users.
    case rejoined(Int64)
    /// The connection that receives messages was lost and is back: messages sent meanwhile
    /// were missed.
    case reconnected
    /// These nodes have not been heard from for `deadAfter`.
    case deadNodes([Int64])
}

/// One node's way into the presence all nodes share: the table of who is online on which
/// node's session and whom each chose, and messages between nodes.
///
/// A store protocol like the others: `PostgresPresenceDirectory` keeps the table in the
/// database and carries messages as notifications; `InMemoryPresenceDirectory` is its twin
/// for tests. Calls started one after another from one thread run in that order, messages
/// sent after a change leave after it, and a node receives messages in the order they were
/// committed.
protocol PresenceDirectory: Sendable {
    /// Joins the cluster under `label` (for people reading logs and tables) and returns the
    /// node's number. From then on `events` gets every membership event and every message
    /// for this node, on one thread, one call at a time.
    ///
    /// - Throws: `StorageError` when the directory cannot be reached.
    func join(label: String, timing: ClusterTiming, events: @escaping @Sendable (ClusterEvent) -> Void) async throws
        -> Int64

    /// Runs one presence change atomically, under the cluster's presence lock: loads the rows
    /// `scope` names into a table, lets `body` change it (given the change's version) and
    /// say what to send, writes back what changed and sends those messages, all in one
    /// transaction; with `forgetting`, that node's membership ends in it too.
    ///
    /// - Throws: `StorageError`; nothing changed then.
    func change<Result: Sendable>(
        _ scope: PresenceScope, forgetting: Int64?,
        _ body: @escaping @Sendable (inout PairingTable<SessionAddress>, _ version: Int64) -> (Result, [Outgoing])
    ) async throws -> Result

    /// Everyone online on a live node except `username`, sorted, with whether they are paired.
    func who(except username: String) async throws -> [PresenceEntry]

    /// The users online on a live node who have chosen `username`, sorted.
    func choosers(of username: String) async throws -> [String]

    /// Whether `username` is online on a live node.
    func isOnline(_ username: String) async throws -> Bool

    /// Sends messages, after everything sent or changed before; best effort (a node that is
    /// gone misses them).
    func send(_ messages: [Outgoing])

    /// Sends messages like `send`, and returns once they have left (for the operator's
    /// requests, which report whether the nodes were told). Works without joining: a node
    /// number of 0 sends as no node.
    ///
    /// - Throws: `StorageError` when they could not be sent.
    func sendNow(_ messages: [Outgoing]) async throws

    /// Stops taking part: no more events. (The node's rows go in a `change` before this.)
    func leave() async
}

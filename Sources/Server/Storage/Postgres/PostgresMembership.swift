import Foundation
import Logging
import Shared

#if canImport(Glibc)
import Glibc
#endif

/// One node's membership of the cluster, on a thread and a connection of its own: joining
/// (a number, `LISTEN` on its channel, then its row in `cluster_nodes`), the heartbeat,
/// receiving notifications, and noticing nodes that stopped beating.
///
/// Listening comes before the row exists, so no message sent to a node that others can see
/// is missed. Everything it learns goes to `events`, on this thread, in order: messages in
/// the order their transactions committed, then what the heartbeat found.
///
/// A node judges others dead only after it has itself been connected for `deadAfter`
/// without a break: after the database was away, every heartbeat is old, and the first node
/// back must not bury the others before they have had time to beat again.
///
/// When the connection breaks it says so once in the log and connects again every second;
/// back, it checks that its row is still there: if the others counted it dead meanwhile, it
/// joins again under a new number (`rejoined`), otherwise it reports `reconnected`, because
/// messages sent meanwhile were lost.
final class PostgresMembership: @unchecked Sendable {
    // @unchecked Sendable: `connection`, `node` and the timers belong to the membership
    // thread; other threads touch only `control`, behind its lock.

    /// The channel every node listens on, for messages to all.
    static let everyoneChannel = "chat_all"

    /// The channel of node `node`.
    static func channel(of node: Int64) -> String {
        "chat_node_\(node)"
    }

    private struct Control {
        var stopping = false
        var thread: Thread?
        /// Answers `start` once the first join has worked or failed.
        var started: CheckedContinuation<Int64, any Error>?
        var stopped: [CheckedContinuation<Void, Never>] = []
        var finished = false
    }

    private let location: PostgresLocation
    private let label: String
    private let timing: ClusterTiming
    private let logger: Logger
    private let events: @Sendable (ClusterEvent) -> Void
    private let control = Locked(Control())

    // Membership thread only.
    private var connection: PostgresConnection?
    private var node: Int64 = 0
    private var connectedSince = ContinuousClock.now
    private var lastBeat = ContinuousClock.now
    private var failing = false

    init(
        location: PostgresLocation, label: String, timing: ClusterTiming, logger: Logger,
        events: @escaping @Sendable (ClusterEvent) -> Void
    ) {
        self.location = location
        self.label = label
        self.timing = timing
        self.logger = logger
        self.events = events
    }

    /// Starts the thread; returns the node's number once it has joined.
    ///
    /// - Throws: `StorageError` when the first join fails (the thread has ended then).
    func start() async throws -> Int64 {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int64, any Error>) in
            let thread = Thread { [self] in run() }
            thread.name = "cluster-membership"
            control.withLock { control in
                control.started = continuation
                control.thread = thread
            }
            thread.start()
        }
    }

    /// Stops the thread (within a poll interval) and closes its connection.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = control.withLock { control -> Bool in
                control.stopping = true
                if control.finished || control.thread == nil { return true }
                control.stopped.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    // MARK: - The thread

    private var stopping: Bool { control.withLock { $0.stopping } }

    private func run() {
        while !stopping {
            do {
                if connection == nil { try connect() }
                try listenAndBeat()
            } catch {
                connection = nil
                let failure = StorageError(asStorageError: error, database: location.description)
                if let started = control.withLock({ control in defer { control.started = nil }; return control.started }) {
                    started.resume(throwing: failure)
                    break
                }
                if !failing {
                    failing = true
                    logger.error("lost the cluster connection; messages from other nodes wait until it is back: \(failure)")
                }
                pause(.seconds(1))
            }
        }
        connection = nil
        let waiting = control.withLock { control in
            control.finished = true
            defer { control.stopped.removeAll() }
            return control.stopped
        }
        waiting.forEach { $0.resume() }
    }

    /// Connects; joins (first time, or when counted dead meanwhile) or listens again.
    private func connect() throws {
        let fresh = try PostgresConnection(location.connectionString)
        try fresh.listen(Self.everyoneChannel)
        connection = fresh
        if node == 0 {
            try join(fresh)
            logger.debug("cluster membership started", metadata: ["node": "\(label)"])
            control.withLock { control in
                defer { control.started = nil }
                return control.started
            }?.resume(returning: node)
        } else {
            try fresh.listen(Self.channel(of: node))
            if try beat(fresh) == nil {
                try join(fresh)
                events(.rejoined(node))
            } else {
                events(.reconnected)
            }
        }
        connectedSince = .now
        lastBeat = .now
        if failing {
            failing = false
            logger.notice("the cluster connection is back")
        }
    }

    /// Takes a new number, listens on its channel, then makes the node visible.
    private func join(_ connection: PostgresConnection) throws {
        if node != 0 {
            try connection.execute("UNLISTEN \(Self.channel(of: node))")
        }
        guard let number = try connection.execute("SELECT nextval(pg_get_serial_sequence('cluster_nodes', 'node'))").scalar
            .flatMap({ Int64($0) })
        else {
            throw PostgresError.unavailable("no node number from cluster_nodes")
        }
        try connection.listen(Self.channel(of: number))
        try connection.execute("INSERT INTO cluster_nodes (node, label) VALUES ($1, $2)", [String(number), label])
        node = number
    }

    /// Waits for notifications (at most until the next heartbeat is due), hands them over,
    /// and beats when due.
    private func listenAndBeat() throws {
        guard let connection else { return }
        let untilBeat = lastBeat + timing.heartbeat - .now
        let timeout = max(0, min(Self.milliseconds(untilBeat), 250))
        var descriptor = pollfd(fd: connection.socket, events: Int16(POLLIN), revents: 0)
        _ = poll(&descriptor, 1, Int32(timeout))
        let notifications = try connection.notifications()
        let envelopes = notifications.compactMap { notification -> NodeEnvelope? in
            guard let envelope = NodeEnvelope(decoding: notification.payload) else {
                logger.warning("unreadable cluster message ignored", metadata: ["channel": "\(notification.channel)"])
                return nil
            }
            // Messages to everyone come back to their sender too.
            return envelope.from == node && notification.channel == Self.everyoneChannel ? nil : envelope
        }
        if !envelopes.isEmpty { events(.messages(envelopes)) }
        guard ContinuousClock.now - lastBeat >= timing.heartbeat else { return }
        lastBeat = .now
        guard let dead = try beat(connection) else {
            try join(connection)
            connectedSince = .now
            events(.rejoined(node))
            return
        }
        if !dead.isEmpty, ContinuousClock.now - connectedSince >= timing.deadAfter {
            events(.deadNodes(dead))
        }
    }

    /// Says this node is alive; returns the other nodes not heard from for `deadAfter`, or
    /// nil when this node's row is gone (the others counted it dead).
    private func beat(_ connection: PostgresConnection) throws -> [Int64]? {
        let row = try connection.execute(
            """
            WITH beat AS (UPDATE cluster_nodes SET heartbeat_at = now() WHERE node = $1 RETURNING node)
            SELECT (SELECT count(*) FROM beat),
                   (SELECT string_agg(node::text, ',') FROM cluster_nodes
                    WHERE node <> $1 AND heartbeat_at < now() - make_interval(secs => $2))
            """,
            [String(node), String(timing.deadAfterSeconds)]
        ).rows.first
        guard row?.first == "1" else { return nil }
        return (row?.last ?? nil)?.split(separator: ",").compactMap { Int64($0) } ?? []
    }

    /// Sleeps up to `duration`, waking early when asked to stop.
    private func pause(_ duration: Duration) {
        let end = ContinuousClock.now + duration
        while !stopping, ContinuousClock.now < end {
            usleep(50_000)
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds) * 1_000 + Int(duration.components.attoseconds / 1_000_000_000_000_000)
    }
}

extension StorageError {
    /// Any error from the PostgreSQL backend as a `StorageError`.
    init(asStorageError error: any Error, database: String) {
        switch error {
        case let error as StorageError: self = error
        case let error as PostgresError: self.init(error, database: database)
        default: self = .io("PostgreSQL database \(database): \(error)")
        }
    }
}

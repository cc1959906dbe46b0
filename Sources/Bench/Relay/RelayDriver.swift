import NIOCore
import Shared

/// P logged-in pairs, each paired both ways, and the switch between flood, fixed rate and
/// idle for all of them. Both users of a pair share one event loop; pairs are spread over
/// the loops. Rate mode is driven by one 1 ms ticker per loop.
final class RelayDriver: Sendable {
    /// The peers of one event loop, touched only on that loop.
    private final class PeerList {
        var peers: [RelayPeer] = []
        var ticker: RepeatedTask?
    }

    private struct LoopPeers: Sendable {
        let loop: EventLoop
        let list: NIOLoopBound<PeerList>
    }

    let shared: RelayShared
    /// Number of sending users (two per pair).
    let peerCount: Int
    private let loops: [LoopPeers]
    private let connections: [BenchConnection]

    private init(shared: RelayShared, loops: [LoopPeers], connections: [BenchConnection]) {
        self.shared = shared
        self.loops = loops
        self.connections = connections
        self.peerCount = connections.count
    }

    /// Both users' end-to-end encryption of one pair, on the pair's event loop.
    private final class CipherPair {
        let first: RelayCipher
        let second: RelayCipher

        init(_ first: RelayCipher, _ second: RelayCipher) {
            self.first = first
            self.second = second
        }
    }

    private typealias Pair = (BenchConnection, BenchConnection, NIOLoopBound<CipherPair>?)

    /// Logs in both users of every pair, publishes their keys when `encrypted` (as
    /// chat-client does at its first login), pairs them (`chat` each other), lets the first
    /// fetch the second's keys and start a session, and attaches a `RelayPeer` to each
    /// connection.
    ///
    /// With one connector per node of a server, pair `i`'s first user logs in on node
    /// `i mod n` and its second on the next node, so every pair spans two nodes and the
    /// nodes carry equal shares.
    static func connect(
        pairs: [(String, String)],
        size: Int,
        encrypted: Bool,
        connectors: [BenchConnector],
        concurrency: Int
    ) async throws -> RelayDriver {
        let eventLoops = Array(connectors[0].group.makeIterator())
        let split = connectors.count > 1
        let outcomes = await Concurrently.run(count: pairs.count, limit: max(1, concurrency / 2)) { index in
            let (first, second) = pairs[index]
            let loop = eventLoops[index % eventLoops.count]
            let firstNode = connectors[index % connectors.count]
            let secondNode = connectors[(index + 1) % connectors.count]
            return firstNode.session(username: first, on: loop)
                .and(secondNode.session(username: second, on: loop))
                .flatMap { a, b -> EventLoopFuture<Pair> in
                    // Keys before `chat`: the server remembers the partner's key at `chat`
                    // and refuses sends once it changes.
                    let ciphers = encrypted ? Self.publishKeys(a, first, b, second, on: loop) : loop.makeSucceededFuture(nil)
                    return ciphers.flatMap { ciphers in
                        a.chat(with: second).flatMap { b.chat(with: first) }
                            .flatMap { Self.startSession(a, to: second, ciphers: ciphers, on: loop) }
                            .map { (a, b, ciphers) }
                    }
                    .flatMapErrorThrowing { error in
                        a.channel.close(promise: nil)
                        b.channel.close(promise: nil)
                        throw error
                    }
                }
        }
        var established: [Pair] = []
        var firstError: Error?
        for outcome in outcomes {
            switch outcome {
            case .success(let pair): established.append(pair)
            case .failure(let error): firstError = firstError ?? error
            }
        }
        if let firstError {
            for (a, b, _) in established {
                a.channel.close(promise: nil)
                b.channel.close(promise: nil)
            }
            throw firstError
        }
        let shared = RelayShared(size: size)
        var loops: [LoopPeers] = []
        for loop in eventLoops {
            let mine = established.filter { $0.0.eventLoop === loop }
            let list = try await loop.submit { () -> NIOLoopBound<PeerList> in
                let list = PeerList()
                for (a, b, ciphers) in mine {
                    let peerA = RelayPeer(
                        handler: a.handler.value, shared: shared, cipher: ciphers?.value.first, acrossNodes: split)
                    let peerB = RelayPeer(
                        handler: b.handler.value, shared: shared, cipher: ciphers?.value.second, acrossNodes: split)
                    peerA.partner = peerB
                    peerB.partner = peerA
                    list.peers += [peerA, peerB]
                }
                return NIOLoopBound(list, eventLoop: loop)
            }.get()
            loops.append(LoopPeers(loop: loop, list: list))
        }
        return RelayDriver(shared: shared, loops: loops, connections: established.flatMap { [$0.0, $0.1] })
    }

    /// Makes both users' devices on `loop` and publishes their keys.
    private static func publishKeys(
        _ a: BenchConnection, _ first: String, _ b: BenchConnection, _ second: String, on loop: EventLoop
    ) -> EventLoopFuture<NIOLoopBound<CipherPair>?> {
        loop.flatSubmit {
            do {
                let pair = CipherPair(
                    try RelayCipher(username: first, partner: second), try RelayCipher(username: second, partner: first))
                let keys = (try pair.first.publication(), try pair.second.publication())
                let bound = NIOLoopBound(pair, eventLoop: loop)
                return a.publishKeys(keys.0).and(b.publishKeys(keys.1)).map { _ in bound }
            } catch {
                return loop.makeFailedFuture(error)
            }
        }
    }

    /// The first user fetches the second's keys and starts the session; the second's side
    /// starts with the first message.
    private static func startSession(
        _ a: BenchConnection, to second: String, ciphers: NIOLoopBound<CipherPair>?, on loop: EventLoop
    ) -> EventLoopFuture<Void> {
        guard let ciphers else { return loop.makeSucceededVoidFuture() }
        return a.fetchKeys(for: second).flatMapThrowing { try ciphers.value.first.start(with: $0) }
    }

    /// Every peer keeps `window` messages in flight.
    func flood(window: Int) async throws {
        try await onEveryLoop { list, _ in
            for peer in list.peers { peer.setMode(.flood(window: window)) }
        }
    }

    /// All peers together send `total` messages a second, evenly spread: each peer's
    /// first message is offset by its share of the interval, so sends do not bunch up.
    func rate(total: Double) async throws {
        let perPeer = total / Double(max(1, peerCount))
        let interval = 1e9 / perPeer
        let start = MonotonicClock.now() + 5_000_000
        let peerCount = self.peerCount
        var offset = 0
        for entry in loops {
            let first = offset
            offset += try await entry.loop.submit { entry.list.value.peers.count }.get()
            try await entry.loop.submit {
                let list = entry.list.value
                for (index, peer) in list.peers.enumerated() {
                    let phase = UInt64(Double(first + index) / Double(peerCount) * interval)
                    peer.setMode(.rate(perSecond: perPeer, start: start + phase))
                }
                list.ticker?.cancel()
                let bound = entry.list
                list.ticker = entry.loop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(1)) { _ in
                    let now = MonotonicClock.now()
                    for peer in bound.value.peers { peer.tick(now: now) }
                }
            }.get()
        }
    }

    /// Stops sending and waits (up to `timeout` seconds) for the messages in flight to
    /// arrive; returns how many never did.
    @discardableResult
    func stop(timeout: Double = 10) async throws -> Int {
        try await onEveryLoop { list, _ in
            list.ticker?.cancel()
            list.ticker = nil
            for peer in list.peers { peer.setMode(.idle) }
        }
        let deadline = MonotonicClock.now() + UInt64(timeout * 1e9)
        var remaining = try await inFlight()
        while remaining > 0, MonotonicClock.now() < deadline {
            await MonotonicClock.sleep(seconds: 0.02)
            remaining = try await inFlight()
        }
        return remaining
    }

    /// Messages sent and not yet received, over all peers.
    func inFlight() async throws -> Int {
        var total = 0
        for entry in loops {
            total += try await entry.loop.submit { entry.list.value.peers.reduce(0) { $0 + $1.inFlight } }.get()
        }
        return total
    }

    /// Closes every connection (with close_notify) and waits for them.
    func close() async {
        await BenchConnection.closeAll(connections)
    }

    private func onEveryLoop(_ body: @escaping @Sendable (PeerList, EventLoop) -> Void) async throws {
        for entry in loops {
            try await entry.loop.submit { body(entry.list.value, entry.loop) }.get()
        }
    }
}

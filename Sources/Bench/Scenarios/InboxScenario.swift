import ChatSession
import NIOCore
import Shared

/// `inbox`: K messages to an offline user from several senders at once (so the server's
/// group commit can batch syncs), each timed to its durable `receipt stored`; then that
/// user logs in, opens the chat with each sender and drains the inbox, acknowledging
/// every message. On several nodes the senders are dealt to the nodes in turn, so every
/// node's inbox writer appends to the one inbox; the recipient drains it through the first.
struct InboxScenario {
    let context: ScenarioContext

    func run() async throws -> ScenarioResult {
        let plan = context.plan
        let server = context.server
        let recipient = context.username("t", 0)
        let senderNames = (0..<plan.inboxSenders).map { context.username("i", $0) }
        try await BenchAccounts.register([recipient] + senderNames, label: "inbox", context: context)

        let nodes = context.connectors.count
        let opened = await Concurrently.run(count: senderNames.count, limit: plan.connectConcurrency) { [context] index in
            context.connector(forUser: index).session(username: senderNames[index]).flatMap { connection in
                connection.chat(with: recipient).map { connection }
            }
        }
        let senders = try opened.map { try $0.get() }

        // Each sender's share; the first ones take the remainder.
        let shares = (0..<senders.count).map { index in
            plan.inboxMessages / senders.count + (index < plan.inboxMessages % senders.count ? 1 : 0)
        }
        let recorder = LatencyRecorder()
        Progress.say(
            "inbox: \(plan.inboxMessages) messages to offline \(recipient) from \(senders.count) senders, window \(plan.window)"
                + (nodes > 1 ? ", through \(nodes) nodes" : ""))
        let database = server.database
        let databaseBefore = try database?.treeCPUSeconds()
        let cpuBefore = try server.stats.cpuSeconds()
        let start = MonotonicClock.now()
        recorder.begin("store", at: start)
        let futures = zip(senders, shares).map { connection, share in
            InboxSender.send(share, through: connection, window: plan.window, size: plan.size, recorder: recorder)
        }
        var outcome = InboxSender.Outcome()
        for future in futures {
            let one = try await future.get()
            outcome.stored += one.stored
            outcome.full += one.full
            outcome.failed += one.failed
            outcome.firstFailure = outcome.firstFailure ?? one.firstFailure
        }
        let storeSeconds = MonotonicClock.seconds(from: start, to: MonotonicClock.now())
        let cpuAfter = try server.stats.cpuSeconds()
        let databaseAfter = try database?.treeCPUSeconds()
        let databasePerStore = databaseBefore.flatMap { before in
            databaseAfter.flatMap { outcome.stored > 0 ? ($0 - before) * 1e6 / Double(outcome.stored) : nil }
        }
        let storeLatency = recorder.summary("store")
        let storedPerSecond = Double(outcome.stored) / storeSeconds
        let cpuPerStore = outcome.stored > 0 ? (cpuAfter - cpuBefore) * 1e6 / Double(outcome.stored) : nil
        Progress.say("inbox: \(outcome.stored) stored in \(Format.decimal(storeSeconds, digits: 2)) s; draining")

        let drain = try await drainInbox(recipient: recipient, senders: senderNames, expected: outcome.stored)
        await BenchConnection.closeAll(senders)

        var notes: [String] = ["\(senders.count) senders x window \(plan.window)"]
        if nodes > 1 { notes[0] += " through \(nodes) nodes, server CPU summed over them" }
        if let databasePerStore { notes.append("database \(Format.decimal(databasePerStore, digits: 1)) µs/store") }
        notes.append("drained \(Format.grouped(drain.received)) in \(Format.decimal(drain.seconds, digits: 2)) s")
        if let emptied = drain.emptiedSeconds {
            notes.append("inbox empty after \(Format.decimal(emptied, digits: 2)) s")
        }
        if outcome.full > 0 {
            let cap = server.inboxMaximumMessages.map { " (cap \($0))" } ?? " (the attached server's --inbox-max-messages)"
            notes.append("\(outcome.full) refused inbox_full\(cap)")
        }
        if outcome.failed > 0 { notes.append("\(outcome.failed) failed: \(outcome.firstFailure ?? "?")") }

        var result = ScenarioResult(scenario: "inbox")
        result.set("nodes", nodes)
        result.set("messages", plan.inboxMessages)
        result.set("senders", senders.count)
        result.set("window", plan.window)
        result.set("stored", outcome.stored)
        result.set("inbox_full", outcome.full)
        result.set("failures", outcome.failed)
        result.set("store_seconds", storeSeconds, digits: 3)
        result.set("stored_per_s", storedPerSecond)
        result.setLatency(storeLatency)
        result.set("server_cpu_us_per_store", cpuPerStore, digits: 1)
        if database != nil { result.set("database_cpu_us_per_store", databasePerStore, digits: 1) }
        result.set("drained", drain.received)
        result.set("drain_s", drain.seconds, digits: 3)
        result.set("drain_per_s", drain.seconds > 0 ? Double(drain.received) / drain.seconds : nil)
        result.set("drain_empty_s", drain.emptiedSeconds, digits: 3)
        result.addRow(
            .init(
                scenario: "inbox",
                work: "\(Format.grouped(outcome.stored))/\(Format.grouped(plan.inboxMessages)) stored durably",
                throughput: "\(Format.rate(storedPerSecond)) stores/s",
                latency: storeLatency.text + " (to stored)",
                serverCPU: cpuPerStore.map { "\(Format.decimal($0, digits: 1)) µs/store" } ?? "-",
                notes: notes.joined(separator: "; ")))
        return result
    }

    private struct Drain {
        var received: Int
        var seconds: Double
        /// Until an `inbox` request showed no message left (the acks were applied).
        var emptiedSeconds: Double?
    }

    /// Logs the recipient in and opens the chat with each sender in turn; every stored
    /// message arrives before that chat's `ok` and is acknowledged at once.
    private func drainInbox(recipient: String, senders: [String], expected: Int) async throws -> Drain {
        let connection = try await context.connector.session(username: recipient).get()
        defer { connection.close().whenComplete { _ in } }
        let received = Counter()
        try await connection.withHandler { handler in
            // Acknowledged by the session itself (automatic acknowledgement).
            handler.onEvent = { event in
                if case .message = event { received.increment() }
            }
            return connection.eventLoop.makeSucceededVoidFuture()
        }.get()
        let ticker = Progress.every(1) { "inbox: drained \(received.value)/\(expected)" }
        defer { ticker.cancel() }
        let start = MonotonicClock.now()
        for sender in senders {
            try await connection.chat(with: sender).get()
        }
        let seconds = MonotonicClock.seconds(from: start, to: MonotonicClock.now())
        var emptied: Double?
        let deadline = start + 60_000_000_000
        while MonotonicClock.now() < deadline {
            let counts = try await connection.inboxCounts().get()
            if counts.values.reduce(0, +) == 0 {
                emptied = MonotonicClock.seconds(from: start, to: MonotonicClock.now())
                break
            }
            await MonotonicClock.sleep(seconds: 0.01)
        }
        return Drain(received: received.value, seconds: seconds, emptiedSeconds: emptied)
    }
}

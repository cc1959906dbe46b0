/// `relay`: P pairs, paired both ways, exchange S-byte messages, first flat out (each
/// sender keeps a window of W in flight, a message done when its partner receives it),
/// then at a fixed offered rate. Latency is send to partner receipt, in this process.
/// On several nodes each pair spans two of them, so every message goes from one node to
/// another through the recipient's inbox and a notification.
struct RelayScenario {
    let context: ScenarioContext

    func run() async throws -> ScenarioResult {
        let plan = context.plan
        let names = (0..<(plan.pairs * 2)).map { context.username("r", $0) }
        try await BenchAccounts.register(names, label: "relay", context: context)
        let nodes = context.connectors.count
        Progress.say("relay: logging in and pairing \(plan.pairs) pairs" + (nodes > 1 ? ", each across two of \(nodes) nodes" : ""))
        let pairs = (0..<plan.pairs).map { (names[2 * $0], names[2 * $0 + 1]) }
        let driver = try await RelayDriver.connect(
            pairs: pairs, size: plan.size, encrypted: plan.encrypt, connectors: context.connectors,
            concurrency: plan.connectConcurrency)
        let shared = driver.shared
        let ticker = Progress.every(1) {
            "relay: \(shared.received.value) messages relayed, \(shared.failures.value) refused"
        }
        defer { ticker.cancel() }

        Progress.say("relay: flood, window \(plan.window) per sender, \(plan.warmup) s warm-up + \(plan.duration) s")
        try await driver.flood(window: plan.window)
        await MonotonicClock.sleep(seconds: plan.warmup)
        let flood = try await RelayMeasurement.run("flood", seconds: plan.duration, driver: driver, context: context)
        let floodStuck = try await driver.stop()
        let floodLatency = shared.recorder.summary("flood")

        Progress.say("relay: fixed rate \(plan.rate) msgs/s, \(plan.warmup) s warm-up + \(plan.duration) s")
        try await driver.rate(total: Double(plan.rate))
        await MonotonicClock.sleep(seconds: plan.warmup)
        let rate = try await RelayMeasurement.run("rate", seconds: plan.duration, driver: driver, context: context)
        let rateStuck = try await driver.stop()
        let rateLatency = shared.recorder.summary("rate")
        let rssKiB = try context.server.stats.residentKiB()
        await driver.close()

        let failures = shared.failures.value
        let lost = floodStuck + rateStuck
        var result = ScenarioResult(scenario: "relay")
        result.set("nodes", nodes)
        result.set("pairs", plan.pairs)
        result.set("size_bytes", plan.size)
        result.set("encrypted", .bool(plan.encrypt))
        result.set("duration_s", plan.duration, digits: 1)
        result.set("window", plan.window)
        result.set("messages", flood.received)
        result.set("messages_per_s", flood.messagesPerSecond)
        result.setLatency(floodLatency)
        result.set("server_cpu_us_per_msg", flood.serverMicrosPerMessage, digits: 2)
        result.set("server_cpu_cores", flood.serverCores, digits: 2)
        if context.server.databasePID != nil {
            result.set("database_cpu_us_per_msg", flood.databaseMicrosPerMessage, digits: 2)
            result.set("rate_database_cpu_us_per_msg", rate.databaseMicrosPerMessage, digits: 2)
        }
        result.set("bench_cpu_us_per_msg", flood.benchMicrosPerMessage, digits: 2)
        result.set("rate_offered_per_s", plan.rate)
        result.set("rate_messages_per_s", rate.messagesPerSecond)
        result.setLatency(rateLatency, prefix: "rate_")
        result.set("rate_server_cpu_us_per_msg", rate.serverMicrosPerMessage, digits: 2)
        result.set("rate_skipped", shared.skipped.value)
        result.set("rate_saturated", .bool(rate.messagesPerSecond < 0.95 * Double(plan.rate)))
        result.set("failures", failures)
        result.set("stored", shared.stored.value)
        result.set("unfinished", lost)
        result.set("server_rss_kib", rssKiB)

        var notes = ["\(plan.pairs) pairs, \(plan.size) B \(plan.encrypt ? "encrypted end to end" : "plaintext"), server \(Format.decimal(flood.serverCores, digits: 2)) cores busy"]
        if nodes > 1 { notes.insert("\(nodes) nodes, each pair split across two, server CPU summed over them", at: 0) }
        if let database = flood.databaseMicrosPerMessage {
            notes.append("database \(Format.decimal(database, digits: 2)) µs/msg")
        }
        if failures > 0 { notes.append("\(failures) refused (\(shared.firstFailureReason ?? "?"))") }
        if shared.stored.value > 0 {
            notes.append("\(shared.stored.value) answered stored, not sent (the partner's live window was full)")
        }
        if floodStuck > 0 { notes.append("\(floodStuck) still in flight 10 s after stopping") }
        result.addRow(
            .init(
                scenario: "relay flood",
                work: "\(Format.grouped(flood.received)) msgs in \(Format.decimal(flood.seconds, digits: 1)) s, window \(plan.window)",
                throughput: "\(Format.rate(flood.messagesPerSecond)) msgs/s",
                latency: floodLatency.text,
                serverCPU: flood.serverMicrosPerMessage.map { "\(Format.decimal($0, digits: 2)) µs/msg" } ?? "-",
                notes: notes.joined(separator: "; ")))
        var rateNotes = ["offered \(Format.grouped(plan.rate)) msgs/s"]
        if nodes > 1 { rateNotes.append("\(nodes) nodes, pairs split") }
        if let database = rate.databaseMicrosPerMessage {
            rateNotes.append("database \(Format.decimal(database, digits: 2)) µs/msg")
        }
        if rate.messagesPerSecond < 0.95 * Double(plan.rate) {
            // Beyond capacity the queue only grows: latency then measures the backlog.
            rateNotes.append("SATURATED: only \(Format.rate(rate.messagesPerSecond)) msgs/s got through, latency is backlog")
        }
        if shared.skipped.value > 0 { rateNotes.append("\(shared.skipped.value) sends skipped (behind)") }
        if rateStuck > 0 { rateNotes.append("\(rateStuck) still in flight 10 s after stopping") }
        result.addRow(
            .init(
                scenario: "relay @\(Format.grouped(plan.rate))/s",
                work: "\(Format.grouped(rate.received)) msgs in \(Format.decimal(rate.seconds, digits: 1)) s",
                throughput: "\(Format.rate(rate.messagesPerSecond)) msgs/s",
                latency: rateLatency.text,
                serverCPU: rate.serverMicrosPerMessage.map { "\(Format.decimal($0, digits: 2)) µs/msg" } ?? "-",
                notes: rateNotes.joined(separator: "; ")))
        return result
    }
}

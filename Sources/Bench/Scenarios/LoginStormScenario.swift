import NIOCore

/// `login-storm`: while the relay runs at a fixed rate, L connections that already said
/// `hello` all send `login` at once; relay p99 during the storm against before it. A
/// server that hashed passwords on its event loops would stall the relay here.
struct LoginStormScenario {
    let context: ScenarioContext

    func run() async throws -> ScenarioResult {
        let plan = context.plan
        let server = context.server
        let relayNames = (0..<(plan.pairs * 2)).map { context.username("q", $0) }
        let stormNames = (0..<plan.logins).map { context.username("g", $0) }
        try await BenchAccounts.register(relayNames + stormNames, label: "login-storm", context: context)

        let connector = context.connector
        let opened = await Concurrently.run(count: stormNames.count, limit: plan.connectConcurrency) { _ in
            connector.connectAndHello()
        }
        let stormConnections = try opened.map { try $0.get() }
        Progress.say("login-storm: \(stormConnections.count) connections ready; relay \(plan.pairs) pairs at \(plan.rate) msgs/s")
        let pairs = (0..<plan.pairs).map { (relayNames[2 * $0], relayNames[2 * $0 + 1]) }
        let driver = try await RelayDriver.connect(
            pairs: pairs, size: plan.size, encrypted: plan.encrypt, connectors: [connector], concurrency: plan.connectConcurrency)
        let shared = driver.shared

        try await driver.rate(total: Double(plan.rate))
        await MonotonicClock.sleep(seconds: plan.warmup)
        let before = try await RelayMeasurement.run(
            "before", seconds: plan.beforeStorm, driver: driver, context: context)

        // The storm: every login written at once, each timed to its ok.
        Progress.say("login-storm: \(stormConnections.count) logins at once")
        let cpuBefore = try server.stats.cpuSeconds()
        let start = MonotonicClock.now()
        shared.recorder.begin("storm", at: start)
        let loginLatency = LatencyRecorder()
        loginLatency.begin("login", at: start)
        let logins = zip(stormConnections, stormNames).map { connection, name in
            connection.login(username: name, password: BenchConnector.password).map {
                loginLatency.record(sentAt: start, receivedAt: MonotonicClock.now())
            }
        }
        var failed = 0
        var firstFailure: String?
        for login in logins {
            do {
                try await login.get()
            } catch {
                failed += 1
                firstFailure = firstFailure ?? "\(error)"
            }
        }
        let end = MonotonicClock.now()
        shared.recorder.end(at: end)
        let cpuAfter = try server.stats.cpuSeconds()
        let stormSeconds = MonotonicClock.seconds(from: start, to: end)
        try await driver.stop()
        let beforeLatency = shared.recorder.summary("before")
        let stormLatency = shared.recorder.summary("storm")
        let login = loginLatency.summary("login")
        await driver.close()
        await BenchConnection.closeAll(stormConnections)

        // The relay keeps running during the storm: take its share (at the rate measured
        // before) out of the server's CPU to estimate the cost of one login.
        let relayShare = before.serverCPUSeconds / before.seconds * stormSeconds
        let succeeded = plan.logins - failed
        let cpuPerLogin = succeeded > 0 ? max(0, cpuAfter - cpuBefore - relayShare) * 1e3 / Double(succeeded) : nil

        let saturated = before.messagesPerSecond < 0.95 * Double(plan.rate)
        var result = ScenarioResult(scenario: "login-storm")
        result.set("logins", plan.logins)
        result.set("failures", failed)
        result.set("storm_s", stormSeconds, digits: 3)
        result.set("login_p50_us", login.p50)
        result.set("login_p99_us", login.p99)
        result.set("login_max_us", login.max)
        result.set("relay_pairs", plan.pairs)
        result.set("relay_rate_per_s", plan.rate)
        result.setLatency(beforeLatency, prefix: "before_")
        result.setLatency(stormLatency, prefix: "storm_")
        result.set("storm_messages", stormLatency.count)
        result.set("relay_before_messages_per_s", before.messagesPerSecond)
        result.set("relay_saturated", .bool(saturated))
        result.set("server_cpu_ms_per_login", cpuPerLogin, digits: 3)
        result.set("scrypt_log_n", server.scryptLogN.map { .int($0) } ?? .null)
        var notes = [
            "relay p99 \(Format.decimal(Double(beforeLatency.p99) / 1e3, digits: 2)) ms before -> "
                + "\(Format.decimal(Double(stormLatency.p99) / 1e3, digits: 2)) ms during",
            "login p50/p99/max "
                + [login.p50, login.p99, login.max].map { Format.decimal(Double($0) / 1e3, digits: 1) }
                .joined(separator: " / ") + " ms",
            server.scryptLogN.map { "scrypt logN \($0)" } ?? "server's scrypt cost",
        ]
        if saturated {
            notes.append(
                "SATURATED: the relay managed only \(Format.rate(before.messagesPerSecond)) of \(plan.rate) msgs/s "
                    + "before the storm, so its latency is backlog; use a lower --rate")
        }
        if failed > 0 { notes.append("\(failed) logins failed: \(firstFailure ?? "?")") }
        result.addRow(
            .init(
                scenario: "login-storm",
                work: "\(succeeded)/\(plan.logins) logins in \(Format.decimal(stormSeconds, digits: 2)) s",
                throughput: "\(Format.rate(Double(succeeded) / stormSeconds)) logins/s",
                latency: stormLatency.text + " (relay in storm)",
                serverCPU: cpuPerLogin.map { "\(Format.decimal($0, digits: 2)) ms/login" } ?? "-",
                notes: notes.joined(separator: "; ")))
        return result
    }
}

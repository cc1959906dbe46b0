import Histogram
import NIOCore

/// `sessions`: opens and logs in N sessions (TCP, TLS, hello, login each), holds them
/// idle, and reports the time it took, failures, and the server's memory per session.
struct SessionsScenario {
    let context: ScenarioContext
    /// The bench's open-file limit after raising it.
    let benchFileLimit: Int

    /// Local ports one source address is given for connections (Linux's ephemeral range
    /// is about 28,000), with room to spare for the bench's other connections.
    static let sessionsPerSourceAddress = 20_000

    /// Connectors for `sessions` connections: more than one address's worth to a loopback
    /// server come from 127.0.0.2, 127.0.0.3, ... (`LoopbackSources`).
    static func spread(_ connector: BenchConnector, host: String, sessions: Int) throws -> [BenchConnector] {
        guard sessions > sessionsPerSourceAddress, LoopbackSources.canSpread(toward: host) else { return [connector] }
        return try stride(from: 0, to: sessions, by: sessionsPerSourceAddress).map { first in
            try connector.connecting(from: LoopbackSources.address(for: first, perAddress: sessionsPerSourceAddress))
        }
    }

    func run() async throws -> ScenarioResult {
        let plan = context.plan
        let server = context.server
        var target = plan.sessions
        var notes: [String] = []
        // Each session is one socket in the bench and one in the server; keep a reserve
        // for files, the listener, GDBM and the event loops.
        let reserve = 64
        if target > benchFileLimit - reserve {
            target = max(0, benchFileLimit - reserve)
            notes.append("capped at \(target): the bench's open-file limit is \(benchFileLimit)")
        }
        let serverFileLimit = server.stats.openFileLimit()
        if let limit = serverFileLimit, target > limit - reserve {
            target = max(0, limit - reserve)
            notes.append("capped at \(target): the server's open-file limit is \(limit)")
        }
        if target < plan.sessions {
            Progress.say("sessions: \(notes.joined(separator: "; "))")
        }

        let attempted = target
        let names = (0..<attempted).map { context.username("s", $0) }
        try await BenchAccounts.register(names, label: "sessions", context: context)

        let rssBefore = try server.stats.residentKiB()
        let cpuBefore = try server.stats.cpuSeconds()
        let connectors = try Self.spread(context.connector, host: server.nodes[0].host, sessions: attempted)
        let opened = Counter()
        let start = MonotonicClock.now()
        let ticker = Progress.every(1) { "sessions: \(opened.value)/\(attempted) logged in" }
        let outcomes = await Concurrently.run(count: attempted, limit: plan.connectConcurrency) { index in
            let started = MonotonicClock.now()
            return connectors[index % connectors.count].session(username: names[index]).map { connection in
                opened.increment()
                return (connection, (MonotonicClock.now() - started) / 1_000)
            }
        }
        let seconds = MonotonicClock.seconds(from: start, to: MonotonicClock.now())
        let cpuAfter = try server.stats.cpuSeconds()
        ticker.cancel()

        var connections: [BenchConnection] = []
        var histogram = LatencySummary.makeHistogram()
        var reasons: [String: Int] = [:]
        for outcome in outcomes {
            switch outcome {
            case .success(let (connection, micros)):
                connections.append(connection)
                _ = histogram.record(micros)
            case .failure(let error):
                reasons["\(error)", default: 0] += 1
            }
        }
        let failed = attempted - connections.count
        Progress.say("sessions: \(connections.count) logged in, \(failed) failed; holding them idle \(plan.hold) s")
        await MonotonicClock.sleep(seconds: plan.hold)
        let rssAfter = try server.stats.residentKiB()
        let benchRSS = (try? context.bench.residentKiB()) ?? 0
        Progress.say("sessions: closing \(connections.count) sessions")
        await BenchConnection.closeAll(connections)

        let count = connections.count
        let perSession = count > 0 ? Double(rssAfter - rssBefore) / Double(count) : nil
        let cpuPerLogin = count > 0 ? (cpuAfter - cpuBefore) * 1_000 / Double(count) : nil
        let failureText = reasons.sorted { $0.value > $1.value }.prefix(3)
            .map { "\($0.value)x \($0.key)" }.joined(separator: "; ")
        if failed > 0 { notes.append("failures: \(failureText)") }
        if attempted < plan.sessions { notes.append("reached \(count) of \(plan.sessions) asked") }
        let latency = LatencySummary(histogram)

        var result = ScenarioResult(scenario: "sessions")
        result.set("sessions_requested", plan.sessions)
        result.set("sessions_opened", count)
        result.set("failures", failed)
        result.set("failure_reasons", failureText.isEmpty ? .null : .string(failureText))
        result.set("seconds", seconds, digits: 2)
        result.set("sessions_per_s", Double(count) / seconds)
        result.setLatency(latency, prefix: "setup_")
        result.set("server_rss_before_kib", rssBefore)
        result.set("server_rss_after_kib", rssAfter)
        result.set("server_rss_per_session_kib", perSession, digits: 2)
        result.set("server_cpu_ms_per_login", cpuPerLogin, digits: 3)
        result.set("bench_rss_kib", benchRSS)
        result.set("fd_limit_bench", benchFileLimit)
        result.set("fd_limit_server", serverFileLimit.map { .int($0) } ?? .null)
        result.set("scrypt_log_n", server.scryptLogN.map { .int($0) } ?? .null)
        result.addRow(
            .init(
                scenario: "sessions",
                work: "\(Format.grouped(count))/\(Format.grouped(plan.sessions)) logged in, \(failed) failed",
                throughput: "\(Format.rate(Double(count) / seconds)) logins/s",
                latency: latency.text + " (connect+TLS+login)",
                serverCPU: cpuPerLogin.map { "\(Format.decimal($0, digits: 2)) ms/login" } ?? "-",
                notes: (["RSS \(Format.memory(kib: rssBefore)) -> \(Format.memory(kib: rssAfter))"
                    + (perSession.map { " = \(Format.decimal($0, digits: 1)) KiB/session" } ?? "")] + notes)
                    .joined(separator: "; ")))
        return result
    }
}

import NIOCore

/// `handshakes`: C loops of TCP connect + full TLS handshake (server certificate
/// verified) + close, for T seconds; handshakes per second and the server's CPU per
/// handshake.
struct HandshakesScenario {
    let context: ScenarioContext

    func run() async throws -> ScenarioResult {
        let plan = context.plan
        let server = context.server
        let recorder = LatencyRecorder()
        let eventLoops = Array(context.connector.group.makeIterator())
        Progress.say("handshakes: \(plan.handshakeConcurrency) concurrent loops for \(plan.duration) s")
        let cpuBefore = try server.stats.cpuSeconds()
        let benchBefore = try context.bench.cpuSeconds()
        let start = MonotonicClock.now()
        let deadline = start + UInt64(plan.duration * 1e9)
        recorder.begin("handshake", at: start)
        let loop = HandshakeLoop(connector: context.connector, deadline: deadline, recorder: recorder)
        let ticker = Progress.every(1) { "handshakes: \(loop.completed.value) done, \(loop.failed.value) failed" }
        defer { ticker.cancel() }
        let runs = (0..<plan.handshakeConcurrency).map { index in
            loop.run(on: eventLoops[index % eventLoops.count])
        }
        for run in runs { try await run.get() }
        let seconds = MonotonicClock.seconds(from: start, to: MonotonicClock.now())
        let cpuAfter = try server.stats.cpuSeconds()
        let benchAfter = try context.bench.cpuSeconds()
        let latency = recorder.summary("handshake")

        let completed = loop.completed.value
        let failed = loop.failed.value
        let perSecond = Double(completed) / seconds
        let cpuPerHandshake = completed > 0 ? (cpuAfter - cpuBefore) * 1e3 / Double(completed) : nil
        let benchPerHandshake = completed > 0 ? (benchAfter - benchBefore) * 1e3 / Double(completed) : nil

        var result = ScenarioResult(scenario: "handshakes")
        result.set("concurrency", plan.handshakeConcurrency)
        result.set("seconds", seconds, digits: 2)
        result.set("handshakes", completed)
        result.set("failures", failed)
        result.set("handshakes_per_s", perSecond)
        result.setLatency(latency)
        result.set("server_cpu_ms_per_handshake", cpuPerHandshake, digits: 3)
        result.set("bench_cpu_ms_per_handshake", benchPerHandshake, digits: 3)
        var notes = ["concurrency \(plan.handshakeConcurrency), ECDSA P-256, full handshakes"]
        if let benchPerHandshake {
            notes.append("bench \(Format.decimal(benchPerHandshake, digits: 2)) ms CPU/handshake")
        }
        if failed > 0 { notes.append("\(failed) failed: \(loop.firstFailureReason ?? "?")") }
        result.addRow(
            .init(
                scenario: "handshakes",
                work: "\(Format.grouped(completed)) in \(Format.decimal(seconds, digits: 1)) s, \(failed) failed",
                throughput: "\(Format.rate(perSecond)) handshakes/s",
                latency: latency.text + " (connect+TLS)",
                serverCPU: cpuPerHandshake.map { "\(Format.decimal($0, digits: 3)) ms/handshake" } ?? "-",
                notes: notes.joined(separator: "; ")))
        return result
    }
}

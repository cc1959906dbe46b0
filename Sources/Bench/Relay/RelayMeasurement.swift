/// One measured relay window: messages that arrived during it, and the CPU the server
/// (and the bench) spent in it. Latency is read from the window's histogram after the
/// driver stopped, so messages sent late in the window are counted too.
struct RelayMeasurement: Sendable {
    let name: String
    let seconds: Double
    let received: Int
    let serverCPUSeconds: Double
    let benchCPUSeconds: Double
    /// The database's CPU in the window, when its process is known.
    let databaseCPUSeconds: Double?

    /// Opens window `name`, waits `seconds`, closes it and returns what happened in it.
    static func run(
        _ name: String,
        seconds: Double,
        driver: RelayDriver,
        context: ScenarioContext
    ) async throws -> RelayMeasurement {
        let shared = driver.shared
        let server = context.server.stats
        let database = context.server.database
        let receivedBefore = shared.received.value
        let cpuBefore = try server.cpuSeconds()
        let benchBefore = try context.bench.cpuSeconds()
        let databaseBefore = try database?.treeCPUSeconds()
        let start = MonotonicClock.now()
        shared.recorder.begin(name, at: start)
        await MonotonicClock.sleep(seconds: seconds)
        let end = MonotonicClock.now()
        shared.recorder.end(at: end)
        let cpuAfter = try server.cpuSeconds()
        let benchAfter = try context.bench.cpuSeconds()
        let databaseAfter = try database?.treeCPUSeconds()
        return RelayMeasurement(
            name: name,
            seconds: MonotonicClock.seconds(from: start, to: end),
            received: shared.received.value - receivedBefore,
            serverCPUSeconds: cpuAfter - cpuBefore,
            benchCPUSeconds: benchAfter - benchBefore,
            databaseCPUSeconds: databaseBefore.flatMap { before in databaseAfter.map { $0 - before } })
    }

    /// Relayed messages per second.
    var messagesPerSecond: Double { Double(received) / seconds }

    /// Server CPU per relayed message, in microseconds.
    var serverMicrosPerMessage: Double? {
        received > 0 ? serverCPUSeconds * 1e6 / Double(received) : nil
    }

    /// Database CPU per relayed message, in microseconds, when measured.
    var databaseMicrosPerMessage: Double? {
        guard received > 0, let databaseCPUSeconds else { return nil }
        return databaseCPUSeconds * 1e6 / Double(received)
    }

    /// Bench CPU per relayed message, in microseconds (both ends of the pair).
    var benchMicrosPerMessage: Double? {
        received > 0 ? benchCPUSeconds * 1e6 / Double(received) : nil
    }

    /// Server CPU use over the window as a share of one core (1.0 = one core busy).
    var serverCores: Double { serverCPUSeconds / seconds }
}

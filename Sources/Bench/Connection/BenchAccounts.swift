import NIOCore

/// Registers the accounts a scenario logs in with. Registration is set-up, not
/// measured: a few logged-out connections register their share one after another (the
/// server hashes each password with scrypt on its thread pool).
enum BenchAccounts {
    /// Registers every name in `names` (an existing one counts as registered) and prints
    /// progress under `label`; throws the first failure.
    static func register(_ names: [String], label: String, context: ScenarioContext) async throws {
        guard !names.isEmpty else { return }
        let connector = context.connector
        let workers = min(names.count, max(2, context.plan.connectConcurrency / 8))
        let done = Counter()
        let start = MonotonicClock.now()
        let total = names.count
        let ticker = Progress.every(2) {
            "\(label): registered \(done.value)/\(total) accounts"
        }
        defer { ticker.cancel() }
        let outcomes = await withTaskGroup(of: Error?.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    do {
                        let connection = try await connector.connectAndHello().get()
                        defer { connection.close().whenComplete { _ in } }
                        var index = worker
                        while index < names.count {
                            try await connection.register(username: names[index], password: BenchConnector.password).get()
                            done.increment()
                            index += workers
                        }
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            var errors: [Error] = []
            for await error in group {
                if let error { errors.append(error) }
            }
            return errors
        }
        if let first = outcomes.first {
            throw BenchError.server("registering \(label) accounts failed: \(first)")
        }
        let seconds = MonotonicClock.seconds(from: start, to: MonotonicClock.now())
        Progress.say("\(label): registered \(total) accounts in \(Format.decimal(seconds, digits: 1)) s")
    }
}

import NIOCore

/// Runs many set-up jobs with at most `limit` in flight: a few worker tasks, each
/// awaiting one job's future at a time (a task per worker, never per job).
enum Concurrently {
    /// Runs `job(0..<count)` and returns each job's outcome, in index order.
    static func run<T: Sendable>(
        count: Int,
        limit: Int,
        _ job: @escaping @Sendable (Int) -> EventLoopFuture<T>
    ) async -> [Result<T, Error>] {
        guard count > 0 else { return [] }
        let workers = max(1, min(limit, count))
        return await withTaskGroup(of: [(Int, Result<T, Error>)].self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var outcomes: [(Int, Result<T, Error>)] = []
                    var index = worker
                    while index < count {
                        do {
                            outcomes.append((index, .success(try await job(index).get())))
                        } catch {
                            outcomes.append((index, .failure(error)))
                        }
                        index += workers
                    }
                    return outcomes
                }
            }
            var results = [Result<T, Error>?](repeating: nil, count: count)
            for await outcomes in group {
                for (index, outcome) in outcomes { results[index] = outcome }
            }
            return results.map { $0! }
        }
    }
}

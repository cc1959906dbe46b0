import NIOCore

extension EventLoop {
    /// Runs `body` in a task started at once on the calling thread; the future completes on
    /// this loop.
    ///
    /// `Task.immediate` rather than `makeFutureWithTask`, whose task is scheduled and may
    /// start after one created later: this one runs here until its first suspension, so a
    /// write takes its place in a store's queue before this returns (see `InboxStore` and
    /// `FileStore`), and one session's writes keep the order it asked for them in. Reads
    /// need no such order and use `makeFutureWithTask`.
    func makeFutureStartedNow<Value: Sendable>(
        _ body: @escaping @Sendable () async throws -> Value
    ) -> EventLoopFuture<Value> {
        let promise = makePromise(of: Value.self)
        Task.immediate {
            do {
                promise.succeed(try await body())
            } catch {
                promise.fail(error)
            }
        }
        return promise.futureResult
    }
}

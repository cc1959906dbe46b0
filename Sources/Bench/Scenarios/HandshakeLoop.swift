import NIOCore
import Shared

/// Connect, TLS handshake, close, again, until a deadline: one of the handshakes
/// scenario's concurrent loops, chained on futures (no task per connection).
final class HandshakeLoop: Sendable {
    private let connector: BenchConnector
    private let deadline: UInt64
    private let recorder: LatencyRecorder
    /// Handshakes completed (the server certificate verified).
    let completed = Counter()
    /// Connections that failed before completing a handshake.
    let failed = Counter()
    private let firstFailure = Locked<String?>(nil)

    init(connector: BenchConnector, deadline: UInt64, recorder: LatencyRecorder) {
        self.connector = connector
        self.deadline = deadline
        self.recorder = recorder
    }

    /// Runs one loop on `loop`; completes after the first cycle that ends past the deadline.
    func run(on loop: EventLoop) -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        cycle(on: loop, promise: promise)
        return promise.futureResult
    }

    /// The first failure's reason, if any.
    var firstFailureReason: String? {
        firstFailure.withLock { $0 }
    }

    private func cycle(on loop: EventLoop, promise: EventLoopPromise<Void>) {
        guard MonotonicClock.now() < deadline else {
            promise.succeed(())
            return
        }
        let started = MonotonicClock.now()
        connector.handshake(on: loop).flatMap { channel in
            self.recorder.record(sentAt: started, receivedAt: MonotonicClock.now())
            self.completed.increment()
            return channel.close()
        }.whenComplete { result in
            if case .failure(let error) = result {
                self.failed.increment()
                self.firstFailure.withLock { if $0 == nil { $0 = "\(error)" } }
            }
            // Through the loop's queue, so a run of instant failures cannot grow the stack.
            loop.execute { self.cycle(on: loop, promise: promise) }
        }
    }
}

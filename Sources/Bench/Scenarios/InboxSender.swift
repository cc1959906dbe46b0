import ChatSession
import NIOCore
import Shared

/// One user sending its share of the inbox scenario's messages to an offline user, on
/// its connection's event loop: `window` sends in flight, each timed from the write to its
/// `receipt stored` (which the server sends only after the sync).
final class InboxSender {
    /// What one sender's messages came to.
    struct Outcome: Sendable {
        var stored = 0
        var full = 0
        var failed = 0
        var firstFailure: String?
    }

    private let handler: ClientSessionHandler
    private let quota: Int
    private let window: Int
    private let size: Int
    private let recorder: LatencyRecorder
    private let promise: EventLoopPromise<Outcome>
    private var sent = 0
    private var inFlight = 0
    private var outcome = Outcome()

    private init(handler: ClientSessionHandler, quota: Int, window: Int, size: Int, recorder: LatencyRecorder, loop: EventLoop) {
        self.handler = handler
        self.quota = quota
        self.window = window
        self.size = size
        self.recorder = recorder
        self.promise = loop.makePromise(of: Outcome.self)
    }

    /// Sends `quota` messages through `connection` (whose user has chosen the recipient)
    /// and completes when every one has its answer.
    static func send(
        _ quota: Int, through connection: BenchConnection, window: Int, size: Int, recorder: LatencyRecorder
    ) -> EventLoopFuture<Outcome> {
        connection.withHandler { handler in
            let sender = InboxSender(
                handler: handler, quota: quota, window: window, size: size, recorder: recorder,
                loop: connection.eventLoop)
            sender.fill()
            return sender.promise.futureResult
        }
    }

    private func fill() {
        if quota == 0 { return promise.succeed(outcome) }
        while inFlight < window, sent < quota { sendOne() }
    }

    private func sendOne() {
        let sentAt = MonotonicClock.now()
        let body = MessageStamp.body(sentAt: sentAt, size: size)
        sent += 1
        inFlight += 1
        handler.request(.send(body: body)).assumeIsolated().whenComplete { result in
            self.inFlight -= 1
            switch result {
            case .success(.receipt(_, _, .stored)):
                self.outcome.stored += 1
                self.recorder.record(sentAt: sentAt, receivedAt: MonotonicClock.now())
            case .success(.error(let error)) where error.code == .inboxFull:
                self.outcome.full += 1
                self.noteFailure("inbox_full: \(error.message)")
            case .success(let frame):
                self.outcome.failed += 1
                self.noteFailure("\(frame)")
            case .failure(let error):
                self.outcome.failed += 1
                self.noteFailure("\(error)")
            }
            if self.sent < self.quota {
                self.sendOne()
            } else if self.inFlight == 0 {
                self.promise.succeed(self.outcome)
            }
        }
    }

    private func noteFailure(_ text: String) {
        if outcome.firstFailure == nil { outcome.firstFailure = text }
    }
}

@available(*, unavailable)
extension InboxSender: Sendable {}

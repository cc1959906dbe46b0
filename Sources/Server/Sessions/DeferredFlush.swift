import NIOConcurrencyHelpers
import NIOCore

/// Flushes, on one event loop, the sessions that were handed frames nobody waits for
/// ("delivered" receipts) from other threads: all of them together, a short while later.
///
/// A frame handed to a session from another thread costs a task on the session's loop, and
/// when that loop sleeps, a wake-up (an eventfd write, a context switch, an epoll return). At
/// chat rates every "delivered" receipt paid that on its own, as its sender's loop had gone
/// back to sleep since the sender's message. Gathered here, a burst of receipts costs one
/// wake-up per `delay`, and a receipt waits at most that long (or less: anything else written
/// to the same session takes it along).
final class DeferredFlush: Sendable {
    private struct Waiting {
        var outboxes: [SessionOutbox] = []
        /// A flush task is scheduled on the loop.
        var armed = false
    }

    let loop: EventLoop
    private let delay: TimeAmount
    private let waiting = NIOLockedValueBox(Waiting())

    init(loop: EventLoop, delay: TimeAmount) {
        self.loop = loop
        self.delay = delay
    }

    /// `outbox` (on this loop) has frames queued that may wait up to `delay`.
    func add(_ outbox: SessionOutbox) {
        let arm = waiting.withLockedValue { waiting -> Bool in
            waiting.outboxes.append(outbox)
            defer { waiting.armed = true }
            return !waiting.armed
        }
        if arm {
            loop.scheduleTask(in: delay) { self.flush() }
        }
    }

    /// On the loop: writes and flushes what every waiting session has queued.
    private func flush() {
        let outboxes = waiting.withLockedValue { waiting -> [SessionOutbox] in
            waiting.armed = false
            defer { waiting.outboxes.removeAll(keepingCapacity: true) }
            return waiting.outboxes
        }
        for outbox in outboxes {
            outbox.flushQueued()
        }
    }
}

/// One `DeferredFlush` per event loop of the server.
struct DeferredFlushes: Sendable {
    private let flushes: [ObjectIdentifier: DeferredFlush]

    /// At most `delay` between a deferred frame and its flush.
    init(group: EventLoopGroup, delay: TimeAmount) {
        var flushes: [ObjectIdentifier: DeferredFlush] = [:]
        for loop in group.makeIterator() {
            flushes[ObjectIdentifier(loop)] = DeferredFlush(loop: loop, delay: delay)
        }
        self.flushes = flushes
    }

    /// The one for `loop`; nil for a loop outside the group (sessions then flush at once).
    func forLoop(_ loop: EventLoop) -> DeferredFlush? {
        flushes[ObjectIdentifier(loop)]
    }
}

import NIOConcurrencyHelpers
import NIOCore
import Shared

/// The way into one logged-in session from anywhere in the server: messages and notices
/// for its user are offered here and written to its channel.
///
/// It also remembers every message delivered but not yet acknowledged. Offering and
/// closing share one lock, so a message is either accepted before the session closed (and
/// then handed back by `close()` to be stored) or refused (and the caller stores it):
/// there is no moment in which a message can fall between the two.
///
/// A client that stops reading must not make the server hold its messages without bound:
/// once its channel is over the write-buffer high mark, messages are refused (the caller
/// stores them in the inbox, so nothing is lost) until `resume()`, and the handler
/// disconnects the client if it does not catch up in time.
final class SessionOutbox: Sendable {
    /// A message handed to this session and not yet acknowledged by its client.
    struct Pending: Sendable {
        let message: StoredMessage
        /// True when it is (still) in the inbox; false for a live message.
        let fromInbox: Bool
    }

    private struct State {
        var closed = false
        /// Over the high mark: refusing messages until the client catches up.
        var stalled = false
        /// Ids of messages refused while stalled, per sender, for the "waiting" notice (a
        /// set: a stored message is offered again once its store finishes).
        var refusedWhileStalled: [String: Set<String>] = [:]
        var pending: [String: Pending] = [:]
        var order: [String] = []
        /// Ids this client acknowledged lately, oldest first. A stored message can reach a
        /// session twice (once from the inbox read when the chat opens, once from the store
        /// that was still finishing); after the first was acknowledged, `pending` no longer
        /// knows it, so these catch the second.
        var acknowledged: Set<String> = []
        /// The same ids as a ring, to forget the oldest when it is full (no array shift).
        var acknowledgedRing: [String] = []
        var acknowledgedNext = 0
        /// Frames offered from other threads, waiting for the channel's event loop.
        var queued: [ByteBuffer] = []
        /// A task on the channel's event loop will write `queued` and flush.
        var flushScheduled = false
    }

    /// How many acknowledged ids are remembered: far more than can be in flight at once.
    private static let acknowledgedMemory = 4_096

    let username: String
    let sessionID: UInt64
    private let channel: Channel
    private let state = NIOLockedValueBox(State())

    init(username: String, sessionID: UInt64, channel: Channel) {
        self.username = username
        self.sessionID = sessionID
        self.channel = channel
    }

    /// Writes `message` to the client unless the session has closed. True when the
    /// session took it (it is then pending until acknowledged, or handed back by `close`).
    func deliver(_ message: StoredMessage, fromInbox: Bool) -> Bool {
        let accepted = state.withLockedValue { state -> Bool? in
            guard !state.closed else { return false }
            // Already on its way, or already shown.
            if state.pending[message.id] != nil || state.acknowledged.contains(message.id) { return nil }
            // `isWritable` is safe from any thread; a stalled client stays stalled until
            // its handler sees it writable again, so live order is never reshuffled.
            if state.stalled || !channel.isWritable {
                state.stalled = true
                state.refusedWhileStalled[message.from, default: []].insert(message.id)
                return false
            }
            state.pending[message.id] = Pending(message: message, fromInbox: fromInbox)
            state.order.append(message.id)
            return true
        }
        guard let accepted else { return true }
        if accepted {
            let frame = ServerFrame.message(
                ChatMessage(
                    id: message.id, from: message.from, body: message.body,
                    sentAtMilliseconds: message.sentAtMilliseconds, stored: fromInbox))
            write(frame)
        }
        return accepted
    }

    /// Sends a control frame (notice, receipt) if the session is still open; best effort.
    func send(_ frame: ServerFrame) {
        guard state.withLockedValue({ !$0.closed }) else { return }
        write(frame)
    }

    /// The client caught up (its channel is writable again): accept messages again and
    /// return how many were refused meanwhile, per sender (they are in the inbox).
    func resume() -> [String: Int] {
        state.withLockedValue { state in
            state.stalled = false
            defer { state.refusedWhileStalled.removeAll() }
            return state.refusedWhileStalled.mapValues(\.count)
        }
    }

    /// The client acknowledged `messageID`: forget it and return what it was.
    func acknowledge(_ messageID: String) -> Pending? {
        state.withLockedValue { state in
            guard let pending = state.pending.removeValue(forKey: messageID) else { return nil }
            // `order` keeps acknowledged ids until it is mostly stale, then drops them all at
            // once: removing each one here would cost O(pending) per ack, which a 10,000
            // message drain pays 10,000 times.
            if state.order.count > 2 * state.pending.count + 64 {
                let live = state.pending
                state.order.removeAll { live[$0] == nil }
            }
            state.acknowledged.insert(messageID)
            if state.acknowledgedRing.count < Self.acknowledgedMemory {
                state.acknowledgedRing.append(messageID)
            } else {
                state.acknowledged.remove(state.acknowledgedRing[state.acknowledgedNext])
                state.acknowledgedRing[state.acknowledgedNext] = messageID
                state.acknowledgedNext = (state.acknowledgedNext + 1) % Self.acknowledgedMemory
            }
            return pending
        }
    }

    /// Refuses everything from now on and returns what was delivered but never
    /// acknowledged, oldest first (live ones must go to the inbox).
    func close() -> [Pending] {
        state.withLockedValue { state in
            state.closed = true
            let pending = state.order.compactMap { state.pending[$0] }
            state.pending.removeAll()
            state.order.removeAll()
            return pending
        }
    }

    /// Asks the session's own handler to act (displaced, shutdown).
    func fire(_ event: SessionEvent) {
        channel.pipeline.fireUserInboundEventTriggered(event)
    }

    /// Writes `frame` to the channel; frames offered within one turn of its event loop share
    /// one flush (one TLS record batch, one syscall) instead of one each.
    ///
    /// On the channel's own loop the frame is written at once, so it keeps its place among the
    /// session's own replies (an opened chat's waiting messages go out before its `ok`). From
    /// another thread it is encoded there and queued, and one task per batch, not per frame,
    /// crosses to the loop. Either way frames from one thread keep their order, and frames
    /// queued from elsewhere are written before a later one from the loop.
    private func write(_ frame: ServerFrame) {
        let buffer = frame.encode(allocator: channel.allocator)
        let loop = channel.eventLoop
        if loop.inEventLoop {
            let (earlier, scheduleFlush) = state.withLockedValue { state in
                let earlier = state.queued
                if !earlier.isEmpty { state.queued.removeAll(keepingCapacity: true) }
                defer { state.flushScheduled = true }
                return (earlier, !state.flushScheduled)
            }
            for queued in earlier { channel.write(queued, promise: nil) }
            channel.write(buffer, promise: nil)
            if scheduleFlush { loop.execute { self.flushQueued() } }
        } else {
            let scheduleFlush = state.withLockedValue { state in
                state.queued.append(buffer)
                defer { state.flushScheduled = true }
                return !state.flushScheduled
            }
            if scheduleFlush { loop.execute { self.flushQueued() } }
        }
    }

    /// On the channel's loop: writes what other threads queued, then flushes everything.
    private func flushQueued() {
        let queued = state.withLockedValue { state in
            state.flushScheduled = false
            defer { state.queued.removeAll(keepingCapacity: true) }
            return state.queued
        }
        for buffer in queued { channel.write(buffer, promise: nil) }
        channel.flush()
    }
}

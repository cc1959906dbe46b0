import ChatSession
import NIOCore
import Shared

/// One user of a relay pair, driven on its connection's event loop: sends stamped
/// messages to its partner, acknowledges every message it receives (as a real client
/// must), records the latency, and tells the partner its message arrived.
///
/// Both users of a pair live on the same event loop, so "your message arrived" is a plain
/// call, with no hop between threads and nothing shared but the counters.
final class RelayPeer {
    /// How the peer sends.
    enum Mode {
        /// Not sending (messages in flight still complete).
        case idle
        /// Keep `window` messages in flight, sending the next as soon as one arrives.
        case flood(window: Int)
        /// Send `perSecond` messages a second, the first at `start` (monotonic ns),
        /// whatever is in flight (up to `maximumInFlight`).
        case rate(perSecond: Double, start: UInt64)
    }

    /// In rate mode, a peer with this many messages in flight skips sends instead of
    /// queueing without bound.
    static let maximumInFlight = 1_000

    private let handler: ClientSessionHandler
    private let shared: RelayShared
    /// The peer's end-to-end encryption; nil when the run sends plaintext bodies.
    private let cipher: RelayCipher?
    /// The partner is on another node: there every message is stored in the partner's inbox
    /// first (answered `stored`) and arrives from there.
    private let acrossNodes: Bool
    /// The other user of the pair (same event loop).
    weak var partner: RelayPeer?
    private var mode = Mode.idle
    /// Messages sent and not yet received by the partner.
    private(set) var inFlight = 0
    /// Messages due so far in the current rate mode (sent or skipped).
    private var dueSoFar = 0

    /// Takes over `handler`'s events; the handler acknowledges each message once
    /// `received` has counted it (automatic acknowledgement).
    init(handler: ClientSessionHandler, shared: RelayShared, cipher: RelayCipher?, acrossNodes: Bool) {
        self.handler = handler
        self.shared = shared
        self.cipher = cipher
        self.acrossNodes = acrossNodes
        handler.onEvent = { [weak self] event in
            switch event {
            case .message(let message): self?.received(message)
            case .reply(let frame): self?.unanswered(frame)
            case .error(let error): self?.shared.failed("\(error.code.rawValue): \(error.message)")
            default: break  // delivered receipts and notices: a real client would show them
            }
        }
    }

    /// Switches mode; flood fills the window at once.
    func setMode(_ mode: Mode) {
        self.mode = mode
        dueSoFar = 0
        if case .flood(let window) = mode {
            while inFlight < window, sendOne() {}
        }
    }

    /// Rate mode: sends what has fallen due by `now`.
    func tick(now: UInt64) {
        guard case .rate(let perSecond, let start) = mode, now >= start else { return }
        let due = Int(MonotonicClock.seconds(from: start, to: now) * perSecond) + 1
        while dueSoFar < due {
            dueSoFar += 1
            if inFlight >= Self.maximumInFlight {
                shared.skipped.increment()
            } else {
                sendOne()
            }
        }
    }

    /// The partner received one of this peer's messages.
    func delivered() {
        inFlight -= 1
        if case .flood(let window) = mode, inFlight < window {
            sendOne()
        }
    }

    /// Sends one message; false when this peer cannot send yet.
    @discardableResult
    private func sendOne() -> Bool {
        let text = MessageStamp.body(sentAt: MonotonicClock.now(), size: shared.size)
        var body = text
        if let cipher {
            // The peer that did not start the session waits for its partner's first
            // message (counted as skipped at a fixed rate, not sent in flood).
            guard cipher.canSend else {
                if case .rate = mode { shared.skipped.increment() }
                return false
            }
            do {
                body = try cipher.seal(text)
            } catch {
                shared.failed("encrypt: \(error)")
                return false
            }
        }
        handler.post(.send(body: body))
        inFlight += 1
        shared.sent.increment()
        return true
    }

    private func received(_ message: ChatMessage) {
        let now = MonotonicClock.now()
        var text = message.body
        if let cipher {
            let couldSend = cipher.canSend
            guard let opened = cipher.open(message) else {
                shared.failed("a message did not decrypt")
                partner?.delivered()
                return
            }
            text = opened
            // The first message set up this side of the session: start sending.
            if !couldSend, case .flood(let window) = mode {
                while inFlight < window, sendOne() {}
            }
        }
        if let sentAt = MessageStamp.sentAt(text) {
            shared.recorder.record(sentAt: sentAt, receivedAt: now)
        }
        shared.received.increment()
        partner?.delivered()
    }

    /// The answer to one of this peer's sends (posted, so nobody waited for it).
    private func unanswered(_ frame: ServerFrame) {
        switch frame {
        case .error(let error):
            // A refused send never reaches the partner: free its window slot.
            shared.failed("\(error.code.rawValue): \(error.message)")
            inFlight -= 1
            if case .flood(let window) = mode, inFlight < window { sendOne() }
        case .receipt(.some, _, .stored) where !acrossNodes:
            // Through the inbox (see `RelayShared.stored`): its arrival frees the window
            // slot, as a live one's does. (Had the pairing broken, it would stay in flight,
            // and the run reports it as unfinished.)
            shared.stored.increment()
        default:
            // `sent` receipts, and `stored` ones across nodes: the partner's arrival is
            // what counts.
            break
        }
    }
}

@available(*, unavailable)
extension RelayPeer: Sendable {}

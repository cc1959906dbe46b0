import NIOCore
import Shared

/// The bench's end of one connection, above TLS and the line codec: decodes server frames,
/// matches replies to requests by `id`, and hands everything else to callbacks.
///
/// Hot-path friendly: writes are not flushed one by one. The first write after a flush
/// schedules one flush for the end of the current event-loop turn, so the frames one
/// read (or one rate tick) produces leave in one TLS record batch, as a busy real client's
/// would.
///
/// Loop-bound like every handler: call it only on its channel's event loop (through
/// `BenchConnection` from elsewhere).
final class BenchClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Called for every chat `message` (live or stored).
    var onMessage: ((ChatMessage) -> Void)?
    /// Called for frames no request waits for: notices, summaries, `delivered` receipts,
    /// and the replies to requests sent with `post(_:)`.
    var onUnmatched: ((ServerFrame) -> Void)?

    /// Completes when the TLS handshake has (server certificate verified).
    let handshakeCompleted: EventLoopFuture<Void>
    private let handshakePromise: EventLoopPromise<Void>
    private var helloPromise: EventLoopPromise<Void>?
    private var waiting: [Int: EventLoopPromise<ServerFrame>] = [:]
    private var nextID = 1
    private var context: ChannelHandlerContext?
    private var flushScheduled = false
    /// The highest `seq` shown (handled) so far, and the highest acknowledged to the server.
    private var shownUpTo = 0
    private var acknowledgedUpTo = 0
    private var ackScheduled = false
    /// Why the connection ended, once it has.
    private(set) var failure: Error?

    init(eventLoop: EventLoop) {
        handshakePromise = eventLoop.makePromise(of: Void.self)
        handshakeCompleted = handshakePromise.futureResult
    }

    // MARK: - Requests

    /// Sends `hello` and completes when the server's `hello` arrives.
    func hello() -> EventLoopFuture<Void> {
        guard let context else { return closedFuture(Void.self) }
        let promise = context.eventLoop.makePromise(of: Void.self)
        helloPromise = promise
        write(.hello(version: ProtocolVersion.current, agent: "chat-bench/0.1.0"))
        return promise.futureResult
    }

    /// Sends a request built with the next `id` and completes with the frame that echoes
    /// that id (an `error` frame succeeds too: the caller decides what it means).
    func request(_ build: (Int) -> ClientFrame) -> EventLoopFuture<ServerFrame> {
        guard let context else { return closedFuture(ServerFrame.self) }
        let id = takeID()
        let promise = context.eventLoop.makePromise(of: ServerFrame.self)
        waiting[id] = promise
        write(build(id))
        return promise.futureResult
    }

    /// Sends a request nobody waits for (its reply goes to `onUnmatched`); returns its id.
    /// For the relay, where a promise per message would be pure overhead.
    @discardableResult
    func post(_ build: (Int) -> ClientFrame) -> Int {
        let id = takeID()
        write(build(id))
        return id
    }

    /// Sends a frame that has no reply (`ack`).
    func post(_ frame: ClientFrame) {
        write(frame)
    }

    /// `message` has been handled; acknowledged, with everything before it, at most
    /// `ClientAcknowledgement.delay` later, as chat-client does.
    func acknowledge(_ message: ChatMessage) {
        shownUpTo = max(shownUpTo, message.seq)
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failEverything(failure ?? BenchError.connectionClosed)
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .success(let frame) = ServerFrame.decode(unwrapInboundIn(data)) else {
            // A frame type this build does not know: skipped, as the protocol asks.
            return
        }
        switch frame {
        case .hello:
            let promise = helloPromise
            helloPromise = nil
            promise?.succeed(())
        case .message(let message):
            onMessage?(message)
        default:
            if let id = frame.id, let promise = waiting.removeValue(forKey: id) {
                promise.succeed(frame)
            } else {
                onUnmatched?(frame)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if shownUpTo > acknowledgedUpTo, !ackScheduled {
            ackScheduled = true
            context.eventLoop.assumeIsolated().scheduleTask(in: ClientAcknowledgement.delay) {
                self.ackScheduled = false
                guard self.shownUpTo > self.acknowledgedUpTo else { return }
                self.acknowledgedUpTo = self.shownUpTo
                self.write(.ack(seq: self.shownUpTo))
            }
        }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is TLSHandshakeCompleted {
            handshakePromise.succeed(())
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if failure == nil { failure = error }
        failEverything(error)
        // Through the channel so the TLS handler still tries to send close_notify.
        context.channel.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failEverything(failure ?? BenchError.connectionClosed)
        context.fireChannelInactive()
    }

    // MARK: - Writing

    private func write(_ frame: ClientFrame) {
        guard let context else { return }
        context.write(wrapOutboundOut(frame.encode(allocator: context.channel.allocator)), promise: nil)
        guard !flushScheduled else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            self.context?.flush()
        }
    }

    private func takeID() -> Int {
        defer { nextID += 1 }
        return nextID
    }

    private func closedFuture<T>(_ type: T.Type) -> EventLoopFuture<T> {
        handshakePromise.futureResult.eventLoop.makeFailedFuture(failure ?? BenchError.connectionClosed)
    }

    private func failEverything(_ error: Error) {
        handshakePromise.fail(error)  // no effect once it succeeded
        if let promise = helloPromise {
            helloPromise = nil
            promise.fail(error)
        }
        guard !waiting.isEmpty else { return }
        let promises = waiting.values
        waiting.removeAll()
        for promise in promises { promise.fail(error) }
    }
}

@available(*, unavailable)
extension BenchClientHandler: Sendable {}

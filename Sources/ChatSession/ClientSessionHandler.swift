import NIOCore
import Shared

/// The client's end of one session, above TLS and the line decoder: carries out what
/// `ClientSessionStateMachine` answers. Requests go out with fresh ids and their replies
/// complete the caller's future; everything unasked is handed to `onEvent`, in order.
///
/// Frames are not written one by one: they are encoded into one buffer, and the first
/// frame after a flush schedules one write and flush for the end of the current
/// event-loop turn, so the frames one read produces (a reply, its acks) leave as one
/// buffer in one TLS record batch.
///
/// It decodes and encodes frames itself rather than sitting above `FrameDecoder` and
/// `FrameEncoder`: those are generic classes from another module, so every frame through
/// them costs a runtime metadata lookup and a boxed `NIOAny`, which made the bench's relay
/// spend about a sixth more CPU per message (measured).
///
/// Loop-bound like every handler: use it only on its channel's event loop (through
/// `ChatConnection` from elsewhere).
public final class ClientSessionHandler: ChannelInboundHandler {
    /// One line, without its terminator.
    public typealias InboundIn = ByteBuffer
    /// Whole lines, terminators included.
    public typealias OutboundOut = ByteBuffer

    /// Receives every event, on the event loop, in the order the server sent them. A
    /// request's future completes only after the events that came before its reply.
    public var onEvent: ((SessionEvent) -> Void)?

    /// Completes when the TLS handshake has verified the server.
    public let handshakeCompleted: EventLoopFuture<TLSHandshakeCompleted>

    private let configuration: SessionConfiguration
    private var machine: ClientSessionStateMachine<EventLoopPromise<ServerFrame>>
    private let handshakePromise: EventLoopPromise<TLSHandshakeCompleted>
    private var helloPromise: EventLoopPromise<String>?
    private var helloTimeout: Scheduled<Void>?
    private var keepAlive: Scheduled<Void>?
    /// Sends the ack for what was shown, `ClientAcknowledgement.delay` after the first
    /// message it covers, so one ack covers a burst (sooner past `promptAfter` messages).
    private var acknowledgementTimer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    /// Frames encoded since the last flush, as lines; nil when there are none.
    private var outgoing: ByteBuffer?
    private var flushScheduled = false
    private var closeRequested = false
    /// Why the connection ended, once it has.
    private var failure: (any Error)?

    /// A handler for a session set up by `configuration`, on `eventLoop`.
    public init(configuration: SessionConfiguration, eventLoop: EventLoop) {
        self.configuration = configuration
        machine = ClientSessionStateMachine(
            acknowledgement: configuration.acknowledgement, rememberedMessages: configuration.rememberedMessages)
        handshakePromise = eventLoop.makePromise(of: TLSHandshakeCompleted.self)
        handshakeCompleted = handshakePromise.futureResult
    }

    // MARK: - Requests

    /// Sends `hello` and completes with the server's agent when its `hello` arrives.
    public func hello() -> EventLoopFuture<String> {
        guard let context, machine.sendingHello() else { return failedFuture(String.self) }
        let promise = context.eventLoop.makePromise(of: String.self)
        helloPromise = promise
        helloTimeout = context.eventLoop.assumeIsolated().scheduleTask(in: configuration.helloTimeout) {
            self.finishGreeting(.failure(SessionError.helloTimedOut))
        }
        write(.hello(version: ProtocolVersion.current, agent: configuration.agent))
        return promise.futureResult
    }

    /// Sends `request` with the next id and completes with the frame that answers it (an
    /// `error` frame succeeds too: the caller decides what it means).
    public func request(_ request: ChatRequest) -> EventLoopFuture<ServerFrame> {
        guard let context else { return failedFuture(ServerFrame.self) }
        let promise = context.eventLoop.makePromise(of: ServerFrame.self)
        guard let id = machine.startRequest(waiter: promise) else {
            promise.fail(failure ?? SessionError.connectionClosed)
            return promise.futureResult
        }
        write(request.frame(id: id))
        return promise.futureResult
    }

    /// Sends `request` without waiting for it: its reply comes as `SessionEvent.reply`.
    /// For hot paths where a promise per request is pure overhead. Returns the id, nil
    /// when the connection has ended.
    @discardableResult
    public func post(_ request: ChatRequest) -> Int? {
        guard context != nil, let id = machine.startRequest(waiter: nil) else { return nil }
        write(request.frame(id: id))
        return id
    }

    /// The caller has shown the message with `seq` (`.afterShown` policy): acknowledged,
    /// with everything shown before it, shortly.
    public func acknowledge(seq: Int) {
        if machine.shown(seq: seq) { scheduleAcknowledgement() }
    }

    /// Closes the connection (with close_notify); the session reports `closedByClient`.
    /// What was shown is acknowledged first, so it is not delivered again.
    public func close() {
        closeRequested = true
        acknowledgeNow()
        // Frames written just before (a logout) leave first; then through the channel so
        // the TLS handler sends close_notify.
        flushOutgoing()
        context?.channel.close(promise: nil)
    }

    // MARK: - Channel events

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        end(failure ?? SessionError.connectionClosed)
        self.context = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch machine.received(ServerFrame.decode(unwrapInboundIn(data))) {
        case .greeted(let agent):
            finishGreeting(.success(agent))
            scheduleKeepAlive()
        case .greetingFailed(let error):
            finishGreeting(.failure(error))
        case .answer(let promise, let frame):
            promise.succeed(frame)
        case .emit(let event):
            onEvent?(event)
        case .emitThenAcknowledge(let event):
            onEvent?(event)
            scheduleAcknowledgement()
        case .acknowledgeDuplicate:
            scheduleAcknowledgement()
        case .ignore:
            break
        }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let done = event as? TLSHandshakeCompleted {
            handshakePromise.succeed(done)
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        if failure == nil { failure = error }
        // Through the channel so the TLS handler still tries to send close_notify.
        context.channel.close(promise: nil)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        end(failure ?? SessionError.connectionClosed)
        context.fireChannelInactive()
    }

    // MARK: - Internals

    private func finishGreeting(_ result: Result<String, any Error>) {
        helloTimeout?.cancel()
        helloTimeout = nil
        guard let promise = helloPromise else { return }
        helloPromise = nil
        promise.completeWith(result)
        if case .failure(let error) = result {
            if failure == nil { failure = error }
            context?.channel.close(promise: nil)
        }
    }

    private func scheduleKeepAlive() {
        guard let interval = configuration.keepAliveInterval, let context else { return }
        keepAlive = context.eventLoop.assumeIsolated().scheduleTask(in: interval) {
            guard let id = self.machine.keepAliveDue() else { return }
            self.write(.ping(id: id))
            self.scheduleKeepAlive()
        }
    }

    private func scheduleAcknowledgement() {
        if machine.shownUnacknowledged >= ClientAcknowledgement.promptAfter {
            acknowledgeNow()
            return
        }
        guard acknowledgementTimer == nil, let context else { return }
        acknowledgementTimer = context.eventLoop.assumeIsolated().scheduleTask(in: ClientAcknowledgement.delay) {
            self.acknowledgementTimer = nil
            self.acknowledgeNow()
        }
    }

    /// Sends the ack that is due, if any.
    private func acknowledgeNow() {
        acknowledgementTimer?.cancel()
        acknowledgementTimer = nil
        if let seq = machine.acknowledgementDue() { write(.ack(seq: seq)) }
    }

    /// The connection is over: fail whoever still waits, report `closed` once.
    private func end(_ error: any Error) {
        let reason: SessionCloseReason
        if let failure {
            reason = .failed(failure)
        } else {
            reason = closeRequested ? .closedByClient : .closedByServer
        }
        keepAlive?.cancel()
        keepAlive = nil
        acknowledgementTimer?.cancel()
        acknowledgementTimer = nil
        outgoing = nil
        handshakePromise.fail(error)  // no effect once it succeeded
        finishGreeting(.failure(error))
        let (waiters, first) = machine.closed()
        // `closed` before the failures: whoever merges events with answers learns why
        // the connection ended before a request fails with it.
        if first { onEvent?(.closed(reason)) }
        for promise in waiters { promise.fail(error) }
    }

    private func write(_ frame: ClientFrame) {
        guard let context else { return }
        // Taken out while appending, so the buffer stays uniquely referenced (no copy).
        var lines = outgoing ?? context.channel.allocator.buffer(capacity: 512)
        outgoing = nil
        frame.encode(into: &lines)
        lines.writeInteger(UInt8(ascii: "\n"))
        outgoing = lines
        guard !flushScheduled else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            self.flushOutgoing()
        }
    }

    /// Writes and flushes the gathered lines, if any.
    private func flushOutgoing() {
        guard let context, let lines = outgoing else { return }
        outgoing = nil
        context.writeAndFlush(wrapOutboundOut(lines), promise: nil)
    }

    private func failedFuture<T>(_ type: T.Type) -> EventLoopFuture<T> {
        handshakePromise.futureResult.eventLoop.makeFailedFuture(failure ?? SessionError.connectionClosed)
    }
}

@available(*, unavailable)
extension ClientSessionHandler: Sendable {}

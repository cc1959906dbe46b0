import NIOCore
import Shared

/// The client's end of one session, above TLS and the frame codecs: carries out what
/// `ClientSessionStateMachine` answers. Requests go out with fresh ids and their replies
/// complete the caller's future; everything unasked is handed to `onEvent`, in order.
///
/// Writes are not flushed one by one: the first write after a flush schedules one flush
/// for the end of the current event-loop turn, so the frames one read produces (a reply,
/// its acks) leave in one TLS record batch.
///
/// Loop-bound like every handler: use it only on its channel's event loop (through
/// `ChatConnection` from elsewhere).
public final class ClientSessionHandler: ChannelInboundHandler {
    public typealias InboundIn = Result<ServerFrame, ProtocolError>
    public typealias OutboundOut = ClientFrame

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
    private var context: ChannelHandlerContext?
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

    /// The caller has shown message `messageID` (`.afterShown` policy): acknowledges it.
    public func acknowledge(messageID: String) {
        guard machine.acknowledging(messageID) else { return }
        write(.ack(messageID: messageID))
    }

    /// Closes the connection (with close_notify); the session reports `closedByClient`.
    public func close() {
        closeRequested = true
        // Frames written just before (a logout) leave first; then through the channel so
        // the TLS handler sends close_notify.
        context?.flush()
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
        switch machine.received(unwrapInboundIn(data)) {
        case .greeted(let agent):
            finishGreeting(.success(agent))
            scheduleKeepAlive()
        case .greetingFailed(let error):
            finishGreeting(.failure(error))
        case .answer(let promise, let frame):
            promise.succeed(frame)
        case .emit(let event):
            onEvent?(event)
        case .emitThenAcknowledge(let event, let messageID):
            onEvent?(event)
            write(.ack(messageID: messageID))
        case .acknowledgeDuplicate(let messageID):
            write(.ack(messageID: messageID))
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
        context.write(wrapOutboundOut(frame), promise: nil)
        guard !flushScheduled else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            self.context?.flush()
        }
    }

    private func failedFuture<T>(_ type: T.Type) -> EventLoopFuture<T> {
        handshakePromise.futureResult.eventLoop.makeFailedFuture(failure ?? SessionError.connectionClosed)
    }
}

@available(*, unavailable)
extension ClientSessionHandler: Sendable {}

import Logging
import NIOCore
import Shared

/// One client's session above TLS and the line codec: decodes frames, applies the
/// protocol rules of `SessionStateMachine`, runs registrations and logins, and answers.
///
/// Requests are answered in order: while a register or login runs, reading is paused and
/// frames that already arrived wait in `pending`.
final class SessionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var machine: SessionStateMachine
    private let services: SessionServices
    private let sessionID: UInt64
    private var logger: Logger
    private var pending: [ByteBuffer] = []
    /// Reading stops while this many frames wait behind a slow request, so a client that
    /// floods cannot make the queue grow without bound.
    private static let pendingLimit = 64
    private var readingPaused = false
    private var loginTimer: Scheduled<Void>?
    /// Runs while the client is not reading (channel over its write-buffer high mark).
    private var stalledTimer: Scheduled<Void>?
    private var messageBucket: TokenBucket
    private var peerAddress = "unknown"
    /// The logged-in user's way in for other sessions; nil while logged out.
    private var outbox: SessionOutbox?
    /// Why a logged-in session's connection failed, for its one "disconnected" log line.
    private var dropReason: String?
    /// Replies are being collected: `send` writes without flushing, and whoever opened the
    /// batch flushes once at its end (a read batch in `channelReadComplete`). One flush is one
    /// TLS record batch and one `write` syscall instead of one per frame.
    private var batching = false
    /// Something was written in the current batch and not flushed yet.
    private var unflushed = false

    init(services: SessionServices, sessionID: UInt64, logger: Logger) {
        self.services = services
        self.sessionID = sessionID
        self.logger = logger
        self.machine = SessionStateMachine(maximumBadFrames: services.maximumBadFrames)
        self.messageBucket = TokenBucket(rate: services.messageRate, burst: services.messageBurst)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        peerAddress = context.channel.remoteAddress?.ipAddress ?? "unknown"
        armLoginTimer(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        loginTimer?.cancel()
        loginTimer = nil
        stalledTimer?.cancel()
        stalledTimer = nil
    }

    /// A client that stops reading fills its write buffer; past the high mark its messages
    /// go to its inbox (see `SessionOutbox`), and if it has not caught up when the timer
    /// fires it is disconnected, so it cannot hold memory or its partner's chat for ever.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            stalledTimer?.cancel()
            stalledTimer = nil
            if let outbox {
                for (sender, count) in outbox.resume().sorted(by: { $0.key < $1.key }) {
                    send(.notice(code: .newMessage, message: ChatText.newMessages(count, from: sender)), context: context)
                }
            }
        } else if stalledTimer == nil {
            let timeout = services.stalledReaderTimeout
            stalledTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
                guard let self, !context.channel.isWritable, context.channel.isActive else { return }
                // Logged once: as "disconnected: ..." for a session, here otherwise.
                if self.outbox != nil {
                    self.dropReason = "stopped reading"
                } else {
                    self.logger.notice("closing connection: client stopped reading")
                }
                context.channel.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    /// A connection that never logs in holds a socket and memory for nothing: close it.
    private func armLoginTimer(context: ChannelHandlerContext) {
        loginTimer?.cancel()
        let timeout = services.loginTimeout
        loginTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            guard let self, self.outbox == nil, self.machine.state != .closed else { return }
            self.logger.notice("closing connection: no login in time")
            let seconds = timeout.nanoseconds / 1_000_000_000
            self.perform(
                self.machine.timedOut(ProtocolError(.timedOut, message: "no login within \(seconds) s, closing the connection")),
                context: context)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = unwrapInboundIn(data)
        // Every frame of one socket read arrives before `channelReadComplete`: answer them
        // all, then flush once there.
        batching = true
        if machine.busy {
            pending.append(line)
            if pending.count >= Self.pendingLimit { pauseReading(context: context) }
            return
        }
        handle(line, context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        endBatch(context: context)
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        batching = false
        unflushed = false
        if let outbox {
            self.outbox = nil
            services.messages.sessionEnded(outbox: outbox, disconnected: true, on: context.eventLoop)
            logger.info("disconnected\(dropReason.map { ": \($0)" } ?? "")")
        }
        _ = machine.shutdown()
        pending.removeAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // The line decoder's only error: a frame over the limit. Answer, then close
        // without reading further.
        if let error = error as? ProtocolError {
            logger.notice("closing connection: \(error.code.rawValue)")
            perform(machine.framingFailed(error), context: context)
            return
        }
        if outbox != nil {
            // A logged-in peer that vanishes (reset, no close_notify) is logged once, as
            // "disconnected: why" when the channel goes, not once here and once there.
            dropReason = ConnectionErrorHandler.describe(error)
            context.close(promise: nil)
            return
        }
        context.fireErrorCaught(error)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event as? SessionEvent {
        case .displaced:
            if machine.displaced() {
                logger.info("displaced by a newer login")
                perform(.sendAndClose([.notice(.displaced)]), context: context)
            }
        case .serverShutdown:
            if machine.shutdown() {
                perform(.sendAndClose([.notice(.shutdown)]), context: context)
            }
        case nil:
            if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
                // Silent too long: a vanished peer (half-open TCP) or a client that stopped pinging.
                logger.notice("closing connection: idle")
                perform(
                    machine.timedOut(ProtocolError(.timedOut, message: "no frame received for too long, closing the connection")),
                    context: context)
                return
            }
            context.fireUserInboundEventTriggered(event)
        }
    }

    // MARK: - Requests

    private func handle(_ line: ByteBuffer, context: ChannelHandlerContext) {
        let decoded = ClientFrame.decode(line)
        if case .failure(let error) = decoded {
            logger.debug("bad frame: \(error.code.rawValue)")
        }
        perform(machine.frameReceived(decoded), context: context)
    }

    private func perform(_ action: SessionStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .send(let frame):
            send(frame, context: context)
        case .sendAndClose(let frames):
            for frame in frames {
                context.write(wrapOutboundOut(frame.encode(allocator: context.channel.allocator)), promise: nil)
            }
            context.flush()
            // Through the channel so the TLS handler sends close_notify after the frames.
            context.channel.close(promise: nil)
        case .register(let id, let username, let password):
            let future = services.accounts.register(id: id, username: username, password: password, on: context.eventLoop)
            future.assumeIsolated().whenComplete { result in
                self.batch(context: context) {
                    self.machine.registrationFinished()
                    switch result {
                    case .success(let name):
                        self.logger.info("registered", metadata: ["user": "\(name)"])
                        self.send(.ok(id: id, username: name), context: context)
                    case .failure(let error):
                        self.send(.error(Self.protocolError(error, id: id)), context: context)
                    }
                    self.resumeReading(context: context)
                }
            }
        case .login(let id, let username, let password):
            let future = services.accounts.login(
                id: id, username: username, password: password, address: peerAddress, on: context.eventLoop)
            future.assumeIsolated().whenComplete { result in
                self.batch(context: context) {
                    switch result {
                    case .success(let name) where context.channel.isActive:
                        self.machine.loginFinished(username: name)
                        self.logger[metadataKey: "user"] = "\(name)"
                        self.logger.info("logged in")
                        self.loginTimer?.cancel()
                        self.loginTimer = nil
                        let outbox = SessionOutbox(username: name, sessionID: self.sessionID, channel: context.channel)
                        self.outbox = outbox
                        let claimed = self.services.registry.claim(outbox)
                        claimed.displaced?.fire(.displaced)
                        claimed.abandonedPartner?.send(
                            .notice(code: .partnerLeft, message: "\(name) logged in elsewhere and left the chat"))
                        self.send(.ok(id: id, username: name), context: context)
                        // Then the inbox summary, unasked, so the client can greet with it.
                        self.services.messages.summary(for: name, requestID: nil, on: context.eventLoop)
                            .assumeIsolated().whenSuccess { frame in
                                if self.outbox === outbox { self.send(frame, context: context) }
                            }
                    case .success:
                        self.machine.loginFinished(username: nil)
                    case .failure(let error):
                        self.machine.loginFinished(username: nil)
                        let protocolError = Self.protocolError(error, id: id)
                        self.logger.info("login refused: \(protocolError.code.rawValue)")
                        self.send(.error(protocolError), context: context)
                    }
                    self.resumeReading(context: context)
                }
            }
        case .logout(let id, _):
            if let outbox {
                self.outbox = nil
                services.messages.sessionEnded(outbox: outbox, disconnected: false, on: context.eventLoop)
            }
            logger.info("logged out")
            logger[metadataKey: "user"] = nil
            send(.ok(id: id), context: context)
            armLoginTimer(context: context)
        case .openChat(let id, let partner):
            guard let outbox else { return finishRequest(nil, context: context) }
            let answer = services.messages.openChat(
                user: outbox.username, partner: partner, requestID: id, outbox: outbox, on: context.eventLoop)
            answer.assumeIsolated().whenSuccess { frame in self.finishRequest(frame, context: context) }
        case .leave(let id):
            if let outbox { services.messages.leave(user: outbox.username) }
            send(.ok(id: id), context: context)
        case .sendMessage(let id, let body):
            guard let outbox else { return finishRequest(nil, context: context) }
            guard messageBucket.take(at: .now()) else {
                // Said, never silently dropped: the client shows "slow down".
                return finishRequest(.error(ProtocolError(.rateLimited, id: id)), context: context)
            }
            switch services.messages.send(from: outbox, body: body, requestID: id, on: context.eventLoop) {
            case .now(let frame):
                finishRequest(frame, context: context)
            case .later(let answer):
                answer.assumeIsolated().whenSuccess { frame in self.finishRequest(frame, context: context) }
            }
        case .acknowledge(let messageID):
            if let outbox { services.messages.acknowledge(messageID, outbox: outbox) }
        case .who(let id):
            let users = outbox.map { services.registry.who(except: $0.username) } ?? []
            send(.who(id: id, users: users), context: context)
        case .inbox(let id):
            guard let outbox else { return finishRequest(nil, context: context) }
            let answer = services.messages.summary(for: outbox.username, requestID: id, on: context.eventLoop)
            answer.assumeIsolated().whenSuccess { frame in self.finishRequest(frame, context: context) }
        }
    }

    /// Answers a chat request that paused frame handling, then handles what waited.
    private func finishRequest(_ frame: ServerFrame?, context: ChannelHandlerContext) {
        // The answer and whatever the waiting frames produce leave in one flush.
        batch(context: context) {
            machine.requestFinished()
            if let frame { send(frame, context: context) }
            resumeReading(context: context)
        }
    }

    /// Writes `frame`; flushes at once unless a batch is open (then its end flushes).
    private func send(_ frame: ServerFrame, context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(frame.encode(allocator: context.channel.allocator)), promise: nil)
        if batching {
            unflushed = true
        } else {
            context.flush()
        }
    }

    /// Runs `body` with sends collected, then flushes once; nests inside a read batch, which
    /// then does the flushing.
    private func batch(context: ChannelHandlerContext, _ body: () -> Void) {
        guard !batching else { return body() }
        batching = true
        body()
        endBatch(context: context)
    }

    private func endBatch(context: ChannelHandlerContext) {
        batching = false
        if unflushed {
            unflushed = false
            context.flush()
        }
    }

    private func pauseReading(context: ChannelHandlerContext) {
        guard !readingPaused else { return }
        readingPaused = true
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
    }

    /// Works through frames that arrived while a request ran, then reads again.
    private func resumeReading(context: ChannelHandlerContext) {
        batch(context: context) {
            while !machine.busy, !pending.isEmpty, machine.state != .closed {
                handle(pending.removeFirst(), context: context)
            }
        }
        if readingPaused, !machine.busy, context.channel.isActive {
            readingPaused = false
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        }
    }

    private static func protocolError(_ error: Error, id: Int) -> ProtocolError {
        if let error = error as? ProtocolError { return error }
        return ProtocolError(.internal, id: id)
    }
}

@available(*, unavailable)
extension SessionHandler: Sendable {}

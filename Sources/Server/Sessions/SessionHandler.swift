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
    private var peerAddress = "unknown"
    /// The name this session holds in the registry. Kept apart from the state machine,
    /// whose state is `.closed` (not `.loggedIn`) once it has closed the session for bad
    /// frames, an oversize line or shutdown; the name must still be given up when the
    /// channel goes. Releasing after being displaced is harmless: the registry only
    /// removes the name while this session ID holds it.
    private var registeredUsername: String?

    init(services: SessionServices, sessionID: UInt64, logger: Logger) {
        self.services = services
        self.sessionID = sessionID
        self.logger = logger
        self.machine = SessionStateMachine(maximumBadFrames: services.maximumBadFrames)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        peerAddress = context.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = unwrapInboundIn(data)
        if machine.busy {
            pending.append(line)
            return
        }
        handle(line, context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let username = registeredUsername {
            services.registry.release(username: username, sessionID: sessionID)
            registeredUsername = nil
            logger.info("disconnected")
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
            pauseReading(context: context)
            let future = services.accounts.register(id: id, username: username, password: password, on: context.eventLoop)
            future.assumeIsolated().whenComplete { result in
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
        case .login(let id, let username, let password):
            pauseReading(context: context)
            let future = services.accounts.login(
                id: id, username: username, password: password, address: peerAddress, on: context.eventLoop)
            future.assumeIsolated().whenComplete { result in
                switch result {
                case .success(let name) where context.channel.isActive:
                    self.machine.loginFinished(username: name)
                    self.logger[metadataKey: "user"] = "\(name)"
                    self.logger.info("logged in")
                    let previous = self.services.registry.claim(
                        username: name, sessionID: self.sessionID, channel: context.channel)
                    self.registeredUsername = name
                    previous?.pipeline.fireUserInboundEventTriggered(SessionEvent.displaced)
                    self.send(.ok(id: id, username: name), context: context)
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
        case .logout(let id, let username):
            services.registry.release(username: username, sessionID: sessionID)
            registeredUsername = nil
            logger.info("logged out")
            logger[metadataKey: "user"] = nil
            send(.ok(id: id), context: context)
        }
    }

    private func send(_ frame: ServerFrame, context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(frame.encode(allocator: context.channel.allocator)), promise: nil)
    }

    private func pauseReading(context: ChannelHandlerContext) {
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
    }

    /// Works through frames that arrived while a request ran, then reads again.
    private func resumeReading(context: ChannelHandlerContext) {
        while !machine.busy, !pending.isEmpty, machine.state != .closed {
            handle(pending.removeFirst(), context: context)
        }
        if !machine.busy, context.channel.isActive {
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
            context.read()
        }
    }

    private static func protocolError(_ error: Error, id: Int) -> ProtocolError {
        if let error = error as? ProtocolError { return error }
        return ProtocolError(.internal, id: id)
    }
}

@available(*, unavailable)
extension SessionHandler: Sendable {}

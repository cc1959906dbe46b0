import Logging
import NIOCore
import Shared

/// One client's session above TLS: cuts the plaintext into lines, feeds the frames they
/// hold to `SessionStateMachine` and carries out the actions it returns, through the
/// services.
///
/// The handler holds no protocol rules of its own: which frame is allowed when, the request
/// queue, the rate limit and bad-frame counting are the machine's; accounts, presence and
/// delivery are the services'. What is left here is I/O: lines in and out, timers,
/// flushing, reading on and off, and the one log line per event.
///
/// Lines are cut and frames encoded here rather than in handlers of their own: every
/// handler a frame passes costs a boxed `NIOAny` and a dynamic cast (a `ServerFrame` is too
/// big to sit in one unboxed), which made a third of the server's instructions per relayed
/// message (scripts/callgrind-relay.sh). Frames written between two flushes are encoded
/// into one buffer, which goes down as one write (one TLS record batch below). Lines the
/// session's `SessionMailbox` writes through the channel (messages and notices from other
/// sessions) pass through `write` and join that buffer in order.
final class SessionHandler: ChannelDuplexHandler {
    /// Plaintext from the TLS handler, in any pieces.
    typealias InboundIn = ByteBuffer
    /// Whole lines, terminators included (from `SessionMailbox`).
    typealias OutboundIn = ByteBuffer
    /// Whole lines, terminators included.
    typealias OutboundOut = ByteBuffer

    /// Cuts the client's bytes into lines, holding an unfinished one until the rest comes.
    private let lines: NIOSingleStepByteToMessageProcessor<LineFrameDecoder>
    private let maximumFrameLength: Int
    /// Lines written since the last flush.
    private var output = GatheredLines()
    /// The channel's allocator, taken once (the channel's getter costs a lock off its loop
    /// and a few calls on it).
    private var allocator = ByteBufferAllocator()
    private var machine: SessionStateMachine
    private let services: SessionServices
    private let sessionID: UInt64
    /// The connection's logger, never changed here: setting metadata on it would copy its
    /// metadata dictionary and its handler's box for every session (about 600 bytes each,
    /// held as long as the session is), so the user goes into each line instead (`log`).
    private let logger: Logger
    /// The logged-in user, for the metadata of every line logged meanwhile; kept as the name
    /// and made into metadata only for a line that is logged (a dictionary held for every
    /// session cost each idle one a few hundred bytes).
    private var userName: String?
    private var loginTimer: Scheduled<Void>?
    /// Runs while the client is not reading (channel over its write-buffer high mark).
    private var stalledTimer: Scheduled<Void>?
    /// Runs once the client has caught up, to tell it what went to its inbox meanwhile.
    private var caughtUpTimer: Scheduled<Void>?
    /// How long the client must keep up before it is told what waits in its inbox: a
    /// reader that catches up and falls behind again within this gets one notice with the
    /// total, not one per catch-up.
    static let caughtUpDelay: TimeAmount = .milliseconds(200)
    private var peerAddress = "unknown"
    /// What each line this session logs names (set when the handler is added).
    private var label: ConnectionLabel?
    /// The logged-in user's way in for other sessions; nil while logged out.
    private var mailbox: SessionMailbox?
    /// Why a logged-in session's connection failed, for its one "disconnected" log line.
    private var dropReason: String?
    /// Replies are being collected: `send` writes without flushing, and whoever opened the
    /// batch flushes once at its end (a read batch in `channelReadComplete`). One flush is one
    /// TLS record batch and one `write` syscall instead of one per frame.
    private var batching = false
    /// Something was written in the current batch and not flushed yet.
    private var unflushed = false
    /// Flushes `sent` receipts written without a flush of their own (see `receiptDelay`).
    private var receiptFlush: Scheduled<Void>?
    /// How long a `sent` receipt may wait for company: a sender typing or sending steadily
    /// gets its receipts a few at a time, in one TLS record and one system call, instead of
    /// one each. Far below what a person notices; any other frame flushes them sooner.
    static let receiptDelay: TimeAmount = .milliseconds(10)
    /// Answers to overlapping requests (`send`, `chunk`; see `SessionStateMachine`), and to
    /// anything answered while one of them runs, in request order: an answer that is ready
    /// waits here until every answer before it has gone.
    private var answers = SparseRing<Answer>()
    /// The place (counted since the connection opened) of `answers.first`.
    private var firstAnswerPlace = 0

    private enum Answer {
        case awaited
        /// Nil: the request needs no answer (the session ended under it).
        case ready(ServerFrame?)
    }

    /// `maximumFrameLength`: the longest line accepted, in bytes; a longer one is answered
    /// `frame_too_large` and closes the connection.
    init(
        services: SessionServices, sessionID: UInt64, logger: Logger,
        maximumFrameLength: Int = LineFrameDecoder.defaultMaxFrameLength
    ) {
        self.lines = NIOSingleStepByteToMessageProcessor(LineFrameDecoder(maxFrameLength: maximumFrameLength))
        self.maximumFrameLength = maximumFrameLength
        self.services = services
        self.sessionID = sessionID
        self.logger = logger
        self.machine = SessionStateMachine(
            maximumBadFrames: services.limits.maximumBadFrames,
            messageRate: services.limits.messageRate,
            messageBurst: services.limits.messageBurst)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        allocator = context.channel.allocator
        peerAddress = context.channel.remoteAddress?.ipAddress ?? "unknown"
        label = ConnectionLabel(id: sessionID, remote: context.channel.remoteAddress)
        armLoginTimer(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        loginTimer?.cancel()
        loginTimer = nil
        stalledTimer?.cancel()
        stalledTimer = nil
        caughtUpTimer?.cancel()
        caughtUpTimer = nil
        receiptFlush?.cancel()
        receiptFlush = nil
        passLinesOn(context: context)
    }

    // MARK: - Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Every frame of one socket read arrives before `channelReadComplete`: answer them
        // all, then flush once there.
        batching = true
        do {
            try lines.process(buffer: unwrapInboundIn(data)) { line in
                let frame = ClientFrame.decode(line)
                if case .failure(let error) = frame {
                    log(.debug, "bad frame: \(error.code.rawValue)")
                }
                perform(machine.frameReceived(frame), context: context)
            }
        } catch {
            // The line splitter's only error: a line over the limit. Answer, then close
            // without reading further (the splitter discards everything after it).
            let error = error as? ProtocolError ?? .frameTooLarge(limit: maximumFrameLength)
            log(.notice, "closing connection: \(error.code.rawValue)")
            perform(machine.framingFailed(error), context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        endBatch(context: context)
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Below, a closed channel fails their promises.
        passLinesOn(context: context)
        batching = false
        unflushed = false
        endSession()
        _ = machine.shutdown()
        context.fireChannelInactive()
    }

    /// The connection is going (or gone): the partner is told and unacknowledged live
    /// messages go to the inbox now, not when the socket has finished closing, so nothing
    /// sent meanwhile is answered "sent" to a session that will never show it.
    private func endSession() {
        guard let mailbox else { return }
        self.mailbox = nil
        services.delivery.sessionEnded(mailbox, disconnected: true)
        log(.info, "disconnected\(dropReason.map { ": \($0)" } ?? "")")
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if mailbox != nil {
            // A logged-in peer that vanishes (reset, no close_notify) is logged once, as
            // "disconnected: why" when the channel goes, not once here and once there.
            dropReason = ConnectionErrorHandler.describe(error)
            close(context: context, mode: .all, promise: nil)
            return
        }
        context.fireErrorCaught(error)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event as? SessionEvent {
        case .displaced:
            if machine.displaced() {
                log(.info, "displaced by a newer login")
                perform(.sendAndClose([.notice(.displaced)]), context: context)
            }
        case .serverShutdown:
            if machine.shutdown() {
                perform(.sendAndClose([.notice(.shutdown)]), context: context)
            }
        case .closedByOperator(let code):
            if machine.displaced() {
                log(.notice, "closed by the operator: \(code)")
                perform(.sendAndClose([.notice(code)]), context: context)
            }
        case .dropped:
            if machine.shutdown() {
                log(.notice, "closing connection: this node was counted dead by the others")
                perform(.sendAndClose([]), context: context)
            }
        case nil:
            if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
                // Silent too long: a vanished peer (half-open TCP) or a client that stopped pinging.
                log(.notice, "closing connection: idle")
                perform(
                    machine.timedOut(ProtocolError(.timedOut, message: "no frame received for too long, closing the connection")),
                    context: context)
                return
            }
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// A client that stops reading fills its write buffer; past the high mark its messages
    /// go to its inbox (see `SessionMailbox`), and if it has not caught up when the timer
    /// fires it is disconnected, so it cannot hold memory or its partner's chat for ever.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            stalledTimer?.cancel()
            stalledTimer = nil
            mailbox?.resume()
            caughtUpTimer?.cancel()
            caughtUpTimer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.caughtUpDelay) { [weak self] in
                guard let self, let mailbox = self.mailbox, context.channel.isWritable else { return }
                for (sender, count) in mailbox.takeRefusedWhileStalled().sorted(by: { $0.key < $1.key }) {
                    self.send(.notice(code: .newMessage, message: ChatText.newMessages(count, from: sender)), context: context)
                }
            }
        } else if stalledTimer == nil {
            caughtUpTimer?.cancel()
            caughtUpTimer = nil
            stalledTimer = context.eventLoop.assumeIsolated().scheduleTask(in: services.limits.stalledReaderTimeout) {
                [weak self] in
                guard let self, !context.channel.isWritable, context.channel.isActive else { return }
                // Logged once: as "disconnected: ..." for a session, here otherwise.
                if self.mailbox != nil {
                    self.dropReason = "stopped reading"
                } else {
                    self.log(.notice, "closing connection: client stopped reading")
                }
                context.channel.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    /// A connection that never logs in holds a socket and memory for nothing: close it.
    private func armLoginTimer(context: ChannelHandlerContext) {
        loginTimer?.cancel()
        let timeout = services.limits.loginTimeout
        loginTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            guard let self, self.mailbox == nil else { return }
            let seconds = timeout.nanoseconds / 1_000_000_000
            let action = self.machine.timedOut(
                ProtocolError(.timedOut, message: "no login within \(seconds) s, closing the connection"))
            if action != .none { self.log(.notice, "closing connection: no login in time") }
            self.perform(action, context: context)
        }
    }

    // MARK: - Carrying out actions

    private func perform(_ action: consuming SessionStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .send(let frame):
            answer(frame, context: context)
        case .sendAndClose(let frames):
            for frame in frames {
                append(frame, context: context)
            }
            flush(context: context)
            endSession()
            // Through the channel so the TLS handler sends close_notify after the frames;
            // from then on it passes nothing up and waits only briefly for the peer's.
            context.channel.close(promise: nil)
        case .pauseReading:
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        case .register(let id, let username, let password):
            services.accounts.register(id: id, username: username, password: password, on: context.eventLoop)
                .assumeIsolated().whenComplete { result in
                    self.machine.registrationFinished()
                    switch result {
                    case .success(let name):
                        self.logger.info("registered", metadata: self.label?.metadata(user: name))
                        self.finish(.ok(id: id, username: name), context: context)
                    case .failure(let error):
                        self.finish(.error(Self.protocolError(error, id: id)), context: context)
                    }
                }
        case .login(let id, let username, let password):
            let keys = services.keys
            let loop = context.eventLoop
            services.accounts.login(id: id, username: username, password: password, address: peerAddress, on: loop)
                .flatMap { grant in
                    // Read before the `ok`, which reports them.
                    keys.ownKeys(username: grant.username, requestID: id, on: loop).map { (grant: grant, keys: $0) }
                }
                .assumeIsolated().whenComplete { result in
                    self.loginFinished(result, id: id, context: context)
                }
        case .logout(let id, _):
            if let mailbox {
                self.mailbox = nil
                services.delivery.sessionEnded(mailbox, disconnected: false)
            }
            log(.info, "logged out")
            userName = nil
            send(.ok(id: id), context: context)
            armLoginTimer(context: context)
        case .openChat(let id, let partner):
            guard let mailbox else { return requestFinished(nil, context: context) }
            services.delivery.openChat(partner: partner, requestID: id, mailbox: mailbox, on: context.eventLoop)
                .assumeIsolated().whenSuccess { self.requestFinished($0, context: context) }
        case .leave(let id):
            guard let mailbox else { return requestFinished(.ok(id: id), context: context) }
            services.delivery.leave(mailbox, requestID: id, on: context.eventLoop)
                .assumeIsolated().whenSuccess { self.requestFinished($0, context: context) }
        case .sendMessage(let id, let body):
            guard let mailbox else { return overlappingRequestFinished(nil, context: context) }
            switch services.delivery.send(from: mailbox, body: body, requestID: id, on: context.eventLoop) {
            case .now(let frame):
                overlappingRequestFinished(frame, context: context)
            case .later(let answer):
                let place = awaitAnswer()
                answer.assumeIsolated().whenSuccess { self.overlappingRequestFinished($0, at: place, context: context) }
            }
        case .acknowledge(let seq):
            if let mailbox { services.delivery.acknowledge(upTo: seq, mailbox: mailbox) }
        case .changePassword(let id, let username, let password, let newPassword):
            services.accounts.changePassword(
                id: id, username: username, password: password, newPassword: newPassword, address: peerAddress,
                on: context.eventLoop
            ).assumeIsolated().whenComplete { result in
                switch result {
                case .success:
                    self.machine.passwordChanged()
                    self.requestFinished(.ok(id: id), context: context)
                case .failure(let error):
                    self.requestFinished(.error(Self.protocolError(error, id: id)), context: context)
                }
            }
        case .deleteAccount(let id, let username, let password):
            services.accounts.deleteAccount(
                id: id, username: username, password: password, address: peerAddress, on: context.eventLoop
            ).assumeIsolated().whenComplete { result in
                switch result {
                case .success:
                    self.accountDeleted(id: id, context: context)
                case .failure(let error):
                    self.requestFinished(.error(Self.protocolError(error, id: id)), context: context)
                }
            }
        case .publishKeys(let id, let username, let keys):
            services.keys.publish(keys, username: username, requestID: id, on: context.eventLoop)
                .assumeIsolated().whenSuccess { self.requestFinished($0, context: context) }
        case .fetchKeys(let id, let username):
            services.keys.fetch(username, requestID: id, on: context.eventLoop)
                .assumeIsolated().whenSuccess { self.requestFinished($0, context: context) }
        case .uploadFile(let id, let username, let file, let to, let size, let chunks):
            services.files.upload(
                from: username, file: file, to: to, size: size, chunks: chunks, requestID: id, on: context.eventLoop
            ).assumeIsolated().whenSuccess { self.requestFinished($0, context: context) }
        case .storeChunk(let id, let username, let file, let index, let data):
            let place = awaitAnswer()
            services.files.chunk(from: username, file: file, index: index, data: data, requestID: id, on: context.eventLoop)
                .assumeIsolated().whenSuccess { self.overlappingRequestFinished($0, at: place, context: context) }
        case .downloadFile(let id, let username, let file, let from, let count):
            // Through the channel, from the download's task; each chunk is flushed at once
            // and the next read only when it has gone, so a file streams without piling up.
            let channel = context.channel
            services.files.download(
                by: username, file: file, from: from, count: count, requestID: id, on: context.eventLoop,
                write: { frame in
                    // As the mailbox writes: an encoded line, which this handler passes on.
                    var line = channel.allocator.buffer(capacity: 0)
                    frame.encodeLine(into: &line)
                    return channel.writeAndFlush(line)
                }
            ).assumeIsolated().whenSuccess { self.requestFinished($0, context: context) }
        case .finishFile(let id, let username, let file, let received):
            services.files.done(by: username, file: file, received: received, requestID: id, on: context.eventLoop)
                .assumeIsolated().whenSuccess { self.requestFinished($0, context: context) }
        case .forgetFile(let id, let username, let file):
            services.files.forget(by: username, file: file, requestID: id, on: context.eventLoop)
                .assumeIsolated().whenSuccess { self.requestFinished($0, context: context) }
        case .who(let id):
            guard let mailbox else { return requestFinished(.who(id: id, users: []), context: context) }
            services.delivery.who(except: mailbox.username, requestID: id, on: context.eventLoop)
                .assumeIsolated().whenSuccess { self.requestFinished($0, context: context) }
        case .inbox(let id):
            guard let mailbox else { return requestFinished(nil, context: context) }
            services.delivery.summary(for: mailbox.username, requestID: id, on: context.eventLoop)
                .assumeIsolated().whenSuccess { self.requestFinished($0, context: context) }
        }
    }

    /// The user deleted their account: the session ends as at logout (the partner is told
    /// the user left) and stays connected, logged out.
    private func accountDeleted(id: Int, context: ChannelHandlerContext) {
        machine.accountDeleted()
        if let mailbox {
            self.mailbox = nil
            services.delivery.sessionEnded(mailbox, disconnected: false)
        }
        log(.notice, "account deleted")
        userName = nil
        finish(.ok(id: id), context: context)
        armLoginTimer(context: context)
    }

    private func loginFinished(
        _ result: Result<(grant: LoginGrant, keys: OwnKeys), any Error>, id: Int, context: ChannelHandlerContext
    ) {
        guard case .success(let (grant, keys)) = result, context.channel.isActive else {
            machine.loginFinished(username: nil)
            if case .failure(let error) = result {
                let protocolError = Self.protocolError(error, id: id)
                log(.info, "login refused: \(protocolError.code.rawValue)")
                return finish(.error(protocolError), context: context)
            }
            return finish(nil, context: context)
        }
        let name = grant.username
        machine.loginFinished(username: name, mustChangePassword: grant.mustChangePassword)
        userName = name
        log(.info, grant.mustChangePassword ? "logged in with a one-time password" : "logged in")
        loginTimer?.cancel()
        loginTimer = nil
        let mailbox = services.delivery.mailbox(username: name, sessionID: sessionID, channel: context.channel)
        self.mailbox = mailbox
        let loop = context.eventLoop
        let files = services.files
        // The inbox summary, then the outcomes of files the user sent that they have not
        // seen yet.
        let greeting = services.delivery.sessionStarted(mailbox, on: loop).flatMap { frames in
            files.pendingOutcomes(for: name, on: loop).map { frames + $0 }
        }
        finish(
            .ok(
                id: id, username: name, identityKey: keys.identityKey, preKeys: keys.preKeyCount,
                mustChangePassword: grant.mustChangePassword),
            context: context)
        // Then the inbox summary (and any invitations), unasked, so the client can greet
        // with it.
        greeting.assumeIsolated().whenComplete { result in
            guard self.mailbox === mailbox else { return }
            switch result {
            case .success(let frames):
                self.batch(context: context) {
                    for frame in frames { self.send(frame, context: context) }
                }
            case .failure:
                // Not online for the other nodes: a session nobody could reach or pair with.
                self.log(.notice, "closing connection: login could not be recorded")
                self.perform(
                    self.machine.failed(ProtocolError(.internal, message: "your login could not be recorded; try again")),
                    context: context)
            }
        }
    }

    /// Answers a register or login (whose state change the machine has taken), then
    /// handles what waited behind it.
    private func finish(_ frame: ServerFrame?, context: ChannelHandlerContext) {
        batch(context: context) {
            if let frame { send(frame, context: context) }
            drainQueue(context: context)
        }
    }

    /// Answers a chat request that held the queue, then handles what waited behind it.
    private func requestFinished(_ frame: ServerFrame?, context: ChannelHandlerContext) {
        machine.requestFinished()
        finish(frame, context: context)
    }

    /// Answers an overlapping request answered at once: sent now unless earlier answers are
    /// awaited.
    private func overlappingRequestFinished(_ frame: ServerFrame?, context: ChannelHandlerContext) {
        machine.overlappingRequestFinished()
        batch(context: context) {
            if let frame { answer(frame, context: context) }
            drainQueue(context: context)
        }
    }

    /// Answers the overlapping request whose answer was awaited at `place`, then every
    /// answer after it that is ready, then handles what waited.
    private func overlappingRequestFinished(_ frame: ServerFrame?, at place: Int, context: ChannelHandlerContext) {
        machine.overlappingRequestFinished()
        answers[place - firstAnswerPlace] = .ready(frame)
        batch(context: context) {
            while case .ready(let ready) = answers.first {
                _ = answers.removeFirst()
                firstAnswerPlace += 1
                if let ready { send(ready, context: context) }
            }
            drainQueue(context: context)
        }
    }

    /// Keeps a place for the answer of an overlapping request that is starting.
    private func awaitAnswer() -> Int {
        answers.append(.awaited)
        return firstAnswerPlace + answers.count - 1
    }

    /// Sends the answer to a request now, or after the answers still awaited before it.
    private func answer(_ frame: ServerFrame, context: ChannelHandlerContext) {
        if answers.isEmpty {
            send(frame, context: context)
        } else {
            answers.append(.ready(frame))
        }
    }

    /// Works through frames that arrived while a request ran, then reads again if reading
    /// was paused.
    private func drainQueue(context: ChannelHandlerContext) {
        while let action = machine.nextQueuedAction() {
            perform(action, context: context)
        }
        if machine.readingMayResume(), context.channel.isActive {
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        }
    }

    // MARK: - Writing

    /// Writes `frame`; flushes at once unless a batch is open (then its end flushes), or
    /// within `receiptDelay` for a `sent` receipt.
    private func send(_ frame: ServerFrame, context: ChannelHandlerContext) {
        append(frame, context: context)
        if case .receipt(_, _, .sent) = frame {
            if receiptFlush == nil {
                receiptFlush = context.eventLoop.assumeIsolated().scheduleTask(in: Self.receiptDelay) { [weak self] in
                    self?.receiptFlush = nil
                    self?.flush(context: context)
                }
            }
        } else if batching {
            unflushed = true
        } else {
            flush(context: context)
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
            flush(context: context)
        }
    }

    /// Encodes `frame` as a line into the lines for the next flush.
    private func append(_ frame: ServerFrame, context: ChannelHandlerContext) {
        // Room for a few frames: the buffer lives only until the flush.
        output.appendLines(allocator: allocator, capacity: 1024) {
            frame.encodeLine(into: &$0)
        }
    }

    /// Lines from the mailbox (see the type's documentation), after what was written before.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        output.append(lines: unwrapOutboundIn(data), promise: promise)
    }

    /// Flushes everything written, receipts waiting for company included: from here and from
    /// the mailbox, which flushes through the channel.
    func flush(context: ChannelHandlerContext) {
        receiptFlush?.cancel()
        receiptFlush = nil
        passLinesOn(context: context)
        context.flush()
    }

    /// Passes the gathered lines on first, so a close treats them exactly as it treats any
    /// write the TLS handler holds (they go out before close_notify).
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        passLinesOn(context: context)
        context.close(mode: mode, promise: promise)
    }

    private func passLinesOn(context: ChannelHandlerContext) {
        guard let (lines, promise) = output.take() else { return }
        context.write(wrapOutboundOut(lines), promise: promise)
    }

    /// Logs `message` with the logged-in user's name, if any, in its metadata.
    private func log(_ level: Logger.Level, _ message: @autoclosure () -> Logger.Message) {
        logger.log(level: level, message(), metadata: label?.metadata(user: userName))
    }

    private static func protocolError(_ error: Error, id: Int) -> ProtocolError {
        if let error = error as? ProtocolError { return error }
        return ProtocolError(.internal, id: id)
    }
}

@available(*, unavailable)
extension SessionHandler: Sendable {}

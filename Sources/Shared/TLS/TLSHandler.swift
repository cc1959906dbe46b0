import NIOCore

/// Sent up the pipeline once the handshake has finished.
public struct TLSHandshakeCompleted: Sendable, Equatable {
    /// "TLSv1.3" or "TLSv1.2".
    public let protocolVersion: String
    /// OpenSSL's name of the negotiated suite, e.g. "TLS_AES_256_GCM_SHA384".
    public let cipherSuite: String

    /// The event as the TLS handler fires it; public so that handlers above TLS can be
    /// tested on an `EmbeddedChannel` without a handshake.
    public init(protocolVersion: String, cipherSuite: String) {
        self.protocolVersion = protocolVersion
        self.cipherSuite = cipherSuite
    }
}

/// TLS over system OpenSSL as a NIO channel handler: ciphertext below, plaintext above.
///
/// Works the same in server and client mode. Writes made before the handshake completes
/// are held and sent once it has and a flush has been asked for. Backpressure is NIO's
/// own: every plaintext write becomes a ciphertext write on the same channel, so channel
/// writability tells producers above when the peer has stopped reading; nothing is
/// buffered here beyond what they wrote.
///
/// Closing sends close_notify and waits (briefly) for the peer's; a peer's close_notify is
/// answered with ours. A socket that closes without close_notify is reported as
/// `TLSError.uncleanShutdown`. Handshakes that do not finish in time are closed.
public final class TLSHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let connection: TLSConnection
    /// Server side: the handshake waits for the client's first bytes (see `startHandshake`).
    private let waitsForClientHello: Bool
    private var machine = TLSStateMachine()
    private var pendingWrites: [(buffer: ByteBuffer, promise: EventLoopPromise<Void>?)] = []
    private var flushRequested = false
    private var closePromise: EventLoopPromise<Void>?
    private var handshakeTimer: Scheduled<Void>?
    private var shutdownTimer: Scheduled<Void>?
    private let handshakeTimeout: TimeAmount
    private let shutdownTimeout: TimeAmount
    /// Ciphertext read since we sent close_notify. A peer that keeps sending instead of
    /// answering would otherwise make us decrypt (and discard) everything it sends until
    /// the shutdown timer fires: past `closingReadBudget` the socket is closed at once.
    private var closingBytesRead = 0
    /// Enough for a well-behaved peer's last records and its close_notify.
    static let closingReadBudget = 64 * 1024
    private var firedPlaintext = false

    /// - Parameters:
    ///   - context: the process-wide TLS context (its role decides server or client mode).
    ///   - serverHostname: for clients, the host name or IP address dialled; it is sent as
    ///     SNI (names only) and checked against the certificate.
    ///   - handshakeTimeout: how long a handshake may take before the socket is closed.
    ///   - shutdownTimeout: how long to wait for the peer's close_notify after sending ours.
    public init(
        context: TLSContext,
        serverHostname: String? = nil,
        handshakeTimeout: TimeAmount = .seconds(10),
        shutdownTimeout: TimeAmount = .seconds(3)
    ) throws {
        self.connection = try context.makeConnection(serverName: serverHostname)
        self.waitsForClientHello = context.role == .server
        self.handshakeTimeout = handshakeTimeout
        self.shutdownTimeout = shutdownTimeout
    }

    // MARK: - Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            startHandshake(context: context)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        failPendingWrites(ChannelError.ioOnClosedChannel)
        // Removed with the pipeline once the channel has closed: the close asked for is done.
        if let promise = closePromise {
            closePromise = nil
            promise.succeed(())
        }
    }

    public func channelActive(context: ChannelHandlerContext) {
        startHandshake(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        cancelTimers()
        failPendingWrites(ChannelError.ioOnClosedChannel)
        switch machine.channelInactive() {
        case .reportUncleanShutdown:
            context.fireErrorCaught(TLSError.uncleanShutdown)
        case .reportHandshakeAborted:
            context.fireErrorCaught(TLSError.handshakeFailed("connection closed during handshake"))
        case .none:
            break
        }
        if let promise = closePromise {
            closePromise = nil
            promise.succeed(())
        }
        context.fireChannelInactive()
    }

    // MARK: - Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let action = machine.bytesReceived()
        guard action != .discard else { return }
        connection.consumeDataFromNetwork(unwrapInboundIn(data))
        // The bytes that finish a handshake may carry the first application data too, unless
        // whoever heard of the handshake closed the connection meanwhile.
        if action == .continueHandshake, !advanceHandshake(context: context) || machine.state != .active {
            return
        }
        if action == .awaitCloseNotify {
            closingBytesRead += unwrapInboundIn(data).readableBytes
            readUntilCloseNotify(context: context)
            return
        }
        readPlaintext(context: context)
        if flushRequested, machine.canFlush {
            flushPendingWrites(context: context)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if firedPlaintext {
            firedPlaintext = false
            context.fireChannelReadComplete()
        }
    }

    // MARK: - Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard machine.canAcceptWrites else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        pendingWrites.append((unwrapOutboundIn(data), promise))
    }

    public func flush(context: ChannelHandlerContext) {
        flushRequested = true
        if machine.canFlush {
            flushPendingWrites(context: context)
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all else {
            context.close(mode: mode, promise: promise)
            return
        }
        switch machine.closeRequested() {
        case .closeChannel:
            cancelTimers()
            failPendingWrites(ChannelError.ioOnClosedChannel)
            context.close(mode: mode, promise: promise)
        case .passThrough:
            context.close(mode: mode, promise: promise)
        case .joinPendingClose:
            if let promise {
                if let closePromise {
                    closePromise.futureResult.cascade(to: promise)
                } else {
                    promise.succeed(())
                }
            }
        case .sendCloseNotify:
            // Held before the flush: a write error in it closes the channel at once (NIO fires
            // channelInactive from inside the flush), and channelInactive completes it.
            closePromise = promise
            // What the application wrote before closing still goes out, ahead of close_notify.
            flushPendingWrites(context: context)
            guard machine.state == .closing else { return }
            switch connection.doShutdown() {
            case .complete:
                writeCiphertextThenClose(context: context)
            case .incomplete:
                writeCiphertext(context: context, flush: true)
                // The peer may never answer; TLS allows closing without its close_notify.
                armShutdownTimer(context: context)
            case .failed:
                closeSocket(context: context)
            }
        }
    }

    // MARK: - Handshake

    private func startHandshake(context: ChannelHandlerContext) {
        guard machine.channelActive() else { return }
        let loop = context.eventLoop.assumeIsolated()
        handshakeTimer = loop.scheduleTask(in: handshakeTimeout) { [weak self] in
            guard let self, self.machine.state == .handshaking else { return }
            self.fail(context: context, error: .handshakeTimeout)
        }
        // A server has nothing to send before the ClientHello, and OpenSSL allocates its
        // record buffers on the first handshake call: waiting for the client's bytes keeps
        // a connection that never says anything (a port scan, a slowloris) cheap. The
        // timer above still bounds it.
        if !waitsForClientHello {
            advanceHandshake(context: context)
        }
    }

    /// One handshake step; true once the handshake has completed.
    @discardableResult
    private func advanceHandshake(context: ChannelHandlerContext) -> Bool {
        switch connection.doHandshake() {
        case .incomplete:
            writeCiphertext(context: context, flush: true)
            return false
        case .complete:
            handshakeTimer?.cancel()
            handshakeTimer = nil
            machine.handshakeCompleted()
            writeCiphertext(context: context, flush: true)
            context.fireUserInboundEventTriggered(
                TLSHandshakeCompleted(
                    protocolVersion: connection.protocolVersion,
                    cipherSuite: connection.cipherSuite))
            if flushRequested {
                flushPendingWrites(context: context)
            }
            return true
        case .failed(let error):
            // Send the alert OpenSSL queued so the peer learns why.
            writeCiphertext(context: context, flush: true)
            fail(context: context, error: error)
            return false
        }
    }

    // MARK: - Reading

    private func readPlaintext(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 0)
        readLoop: while true {
            switch connection.readPlaintext(into: &buffer) {
            case .data:
                continue
            case .wouldBlock:
                break readLoop
            case .closeNotify:
                deliver(&buffer, context: context)
                peerSentCloseNotify(context: context)
                return
            case .failed(let error):
                deliver(&buffer, context: context)
                writeCiphertext(context: context, flush: true)
                fail(context: context, error: error)
                return
            }
        }
        deliver(&buffer, context: context)
        // TLS 1.3 writes during reads too (session tickets, key updates).
        writeCiphertext(context: context, flush: true)
    }

    /// After our close_notify: decrypts only to find the peer's, passing nothing up; a peer
    /// that sends more than `closingReadBudget` instead is cut off.
    private func readUntilCloseNotify(context: ChannelHandlerContext) {
        var discarded = context.channel.allocator.buffer(capacity: 0)
        while true {
            switch connection.readPlaintext(into: &discarded) {
            case .data:
                discarded.clear()
                continue
            case .wouldBlock:
                if closingBytesRead > Self.closingReadBudget {
                    closeSocket(context: context)
                }
                return
            case .closeNotify:
                peerSentCloseNotify(context: context)
                return
            case .failed:
                closeSocket(context: context)
                return
            }
        }
    }

    private func deliver(_ buffer: inout ByteBuffer, context: ChannelHandlerContext) {
        guard buffer.readableBytes > 0 else { return }
        firedPlaintext = true
        context.fireChannelRead(wrapInboundOut(buffer))
        buffer = context.channel.allocator.buffer(capacity: 0)
    }

    private func peerSentCloseNotify(context: ChannelHandlerContext) {
        switch machine.closeNotifyReceived() {
        case .closeChannel:
            shutdownTimer?.cancel()
            shutdownTimer = nil
            closeSocket(context: context)
        case .replyThenClose:
            failPendingWrites(ChannelError.outputClosed)
            _ = connection.doShutdown()
            writeCiphertextThenClose(context: context)
        }
    }

    // MARK: - Writing

    /// Most plaintext bytes gathered into one TLS record (the TLS maximum record size).
    static let maximumRecordPlaintext = 16_384

    /// Encrypts the pending writes and sends the ciphertext in one write.
    ///
    /// Consecutive small writes (frames, mostly) are gathered into one record of up to 16 KiB:
    /// one seal, one MAC and 22 bytes of overhead for the lot instead of for each. The peer
    /// sees the same byte stream, so nothing above TLS can tell.
    private func flushPendingWrites(context: ChannelHandlerContext) {
        flushRequested = false
        guard !pendingWrites.isEmpty else { return }
        var written: [EventLoopPromise<Void>] = []
        var index = 0
        while index < pendingWrites.count {
            var end = index + 1
            var size = pendingWrites[index].buffer.readableBytes
            while end < pendingWrites.count,
                size + pendingWrites[end].buffer.readableBytes <= Self.maximumRecordPlaintext
            {
                size += pendingWrites[end].buffer.readableBytes
                end += 1
            }
            let plaintext: ByteBuffer
            if end - index == 1 {
                plaintext = pendingWrites[index].buffer
            } else {
                var gathered = context.channel.allocator.buffer(capacity: size)
                for gather in index..<end {
                    gathered.writeImmutableBuffer(pendingWrites[gather].buffer)
                }
                plaintext = gathered
            }
            switch connection.writePlaintext(plaintext) {
            case .complete:
                for done in index..<end {
                    if let promise = pendingWrites[done].promise { written.append(promise) }
                }
                index = end
            case .incomplete:
                // Only possible if OpenSSL must read first; retry after the next read, with
                // exactly the same bytes, so a gathered record stays one pending write.
                if end - index > 1 {
                    pendingWrites.replaceSubrange(
                        index..<end,
                        with: [(plaintext, Self.combine(pendingWrites[index..<end].compactMap(\.promise), context: context))])
                }
                flushRequested = true
                pendingWrites.removeFirst(index)
                writeCiphertext(context: context, flush: true, promises: written)
                return
            case .failed(let error):
                pendingWrites.removeFirst(index)
                failPendingWrites(error)
                written.forEach { $0.fail(error) }
                fail(context: context, error: error)
                return
            }
        }
        pendingWrites.removeAll(keepingCapacity: true)
        writeCiphertext(context: context, flush: true, promises: written)
    }

    /// One promise completing all of `promises`, or nil when there are none.
    private static func combine(_ promises: [EventLoopPromise<Void>], context: ChannelHandlerContext) -> EventLoopPromise<Void>? {
        guard !promises.isEmpty else { return nil }
        let combined = context.eventLoop.makePromise(of: Void.self)
        for promise in promises { combined.futureResult.cascade(to: promise) }
        return combined
    }

    /// Sends whatever ciphertext OpenSSL has produced; `promises` complete with that write.
    private func writeCiphertext(
        context: ChannelHandlerContext,
        flush: Bool,
        promises: [EventLoopPromise<Void>] = []
    ) {
        guard let ciphertext = connection.drainDataForNetwork() else {
            promises.forEach { $0.succeed(()) }
            return
        }
        var promise: EventLoopPromise<Void>? = nil
        if let first = promises.first {
            promise = first
            for other in promises.dropFirst() {
                first.futureResult.cascade(to: other)
            }
        }
        context.write(wrapOutboundOut(ciphertext), promise: promise)
        if flush { context.flush() }
    }

    /// Sends what OpenSSL has (our close_notify), then closes the socket: once it is written,
    /// or after `shutdownTimeout` if the peer does not read it.
    private func writeCiphertextThenClose(context: ChannelHandlerContext) {
        let written = context.eventLoop.makePromise(of: Void.self)
        armShutdownTimer(context: context)
        writeCiphertext(context: context, flush: true, promises: [written])
        written.futureResult.assumeIsolated().whenComplete { [weak self] _ in
            if let self {
                self.closeSocket(context: context)
            } else {
                context.close(promise: nil)
            }
        }
    }

    // MARK: - Ending

    /// Closes the socket after `shutdownTimeout` unless it is closed before.
    private func armShutdownTimer(context: ChannelHandlerContext) {
        shutdownTimer?.cancel()
        shutdownTimer = context.eventLoop.assumeIsolated().scheduleTask(in: shutdownTimeout) { [weak self] in
            self?.closeSocket(context: context)
        }
    }

    /// Closes the socket directly (skipping this handler's own `close`, which would try
    /// to send close_notify again) and hands over the application's close promise.
    private func closeSocket(context: ChannelHandlerContext) {
        cancelTimers()
        let promise = closePromise
        closePromise = nil
        context.close(mode: .all, promise: promise)
    }

    private func fail(context: ChannelHandlerContext, error: TLSError) {
        machine.failed()
        cancelTimers()
        failPendingWrites(error)
        context.fireErrorCaught(error)
        closeSocket(context: context)
    }

    private func failPendingWrites(_ error: Error) {
        guard !pendingWrites.isEmpty else { return }
        let writes = pendingWrites
        pendingWrites.removeAll()
        writes.forEach { $0.promise?.fail(error) }
    }

    private func cancelTimers() {
        handshakeTimer?.cancel()
        handshakeTimer = nil
        shutdownTimer?.cancel()
        shutdownTimer = nil
    }
}

@available(*, unavailable)
extension TLSHandler: Sendable {}

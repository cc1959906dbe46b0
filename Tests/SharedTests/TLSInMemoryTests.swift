import NIOCore
import NIOEmbedded
import Testing
import TestSupport

@testable import Shared

/// Records what reaches the top of a TLS pipeline.
private final class Recorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    var received = ""
    var handshakes: [TLSHandshakeCompleted] = []
    var errors: [Error] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += String(buffer: unwrapInboundIn(data))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let done = event as? TLSHandshakeCompleted { handshakes.append(done) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        errors.append(error)
    }
}

/// A server-mode and a client-mode handler joined in memory, as two sockets would be.
private struct Pair {
    let server = EmbeddedChannel()
    let client = EmbeddedChannel()
    let serverRecorder = Recorder()
    let clientRecorder = Recorder()

    init(clientHost: String = "localhost") throws {
        let certificates = try CertificateFixture.shared()
        let serverContext = try TLSContext.server(
            certificateChainFile: certificates.certificateFile, privateKeyFile: certificates.privateKeyFile)
        let clientContext = try TLSContext.client(caFile: certificates.caFile)
        try server.pipeline.syncOperations.addHandler(TLSHandler(context: serverContext))
        try server.pipeline.syncOperations.addHandler(serverRecorder)
        try client.pipeline.syncOperations.addHandler(TLSHandler(context: clientContext, serverHostname: clientHost))
        try client.pipeline.syncOperations.addHandler(clientRecorder)
    }

    func connect() throws {
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        try server.connect(to: address).wait()
        try client.connect(to: address).wait()
        try pump()
    }

    /// Closes whatever is still open the orderly way, then finishes both channels.
    func finish() throws {
        if client.isActive {
            client.close(promise: nil)
            try pump()
        }
        if server.isActive {
            server.close(promise: nil)
            try pump()
        }
        _ = try? server.finish()
        _ = try? client.finish()
    }

    /// Moves bytes both ways until neither side has anything left to send.
    func pump() throws {
        var moved = true
        while moved {
            moved = false
            while let bytes = try client.readOutbound(as: ByteBuffer.self) {
                moved = true
                if server.isActive { try server.writeInbound(bytes) }
            }
            while let bytes = try server.readOutbound(as: ByteBuffer.self) {
                moved = true
                if client.isActive { try client.writeInbound(bytes) }
            }
        }
    }
}

@Suite("TLS handler in memory")
struct TLSInMemoryTests {
    @Test("handshake, data both ways, close_notify both ways")
    func handshakeDataAndClose() throws {
        let pair = try Pair()
        try pair.connect()
        #expect(pair.clientRecorder.handshakes.first?.protocolVersion == "TLSv1.3")
        #expect(pair.serverRecorder.handshakes.count == 1)

        try pair.client.writeAndFlush(ByteBuffer(string: "hello server\n")).wait()
        try pair.pump()
        #expect(pair.serverRecorder.received == "hello server\n")

        try pair.server.writeAndFlush(ByteBuffer(string: "hello client\n")).wait()
        try pair.pump()
        #expect(pair.clientRecorder.received == "hello client\n")

        // The client closes: its close_notify reaches the server, which answers with its
        // own and closes; the answer lets the client finish closing.
        let closed = pair.client.close()
        #expect(pair.client.isActive, "client must wait for the peer's close_notify")
        try pair.pump()
        #expect(!pair.server.isActive, "server must close after answering close_notify")
        try closed.wait()
        #expect(!pair.client.isActive)
        #expect(pair.serverRecorder.errors.isEmpty, "an orderly close is not an error: \(pair.serverRecorder.errors)")
        #expect(pair.clientRecorder.errors.isEmpty, "\(pair.clientRecorder.errors)")
        try pair.finish()
    }

    @Test("small writes flushed together leave as one TLS record, intact and in order")
    func smallWritesShareOneRecord() throws {
        let pair = try Pair()
        try pair.connect()
        for word in ["one ", "two ", "three"] {
            pair.client.write(ByteBuffer(string: word), promise: nil)
        }
        let flushed = pair.client.writeAndFlush(ByteBuffer(string: "!"))
        var ciphertext = ByteBuffer()
        while var bytes = try pair.client.readOutbound(as: ByteBuffer.self) {
            ciphertext.writeBuffer(&bytes)
        }
        try flushed.wait()
        // Record headers: type (23 = application data), version, length.
        var records = 0
        var reader = ciphertext
        while let type = reader.readInteger(as: UInt8.self), reader.readInteger(as: UInt16.self) != nil,
            let length = reader.readInteger(as: UInt16.self)
        {
            #expect(type == 23)
            reader.moveReaderIndex(forwardBy: Int(length))
            records += 1
        }
        #expect(records == 1)
        try pair.server.writeInbound(ciphertext)
        #expect(pair.serverRecorder.received == "one two three!")
        try pair.finish()
    }

    @Test("no session resumption: the server issues no tickets")
    func noSessionTickets() throws {
        let certificates = try CertificateFixture.shared()
        let server = try TLSContext.server(
            certificateChainFile: certificates.certificateFile, privateKeyFile: certificates.privateKeyFile
        ).makeConnection(serverName: nil)
        let client = try TLSContext.client(caFile: certificates.caFile).makeConnection(serverName: "localhost")
        let allocator = ByteBufferAllocator()
        func move(from: TLSConnection, to: TLSConnection) {
            if let bytes = from.drainDataForNetwork() { to.consumeDataFromNetwork(bytes) }
        }
        var clientDone = false
        var serverDone = false
        for _ in 0..<10 where !(clientDone && serverDone) {
            if case .complete = client.doHandshake() { clientDone = true }
            move(from: client, to: server)
            if case .complete = server.doHandshake() { serverDone = true }
            move(from: server, to: client)
        }
        #expect(clientDone && serverDone)
        // A TLS 1.3 server sends its tickets after the handshake: let the client read them.
        var plaintext = allocator.buffer(capacity: 0)
        if case .failed(let error) = client.readPlaintext(into: &plaintext) { Issue.record("\(error)") }
        #expect(!client.hasResumableSession)
        #expect(!server.hasResumableSession)
    }

    @Test("writes before the handshake completes are held, then delivered in order")
    func writesBeforeHandshake() throws {
        let pair = try Pair()
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        try pair.server.connect(to: address).wait()
        try pair.client.connect(to: address).wait()
        pair.client.write(ByteBuffer(string: "one "), promise: nil)
        let second = pair.client.writeAndFlush(ByteBuffer(string: "two"))
        try pair.pump()
        try second.wait()
        #expect(pair.serverRecorder.received == "one two")
        try pair.finish()
    }

    @Test("EOF without close_notify is reported as an unclean shutdown")
    func uncleanShutdown() throws {
        let pair = try Pair()
        try pair.connect()
        // The client's socket vanishes: the server sees channelInactive with no close_notify.
        pair.server.pipeline.fireChannelInactive()
        #expect(pair.serverRecorder.errors.contains { ($0 as? TLSError) == .uncleanShutdown })
        try pair.finish()
    }

    @Test("a client refuses a certificate for another name, saying whose it is")
    func hostnameMismatch() throws {
        let pair = try Pair(clientHost: "chat.example.org")
        try pair.connect()
        let error = pair.clientRecorder.errors.compactMap { $0 as? TLSError }.first
        guard case .hostnameMismatch(let dialled, let names) = error else {
            Issue.record("expected hostnameMismatch, got \(String(describing: error))")
            return
        }
        #expect(dialled == "chat.example.org")
        #expect(names.contains("localhost") && names.contains("127.0.0.1"))
        #expect(!pair.client.isActive)
        #expect(pair.clientRecorder.handshakes.isEmpty)
        try pair.finish()
    }

    @Test("handshake timeout closes a connection that never finishes")
    func handshakeTimeout() throws {
        let certificates = try CertificateFixture.shared()
        let context = try TLSContext.server(
            certificateChainFile: certificates.certificateFile, privateKeyFile: certificates.privateKeyFile)
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        let recorder = Recorder()
        try channel.pipeline.syncOperations.addHandler(TLSHandler(context: context, handshakeTimeout: .seconds(10)))
        try channel.pipeline.syncOperations.addHandler(recorder)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        loop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
        #expect(recorder.errors.contains { ($0 as? TLSError) == .handshakeTimeout })
        _ = try? channel.finish()
    }

    @Test("garbage instead of a ClientHello fails the handshake and closes")
    func garbage() throws {
        let pair = try Pair()
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        try pair.server.connect(to: address).wait()
        try pair.server.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(!pair.server.isActive)
        let error = pair.serverRecorder.errors.compactMap { $0 as? TLSError }.first
        guard case .handshakeFailed = error else {
            Issue.record("expected handshakeFailed, got \(String(describing: error))")
            return
        }
        try pair.finish()
    }

    @Test("a client connection must name the host it dials, or any certificate the CA signed would do")
    func clientNeedsTheHost() throws {
        let certificates = try CertificateFixture.shared()
        let context = try TLSContext.client(caFile: certificates.caFile)
        #expect(throws: TLSError.self) { try context.makeConnection(serverName: nil) }
        #expect(throws: TLSError.self) { try TLSHandler(context: context) }
    }

    @Test("closing while the socket's write fails completes the close promise")
    func closeWhileTheSocketFails() throws {
        let pair = try Pair()
        try pair.connect()
        try pair.server.pipeline.syncOperations.addHandler(BrokenSocket(), position: .first)
        pair.server.write(ByteBuffer(string: "last words"), promise: nil)
        var closed = false
        pair.server.close().whenComplete { _ in closed = true }
        #expect(closed, "the flush closed the channel; the close asked for is done")
        #expect(!pair.server.isActive)
        try pair.finish()
    }

    @Test("answering a close_notify the peer never reads still closes, after the shutdown timeout")
    func replyToCloseNotifyIsBounded() throws {
        let pair = try Pair()
        try pair.connect()
        try pair.server.pipeline.syncOperations.addHandler(HeldWrites(), position: .first)
        pair.client.close(promise: nil)
        try pair.pump()
        #expect(pair.server.isActive, "waiting for its close_notify to be written")
        pair.server.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(!pair.server.isActive)
        try pair.finish()
    }

    @Test("a connection closed when its handshake completes hands on no data that came with it")
    func closedAtHandshakeReadsNoMore() throws {
        let certificates = try CertificateFixture.shared()
        let server = EmbeddedChannel()
        let client = EmbeddedChannel()
        let recorder = Recorder()
        try server.pipeline.syncOperations.addHandler(
            TLSHandler(
                context: try TLSContext.server(
                    certificateChainFile: certificates.certificateFile, privateKeyFile: certificates.privateKeyFile)))
        try server.pipeline.syncOperations.addHandler(CloseOnHandshake())
        try server.pipeline.syncOperations.addHandler(recorder)
        try client.pipeline.syncOperations.addHandler(
            TLSHandler(context: try TLSContext.client(caFile: certificates.caFile), serverHostname: "localhost"))
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        try server.connect(to: address).wait()
        try client.connect(to: address).wait()
        // ClientHello to the server, its flight back: the client is done and sends Finished.
        while let bytes = try client.readOutbound(as: ByteBuffer.self) { try server.writeInbound(bytes) }
        while let bytes = try server.readOutbound(as: ByteBuffer.self) { try client.writeInbound(bytes) }
        // Data right behind the client's Finished, in the same read on the server.
        client.writeAndFlush(ByteBuffer(string: "early"), promise: nil)
        var flight = ByteBuffer()
        while var bytes = try client.readOutbound(as: ByteBuffer.self) { flight.writeBuffer(&bytes) }
        try server.writeInbound(flight)
        #expect(recorder.handshakes.count == 1)
        #expect(recorder.received == "", "closed on the handshake event: nothing more goes up")
        // The client's close waits for a close_notify that will not come: its timeout ends it.
        client.close(promise: nil)
        client.embeddedEventLoop.advanceTime(by: .seconds(3))
        _ = try? server.finish(acceptAlreadyClosed: true)
        _ = try? client.finish(acceptAlreadyClosed: true)
    }
}

/// Below TLS: fails every write and closes the channel on flush, as NIO does when the
/// socket's write fails (the peer reset): from inside the flush.
private final class BrokenSocket: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.ioOnClosedChannel)
    }

    func flush(context: ChannelHandlerContext) {
        context.close(promise: nil)
    }
}

/// Below TLS: takes writes and never completes them, as a socket whose peer stopped reading.
private final class HeldWrites: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer

    private var held: [EventLoopPromise<Void>] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if let promise { held.append(promise) }
    }

    func flush(context: ChannelHandlerContext) {}

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        let held = self.held
        self.held.removeAll()
        held.forEach { $0.fail(ChannelError.ioOnClosedChannel) }
        context.close(mode: mode, promise: promise)
    }
}

/// Closes the connection when it hears the handshake completed.
private final class CloseOnHandshake: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        context.fireUserInboundEventTriggered(event)
        if event is TLSHandshakeCompleted { context.close(promise: nil) }
    }
}

@Suite("TLS state machine")
struct TLSStateMachineTests {
    @Test func orderlyLocalClose() {
        var machine = TLSStateMachine()
        let first = machine.channelActive()
        let second = machine.channelActive()
        #expect(first)
        #expect(!second, "the handshake starts once")
        machine.handshakeCompleted()
        #expect(machine.state == .active)
        do { let result = machine.closeRequested(); #expect(result == .sendCloseNotify) }
        do { let result = machine.closeRequested(); #expect(result == .joinPendingClose) }
        #expect(!machine.canAcceptWrites)
        do { let result = machine.closeNotifyReceived(); #expect(result == .closeChannel) }
        do { let result = machine.channelInactive(); #expect(result == .none) }
    }

    @Test func peerCloses() {
        var machine = TLSStateMachine()
        _ = machine.channelActive()
        machine.handshakeCompleted()
        do { let result = machine.closeNotifyReceived(); #expect(result == .replyThenClose) }
        do { let result = machine.channelInactive(); #expect(result == .none) }
        do { let result = machine.closeRequested(); #expect(result == .passThrough) }
    }

    @Test func abruptEnds() {
        var handshaking = TLSStateMachine()
        _ = handshaking.channelActive()
        do { let result = handshaking.channelInactive(); #expect(result == .reportHandshakeAborted) }

        var active = TLSStateMachine()
        _ = active.channelActive()
        active.handshakeCompleted()
        do { let result = active.channelInactive(); #expect(result == .reportUncleanShutdown) }

        var early = TLSStateMachine()
        do { let result = early.closeRequested(); #expect(result == .closeChannel) }
    }
}

import NIOCore
import NIOPosix
import Shared

/// Connects, verifies the server, runs the REPL, and closes with close_notify.
struct ChatClient {
    let host: String
    let port: Int
    let caFile: String

    /// Runs one session; returns the process exit status.
    func run() async -> Int32 {
        let tls: TLSContext
        do {
            tls = try TLSContext.client(caFile: caFile)
        } catch {
            Console.errorLine("chat-client: \(error)")
            return 2
        }
        let connection: (output: NIOAsyncChannel<ByteBuffer, ByteBuffer>, handshake: TLSHandshakeCompleted)
        do {
            connection = try await TLSClientConnector.connect(host: host, port: port, context: tls) { channel in
                let sync = channel.pipeline.syncOperations
                // Server frames may grow with later protocol versions; 1 MiB bounds memory.
                try sync.addHandler(ByteToMessageHandler(LineFrameDecoder(maxFrameLength: 1 << 20)))
                try sync.addHandler(LineFrameEncoder())
                return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        } catch {
            Console.errorLine("chat-client: cannot connect to \(host):\(port): \(error)")
            return 1
        }
        Console.writeLine(
            "Connected to \(host):\(port) over \(connection.handshake.protocolVersion) "
                + "(\(connection.handshake.cipherSuite)); server certificate verified against \(caFile).")

        let terminal = Terminal()
        let format = MessageFormatter()
        let (events, continuation) = AsyncStream.makeStream(of: ClientEvent.self)
        let deliver: @Sendable (ClientEvent) -> Void = { continuation.yield($0) }
        let signals = SignalWatcher(signals: [SIGINT, SIGTERM]) { _ in
            terminal.restore()
            deliver(.interrupted)
        }
        defer {
            signals.cancel()
            terminal.restore()
        }
        do {
            return try await connection.output.executeThenClose { inbound, outbound in
                let frames = Task {
                    do {
                        for try await line in inbound {
                            switch ServerFrame.decode(line) {
                            case .success(let frame): deliver(.frame(frame))
                            case .failure(let error): deliver(.badFrame(error))
                            }
                        }
                        deliver(.disconnected(nil))
                    } catch {
                        deliver(.disconnected("\(error)"))
                    }
                }
                // Heartbeat: the server closes connections silent for 90 s. Ids from a range
                // the REPL never uses, so replies are simply ignored.
                let heartbeat = Task {
                    var id = 1_000_000_000
                    while !Task.isCancelled {
                        try await Task.sleep(nanoseconds: 30_000_000_000)
                        id += 1
                        try await outbound.write(ClientFrame.ping(id: id).encode(allocator: ByteBufferAllocator()))
                    }
                }
                defer { heartbeat.cancel() }
                let repl = ChatREPL(
                    events: events, deliver: deliver, outbound: outbound, terminal: terminal, format: format)
                let outcome = await repl.run()
                frames.cancel()
                return outcome.rawValue
            }
        } catch {
            // The session already ended; a failure to close cleanly is not the user's problem.
            return 0
        }
    }
}

import NIOCore
import NIOPosix
import Shared

#if canImport(Glibc)
import Glibc
#endif

/// `chat-server admin`'s side of the admin socket: one request, the reply's lines.
enum AdminSocketClient {
    /// Sends `request` to the server at `path` and returns the reply's lines; nil when no
    /// server answers there (no socket file, or a stale one nobody listens on).
    ///
    /// - Throws: `AdminSocketError` for a socket this process may not use, or a reply cut
    ///   short.
    static func send(_ request: String, to path: String) async throws -> [String]? {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(unixDomainSocketPath: path) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(LineFrameDecoder(maxFrameLength: LineFrameDecoder.defaultMaxFrameLength)))
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            if isNobodyThere(error) { return nil }
            throw AdminSocketError("cannot reach the running server on \(path): \(error)")
        }
        var lines: [String] = []
        try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request + "\n"))
            for try await line in inbound {
                let text = String(buffer: line)
                lines.append(text)
                if AdminLineCodec.isFinal(text) { break }
            }
        }
        return lines
    }

    /// Whether a server answers on the socket at `path`: it accepts a connection.
    static func isAnswering(_ path: String) async throws -> Bool {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(unixDomainSocketPath: path).get()
            try? await channel.close()
            return true
        } catch {
            if isNobodyThere(error) { return false }
            throw AdminSocketError("cannot check the admin socket \(path): \(error)")
        }
    }

    /// No socket file, or one nobody listens on.
    private static func isNobodyThere(_ error: any Error) -> Bool {
        guard let error = error as? IOError else { return false }
        return error.errnoCode == ENOENT || error.errnoCode == ECONNREFUSED
    }
}

import NIOCore
import Shared

/// One open session, greeted and ready for requests, usable from any task: every call hops
/// to the connection's event loop.
///
/// Requests return their answer; an `error` answer throws `SessionError.refused`. What
/// the server says unasked comes through `events` (or the connector's `onEvent`).
public final class ChatConnection: Sendable {
    /// Messages, receipts, notices and finally `closed`, in the order they arrived.
    public let events: AsyncStream<SessionEvent>
    /// The negotiated TLS version and suite.
    public let handshake: TLSHandshakeCompleted
    /// The server's `agent` from its `hello`.
    public let serverAgent: String
    /// The connection and its handler.
    public let session: SessionChannel

    init(session: SessionChannel, serverAgent: String, events: AsyncStream<SessionEvent>) {
        self.session = session
        self.handshake = session.handshake
        self.serverAgent = serverAgent
        self.events = events
    }

    /// Sends `request` and returns the frame that answers it, `error` frames included.
    public func request(_ request: ChatRequest) async throws -> ServerFrame {
        try await session.withHandler { $0.request(request) }.get()
    }

    /// Sends `request` and hands its answer (or the failure) to `onAnswer` on the event
    /// loop, between the events that came before it and those after it: for a caller
    /// that merges events and answers into one ordered stream of its own.
    public func request(
        _ request: ChatRequest, onAnswer: @escaping @Sendable (Result<ServerFrame, any Error>) -> Void
    ) {
        // Future callbacks run as the promise completes, inside the handler's read of the
        // answer, so nothing read after it can be reported first.
        session.withHandler { $0.request(request) }.whenComplete(onAnswer)
    }

    /// Sends `request` without waiting: its answer comes as `SessionEvent.reply`.
    public func post(_ request: ChatRequest) {
        session.execute { $0.post(request) }
    }

    /// The message is on the user's screen: acknowledge it (`.afterShown` policy; with
    /// `.automatic` the session already did).
    public func acknowledge(_ message: ChatMessage) {
        let messageID = message.id
        session.execute { $0.acknowledge(messageID: messageID) }
    }

    /// Closes with close_notify and waits until the socket is closed.
    public func close() async {
        try? await session.close().get()
    }

    /// True while the connection is open.
    public var isActive: Bool { session.channel.isActive }
}

import ChatSession
import NIOCore
import Shared

/// One open, TLS-verified session connection, usable from any thread: every call hops to
/// the channel's event loop (or runs at once when already on it).
///
/// Scenario set-up goes through here; the hot paths (relay, inbox senders) take the
/// loop-bound `handler` on its loop and drive it directly.
struct BenchConnection: Sendable {
    let session: SessionChannel

    var channel: Channel { session.channel }
    var handler: NIOLoopBound<ClientSessionHandler> { session.handler }
    var eventLoop: EventLoop { channel.eventLoop }

    /// Runs `body` with the handler on its event loop.
    func withHandler<T: Sendable>(
        _ body: @escaping @Sendable (ClientSessionHandler) -> EventLoopFuture<T>
    ) -> EventLoopFuture<T> {
        session.withHandler(body)
    }

    /// `hello`, answered by the server's `hello`.
    func hello() -> EventLoopFuture<Void> {
        withHandler { $0.hello().map { _ in } }
    }

    /// Creates an account; an existing one (from an earlier run) counts as created.
    func register(username: String, password: String) -> EventLoopFuture<Void> {
        withHandler { $0.request(.register(username: username, password: password)) }
            .flatMapThrowing { frame in
                if case .error(let error) = frame, error.code == .usernameTaken { return }
                try Self.expectOK(frame)
            }
    }

    /// Logs in; completes at the `ok` (the inbox summary follows unasked).
    func login(username: String, password: String) -> EventLoopFuture<Void> {
        withHandler { $0.request(.login(username: username, password: password)) }
            .flatMapThrowing { try Self.expectOK($0) }
    }

    /// Chooses `partner`; completes at the `ok`, after any stored messages from them.
    func chat(with partner: String) -> EventLoopFuture<Void> {
        withHandler { $0.request(.chat(with: partner)) }
            .flatMapThrowing { try Self.expectOK($0) }
    }

    /// Publishes this user's keys for end-to-end encryption.
    func publishKeys(_ keys: PublishedKeys) -> EventLoopFuture<Void> {
        withHandler { $0.request(.publishKeys(keys)) }
            .flatMapThrowing { try Self.expectOK($0) }
    }

    /// `username`'s published keys, with one of their one-time prekeys.
    func fetchKeys(for username: String) -> EventLoopFuture<PublishedBundle> {
        withHandler { $0.request(.fetchKeys(username: username)) }.flatMapThrowing { frame in
            guard case .keys(_, let bundle) = frame else {
                if case .error(let error) = frame { throw BenchError.refused(error) }
                throw BenchError.unexpectedReply("\(frame.kind.rawValue) to fetch_keys")
            }
            return bundle
        }
    }

    /// The waiting-message counts per sender.
    func inboxCounts() -> EventLoopFuture<[String: Int]> {
        withHandler { $0.request(.inbox) }.flatMapThrowing { frame in
            guard case .inbox(_, let counts, _) = frame else {
                if case .error(let error) = frame { throw BenchError.refused(error) }
                throw BenchError.unexpectedReply("\(frame.kind.rawValue) to inbox")
            }
            return counts
        }
    }

    /// Closes with close_notify; completes when the socket is closed.
    func close() -> EventLoopFuture<Void> {
        session.close()
    }

    private static func expectOK(_ frame: ServerFrame) throws {
        switch frame {
        case .ok:
            return
        case .error(let error):
            throw BenchError.refused(error)
        default:
            throw BenchError.unexpectedReply(frame.kind.rawValue)
        }
    }
}

extension BenchConnection {
    /// Closes all of `connections` at once and waits until every socket is closed.
    static func closeAll(_ connections: [BenchConnection]) async {
        guard let first = connections.first else { return }
        let closes = connections.map { $0.close() }
        try? await EventLoopFuture.andAllComplete(closes, on: first.eventLoop).get()
    }
}

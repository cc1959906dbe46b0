import NIOCore
import Shared

/// The running server's sessions, as the admin socket's requests reach them: presence to
/// find a user's session, the connections to wait for it to close, the login throttle; and,
/// when the server shares its database with other nodes, those nodes' sessions too.
struct RunningServerSessions: LiveSessions {
    let presence: any Presence<SessionMailbox>
    let throttle: LoginThrottle
    /// The channel of the connection with this id (a session's `sessionID`), if still open.
    let channel: @Sendable (UInt64) -> Channel?
    /// The other nodes' sessions; nil for a server on its own.
    let otherNodes: ClusterSessions?
    /// How long `close` waits for the session to be gone.
    var closeWait: TimeAmount = .seconds(5)

    func onlineCount() async throws -> Int {
        // Everyone but a name no user can have (on every node, with shared presence).
        try await presence.who(except: "").count
    }

    func close(_ username: String, notice: NoticeCode) async -> SessionClosing {
        guard let session = presence.session(for: username) else {
            // A user is online on one node at a time: not here, perhaps on another.
            return await otherNodes?.close(username, notice: notice) ?? .none
        }
        let channel = self.channel(session.sessionID)
        session.fire(.closedByOperator(notice))
        guard let channel else { return .closed }
        // Its handler ends the session (the partner told, unacknowledged messages handed to
        // the inbox) before it closes the channel; the close may wait briefly for the
        // client's close_notify.
        let loop = channel.eventLoop
        let closedOrLate = loop.makePromise(of: Void.self)
        channel.closeFuture.cascade(to: closedOrLate)
        let timer = loop.scheduleTask(in: closeWait) { closedOrLate.succeed(()) }
        try? await closedOrLate.futureResult.get()
        timer.cancel()
        return .closed
    }

    func forgetFailedLogins(of username: String) async {
        // Best effort: a back-off that outlives the reset only delays the user's login.
        try? await throttle.recordSuccess(username: username)
    }
}

import Shared

/// The sessions held by the nodes sharing a database, as the operator's requests reach them
/// through its presence directory: a node's own admin socket for the sessions on the others,
/// and `chat-server admin` on the database itself for all of them.
///
/// Closing is a `close` node message to every node; whichever holds the user's session
/// closes it with the notice, as it would its own, and takes them out of presence. The
/// answer waits for that (presence says whether the user is still online), up to `wait`.
struct ClusterSessions: LiveSessions {
    let directory: any PresenceDirectory
    /// The login back-off's ledger, shared by the nodes.
    let throttle: LoginThrottle
    /// How long `close` waits for the session to be gone.
    var wait: Duration = .seconds(5)
    /// Between two looks at presence while waiting.
    var pollInterval: Duration = .milliseconds(50)

    func onlineCount() async throws -> Int {
        // Everyone but a name no user can have.
        try await directory.who(except: "").count
    }

    func close(_ username: String, notice: NoticeCode) async -> SessionClosing {
        do {
            guard try await directory.isOnline(username) else { return .none }
            try await directory.sendNow([Outgoing(to: .everyone, message: .close(username: username, notice: notice))])
        } catch {
            return .unreached("\(error)")
        }
        let deadline = ContinuousClock.now + wait
        while ContinuousClock.now < deadline {
            try? await Task.sleep(for: pollInterval)
            // A failed look is not an answer: look again until the deadline.
            if let online = try? await directory.isOnline(username), !online { return .closed }
        }
        return .asked
    }

    func forgetFailedLogins(of username: String) async {
        // Best effort: a back-off that outlives the reset only delays the user's login.
        try? await throttle.recordSuccess(username: username)
    }
}

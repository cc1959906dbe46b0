import Shared

/// Events other parts of the server send into a session's pipeline (with
/// `pipeline.fireUserInboundEventTriggered`), so that everything touching a session
/// happens on that session's own event loop.
enum SessionEvent: Sendable, Equatable {
    /// The same user logged in elsewhere: say so and close.
    case displaced
    /// The server is stopping: say so and close.
    case serverShutdown
    /// The operator locked or deleted the account: send this notice and close.
    case closedByOperator(NoticeCode)
    /// This node lost its place in the cluster (the others counted it dead and took its
    /// users offline): close without a word, as a crashed node would, so the client
    /// reconnects and logs in afresh.
    case dropped
}

import ChatSession
import Shared

/// Everything the REPL waits for, merged into one stream in the order it happened: the
/// user's typing, Ctrl-C, what the session reports, and the answers to its requests.
enum ClientEvent: Sendable {
    /// A line the user typed (without its newline).
    case line(String)
    /// Ctrl-D at an empty prompt, or the end of piped input.
    case endOfInput
    /// Ctrl-C.
    case interrupted
    /// Something the server said unasked, or the connection ending.
    case session(SessionEvent)
    /// The answer to the REPL's request number `request`.
    case answer(request: Int, Result<ServerFrame, any Error>)
    /// A failover backoff timer, numbered, ran out.
    case retry(Int)
    /// The session was lost and a new one is logged in (and has the chat open again).
    case reconnected
}

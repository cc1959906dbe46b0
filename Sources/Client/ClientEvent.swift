import Shared

/// Everything the REPL waits for, merged into one stream: the user's typing, the
/// server's frames, Ctrl-C, and the connection ending.
enum ClientEvent: Sendable {
    /// A line the user typed (without its newline).
    case line(String)
    /// Ctrl-D at an empty prompt, or the end of piped input.
    case endOfInput
    /// Ctrl-C.
    case interrupted
    /// A frame from the server.
    case frame(ServerFrame)
    /// The server sent something that is not a valid frame.
    case badFrame(ProtocolError)
    /// The connection ended; the reason when it was an error.
    case disconnected(String?)
}

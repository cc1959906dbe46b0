import NIOCore

/// When a client acknowledges what it has shown (docs/PROTOCOL.md, "Acknowledgements").
public enum ClientAcknowledgement {
    /// How long a client waits after showing a message before it acks, so that one `ack`
    /// (and one `delivered` to each sender) covers everything shown meanwhile. Short enough
    /// that the sender sees "delivered" well within a glance (the protocol asks for 50 ms).
    public static let delay: TimeAmount = .milliseconds(20)

    /// Shown messages after which a client acks at once instead of waiting out `delay`: a
    /// fast stream (tens of thousands a second) would otherwise fill the server's live
    /// window (the inbox caps, 1000 messages or 1 MiB by default) within one delay, and the
    /// server would store what it could have sent live. A quarter of the message cap (large
    /// bodies can still reach the byte cap first; the server then stores, losing nothing).
    public static let promptAfter = 256
}

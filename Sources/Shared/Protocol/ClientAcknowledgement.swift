import NIOCore

/// When a client acknowledges what it has shown (docs/PROTOCOL.md, "Acknowledgements").
public enum ClientAcknowledgement {
    /// How long a client waits after showing a message before it acks, so that one `ack`
    /// (and one `delivered` to each sender) covers everything shown meanwhile. Short enough
    /// that the sender sees "delivered" well within a glance (the protocol asks for 50 ms).
    public static let delay: TimeAmount = .milliseconds(20)
}

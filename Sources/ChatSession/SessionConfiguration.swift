import NIOCore
import Shared

/// Everything a client session needs to know before it connects. Each default is written
/// here once; `chat-client`, `chat-bench` and the tests override only what they must.
public struct SessionConfiguration: Sendable {
    /// Every setting at its default; command-line options take theirs from here.
    public static let defaults = SessionConfiguration()

    /// Server host name or IP address; the server certificate is checked against it.
    public var host: String
    /// Server port.
    public var port: Int
    /// PEM file of the CA that signed the server certificate. Verification cannot be
    /// turned off: there is no setting for it.
    public var caFile: String
    /// The `agent` sent in `hello` (informational only).
    public var agent: String
    /// When a received message is acknowledged.
    public var acknowledgement: AcknowledgementPolicy
    /// How often a `ping` keeps the session alive (the server closes connections silent
    /// for 90 s); nil sends none.
    public var keepAliveInterval: TimeAmount?
    /// Bound on the TCP connect and, separately, on the TLS handshake.
    public var connectTimeout: TimeAmount
    /// Bound on the wait for the server's `hello` once ours is sent.
    public var helloTimeout: TimeAmount
    /// Longest server line accepted; a longer one closes the connection. Server frames may
    /// grow with later protocol versions, so this is well above today's largest.
    public var maximumFrameLength: Int
    /// How many message ids are remembered at least to drop duplicates (at most twice as
    /// many): the oldest are forgotten first, so memory stays bounded however long the
    /// session runs.
    public var rememberedMessages: Int

    /// A configuration with the documented defaults.
    public init(
        host: String = "127.0.0.1",
        port: Int = 5555,
        caFile: String = "certs/ca.pem",
        agent: String = ProtocolVersion.agent("chat-session"),
        acknowledgement: AcknowledgementPolicy = .afterShown,
        keepAliveInterval: TimeAmount? = .seconds(30),
        connectTimeout: TimeAmount = .seconds(10),
        helloTimeout: TimeAmount = .seconds(10),
        maximumFrameLength: Int = 1 << 20,
        rememberedMessages: Int = 10_000
    ) {
        self.host = host
        self.port = port
        self.caFile = caFile
        self.agent = agent
        self.acknowledgement = acknowledgement
        self.keepAliveInterval = keepAliveInterval
        self.connectTimeout = connectTimeout
        self.helloTimeout = helloTimeout
        self.maximumFrameLength = maximumFrameLength
        self.rememberedMessages = rememberedMessages
    }
}

/// When the session sends `ack` for a received message. The protocol asks for the ack
/// only once the user has seen the message: a crash before that means redelivery.
public enum AcknowledgementPolicy: Sendable, Hashable {
    /// The caller acknowledges each message (`ChatConnection.acknowledge(_:)`) after
    /// showing it. For clients with a screen.
    case afterShown
    /// The session acknowledges each message as soon as the caller's event handler has
    /// returned. For programs that consume messages as they come (the bench, tests).
    case automatic
}

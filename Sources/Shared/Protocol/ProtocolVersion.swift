/// The protocol revision spoken by this build, and the `agent` string sent in `hello`.
public enum ProtocolVersion {
    /// The version sent in `hello`. Both sides must speak the same one; see docs/PROTOCOL.md.
    public static let current = 2

    /// The release of this software, reported in the `agent` string.
    public static let softwareVersion = "0.1.0"

    /// The `agent` text for a `hello` frame, such as `chat-client/0.1.0`.
    ///
    /// The agent is informational only (logs, diagnostics); no behaviour may depend on it, because
    /// a peer can send anything there.
    public static func agent(_ program: String, version: String = ProtocolVersion.softwareVersion) -> String {
        "\(program)/\(version)"
    }
}

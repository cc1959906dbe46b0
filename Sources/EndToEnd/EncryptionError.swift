/// What went wrong in the end-to-end layer. The first group is what a received message can
/// be refused for; each case says what the caller has to do.
public enum EncryptionError: Error, Hashable, Sendable {
    /// The message was already decrypted once (a replay, or a duplicate delivery); drop it.
    case duplicateMessage
    /// The message is corrupt or was tampered with (bad MAC, malformed bytes, a counter too far
    /// ahead, or no session state it belongs to). Drop it; the session is unchanged.
    case invalidMessage
    /// The message uses a protocol version this library no longer reads (version 1); drop it.
    case legacyMessage
    /// The peer's identity key is not the one trusted for them: they reinstalled, or someone
    /// is in the middle. Warn the user, compare safety numbers, and only then call
    /// `LocalDevice.trust(_:for:)` with this key and retry.
    case untrustedIdentity(PeerAddress, IdentityKey)
    /// There is no session with this peer: fetch their bundle and start one (to send), or wait
    /// for their prekey message (to receive).
    case noSession(PeerAddress)
    /// A prekey message names a one-time or signed prekey this device no longer has (used up
    /// by an earlier session, or pruned). The sender must fetch a fresh bundle.
    case invalidKeyID
    /// A key does not decode (wrong length or type byte).
    case invalidKey
    /// A bundle's signed prekey is not signed by the bundle's identity key.
    case invalidSignature
    /// Bytes that do not parse as the value named (a bundle, a message, an exported store).
    case malformed(String)
    /// A store refused a read or a write; the operation had no effect on the session.
    case storeFailed(String)
    /// Any other failure reported by libomemo-c (its SG_ERR_* code) or OpenSSL.
    case library(operation: String, code: Int32)
}

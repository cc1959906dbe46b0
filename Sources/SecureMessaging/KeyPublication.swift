import EndToEnd

/// What a device asks the server's key directory to hold: its identity, its current
/// signed prekey, and one-time prekeys to hand out (each at most once).
public struct KeyPublication: Hashable, Sendable {
    public let registrationID: UInt32
    public let identityKey: IdentityKey
    public let signedPreKey: SignedPreKey
    public let preKeys: [OneTimePreKey]
}

/// What the user is told about a partner's identity key when a chat opens.
public enum PartnerKeyStatus: Hashable, Sendable {
    /// No key was trusted for them before: this one is, from now on (trust on first use).
    case firstContact
    /// The key is the trusted one; `confirmed` if the user compared safety numbers.
    case trusted(confirmed: Bool)
    /// The key is not the trusted one: nothing is sent to them until `/trust`.
    case changed
    /// They have published no keys: nothing can be sent to them yet.
    case noKeys
}

/// What a received body turned out to be.
public enum ReceivedBody: Hashable, Sendable {
    /// A message: show it.
    case text(String)
    /// A file offered by the sender: show it, and let the user accept or reject it.
    case file(FileOffer)
    /// A message already decrypted once (a redelivery or a replay): drop it.
    case duplicate
    /// It does not decrypt (tampered, corrupt, or for keys this device does not have):
    /// tell the user, with the reason, and acknowledge it.
    case undecryptable(String)
    /// It comes from a new identity key of the sender: kept (sealed) until the user
    /// accepts the key with `/trust`, then shown.
    case heldForTrust
}

/// A message kept because its sender's key changed, and what became of it at `/trust`.
public struct ReleasedMessage: Hashable, Sendable {
    public let messageID: String
    public let sentAtMilliseconds: Int64
    public let body: ReceivedBody
}

/// This device's identity and the identity keys it trusts for its peers.
///
/// Called synchronously from inside libomemo-c (its store callbacks cannot wait), so an
/// implementation keeps its state in memory and persists it on its own schedule. A thrown
/// error fails the operation in progress without changing the session.
public protocol IdentityKeyStore: AnyObject {
    /// This device's identity key pair and registration id.
    func localIdentity() throws -> LocalIdentity

    /// The identity key trusted for `peer`, or nil if none was seen yet.
    func identity(for peer: PeerAddress) throws -> IdentityKey?

    /// Records `key` as the trusted identity for `peer`; nil forgets it. libomemo-c calls this
    /// after `isTrusted` said yes, and `LocalDevice.trust(_:for:)` calls it when the user
    /// accepts a changed key.
    func saveIdentity(_ key: IdentityKey?, for peer: PeerAddress) throws

    /// The trust decision: may a session with `peer` use `key`? libomemo-c asks before it
    /// builds a session from a bundle or from a received prekey message, and refuses with
    /// `EncryptionError.untrustedIdentity` on a no. The Signal convention is trust on first
    /// use: yes when nothing is recorded for `peer` or the recorded key is `key`.
    func isTrusted(_ key: IdentityKey, for peer: PeerAddress) throws -> Bool
}

extension IdentityKeyStore {
    /// Trust on first use: a key is trusted when none is recorded for the peer yet, or when it
    /// is the recorded one; a different key is not, until someone saves it.
    public func isTrusted(_ key: IdentityKey, for peer: PeerAddress) throws -> Bool {
        guard let known = try identity(for: peer) else { return true }
        return known == key
    }
}

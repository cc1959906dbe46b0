import EndToEnd
import LocalVault
import Shared

/// The vault of the client's state directory is where a messenger keeps its state.
extension Vault: SealedStorage {}

extension KeyPublication {
    /// The frame form for `publish_keys`.
    public var published: PublishedKeys {
        PublishedKeys(
            registrationID: Int(registrationID), identityKey: identityKey.bytes,
            signedPreKey: PublishedSignedPreKey(
                id: Int(signedPreKey.id), publicKey: signedPreKey.publicKey.bytes, signature: signedPreKey.signature),
            preKeys: preKeys.map { PublishedPreKey(id: Int($0.id), publicKey: $0.publicKey.bytes) })
    }
}

extension PreKeyBundle {
    /// A bundle from what `fetch_keys` answered; `.badBundle` if a key or id is unusable.
    public init(published bundle: PublishedBundle) throws(MessengerError) {
        do throws(EncryptionError) {
            guard let registrationID = UInt32(exactly: bundle.registrationID),
                  let signedID = UInt32(exactly: bundle.signedPreKey.id)
            else { throw .malformed("an id out of range") }
            var preKey: OneTimePreKey?
            if let published = bundle.preKey {
                guard let id = UInt32(exactly: published.id) else { throw .malformed("a prekey id out of range") }
                preKey = OneTimePreKey(id: id, publicKey: try PublicKey(bytes: published.publicKey))
            }
            self.init(
                registrationID: registrationID, identityKey: try IdentityKey(bytes: bundle.identityKey),
                signedPreKey: try SignedPreKey(
                    id: signedID, publicKey: try PublicKey(bytes: bundle.signedPreKey.publicKey),
                    signature: bundle.signedPreKey.signature),
                oneTimePreKey: preKey)
        } catch {
            throw .badBundle(bundle.username, error)
        }
    }
}

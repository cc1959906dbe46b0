/// This device's one-time prekeys, as libomemo-c's serialized records (they hold the private
/// keys: keep them as secret as the identity). libomemo-c removes a record when a prekey
/// message consumes it.
///
/// Called synchronously from inside libomemo-c; see `IdentityKeyStore`.
public protocol PreKeyStore: AnyObject {
    /// The record of prekey `id`, or nil (libomemo-c then refuses the message as
    /// `.invalidKeyID`).
    func preKeyRecord(id: UInt32) throws -> [UInt8]?
    /// Keeps a record under `id`, replacing any record with that id.
    func storePreKeyRecord(_ record: [UInt8], id: UInt32) throws
    func containsPreKey(id: UInt32) throws -> Bool
    /// Forgets prekey `id`: libomemo-c calls this once a prekey message used it.
    func removePreKey(id: UInt32) throws
    /// The ids of every stored prekey, in ascending order.
    func preKeyIDs() throws -> [UInt32]

    /// The id the next generated prekey gets. Kept with the store so that an id is not
    /// reused while a bundle naming its previous key may still be out there.
    var nextPreKeyID: UInt32 { get set }
}

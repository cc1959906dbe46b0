/// This device's signed prekeys, as libomemo-c's serialized records (secret, as prekeys).
/// Old ones stay after a rotation so that prekey messages still in flight decrypt.
///
/// Called synchronously from inside libomemo-c; see `IdentityKeyStore`.
public protocol SignedPreKeyStore: AnyObject {
    /// The record of signed prekey `id`, or nil (libomemo-c then refuses the message as
    /// `.invalidKeyID`).
    func signedPreKeyRecord(id: UInt32) throws -> [UInt8]?
    /// Keeps a record under `id`, replacing any record with that id.
    func storeSignedPreKeyRecord(_ record: [UInt8], id: UInt32) throws
    func containsSignedPreKey(id: UInt32) throws -> Bool
    /// Forgets signed prekey `id` (`LocalDevice.pruneSignedPreKeys(retiredBefore:)`).
    func removeSignedPreKey(id: UInt32) throws
    /// The ids of every stored signed prekey, in ascending order.
    func signedPreKeyIDs() throws -> [UInt32]

    /// The signed prekey that bundles advertise; nil before the first one is made.
    var currentSignedPreKeyID: UInt32? { get set }
}

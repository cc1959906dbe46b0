/// This device's signed prekeys, as libomemo-c's serialized records (secret, as prekeys).
/// Old ones stay after a rotation so that prekey messages still in flight decrypt.
///
/// Called synchronously from inside libomemo-c; see `IdentityKeyStore`.
public protocol SignedPreKeyStore: AnyObject {
    func signedPreKeyRecord(id: UInt32) throws -> [UInt8]?
    func storeSignedPreKeyRecord(_ record: [UInt8], id: UInt32) throws
    func containsSignedPreKey(id: UInt32) throws -> Bool
    func removeSignedPreKey(id: UInt32) throws
    /// The ids of every stored signed prekey, in ascending order.
    func signedPreKeyIDs() throws -> [UInt32]

    /// The signed prekey that bundles advertise; nil before the first one is made.
    var currentSignedPreKeyID: UInt32? { get set }
}

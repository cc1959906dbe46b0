/// One session record per peer device: libomemo-c's serialized ratchet state (root and
/// chain keys, skipped message keys, archived states). Secret: it decrypts what comes next.
///
/// Called synchronously from inside libomemo-c; see `IdentityKeyStore`.
public protocol SessionStore: AnyObject {
    /// The session record for `peer`, or nil if there is none.
    func sessionRecord(for peer: PeerAddress) throws -> [UInt8]?
    /// Keeps `record` as the session with `peer`. libomemo-c calls this after every
    /// encryption and every successful decryption: the ratchet has moved.
    func storeSessionRecord(_ record: [UInt8], for peer: PeerAddress) throws
    func containsSession(for peer: PeerAddress) throws -> Bool
    /// True if there was a session to delete.
    func deleteSession(for peer: PeerAddress) throws -> Bool
    /// Deletes the sessions with every device of `name`; returns how many there were.
    func deleteAllSessions(named name: String) throws -> Int
    /// The device ids of `name` that have a session.
    func deviceIDs(named name: String) throws -> [Int32]
}

import EndToEnd
import Foundation

/// One device's Signal state (identity, prekeys, signed prekeys, sessions, trusted
/// identities) over a `SealedStorage`: loaded whole, used in memory by a `LocalDevice`,
/// and written back store by store after each change.
///
/// Not Sendable: its `Messenger` owns it.
final class DeviceState {
    /// The storage names of the four stores, and of this device's own bookkeeping.
    enum Blob: String, CaseIterable {
        case identity, prekeys, signedprekeys, sessions, device
    }

    let stores: InMemoryStores
    let device: LocalDevice
    /// When the current signed prekey was made; it is replaced after `signedPreKeyLifetime`.
    private(set) var signedPreKeyMadeAt: Date
    private let storage: any SealedStorage
    /// Each store's change count when it was last read or written: a store that did not
    /// change is neither exported nor written again (most messages change only the
    /// sessions).
    private var savedChanges: [Blob: Int] = [:]
    /// The `device` blob as last read or written.
    private var savedDevice: [UInt8]?

    /// The state in `storage`, or nil if this device has none yet.
    static func load(from storage: any SealedStorage) throws(MessengerError) -> DeviceState? {
        var blobs: [Blob: [UInt8]] = [:]
        for blob in Blob.allCases {
            guard let bytes = try MessengerError.storage({ try storage.read(named: blob.rawValue) }) else {
                if blob == .identity { return nil }
                throw .stateDamaged("the local state has an identity but no \(blob.rawValue)")
            }
            blobs[blob] = bytes
        }
        let stores: InMemoryStores
        let madeAt: Date
        do throws(EncryptionError) {
            stores = InMemoryStores(
                identity: try InMemoryIdentityKeyStore(importing: blobs[.identity]!),
                preKeys: try InMemoryPreKeyStore(importing: blobs[.prekeys]!),
                signedPreKeys: try InMemorySignedPreKeyStore(importing: blobs[.signedprekeys]!),
                sessions: try InMemorySessionStore(importing: blobs[.sessions]!))
            madeAt = try Self.readDevice(blobs[.device]!)
        } catch {
            throw .stateDamaged("the local Signal state does not read back (\(error))")
        }
        let state = try DeviceState(stores: stores, signedPreKeyMadeAt: madeAt, storage: storage)
        state.savedChanges = state.changeCounts
        state.savedDevice = blobs[.device]
        return state
    }

    /// A new device: a fresh identity, a signed prekey and `preKeyCount` one-time prekeys,
    /// written to `storage` before it returns.
    static func create(in storage: any SealedStorage, preKeyCount: Int, now: Date) throws(MessengerError) -> DeviceState {
        let identity = try MessengerError.device { try LocalIdentity.generate() }
        let state = try DeviceState(
            stores: InMemoryStores(identity: identity), signedPreKeyMadeAt: now, storage: storage)
        try MessengerError.device { try state.device.generateKeys(preKeyCount: preKeyCount, now: now) }
        try state.save()
        return state
    }

    private init(stores: InMemoryStores, signedPreKeyMadeAt: Date, storage: any SealedStorage) throws(MessengerError) {
        self.stores = stores
        self.signedPreKeyMadeAt = signedPreKeyMadeAt
        self.storage = storage
        do throws(EncryptionError) {
            device = try LocalDevice(stores: stores.protocolStores)
        } catch {
            throw .encryption(error)
        }
    }

    /// Records that a new signed prekey was made at `date`.
    func signedPreKeyRotated(at date: Date) {
        signedPreKeyMadeAt = date
    }

    /// Writes every store that changed since it was last written. Called after every
    /// operation that may change one, before its result is used: a message is not sent or
    /// shown on a ratchet state that a crash would lose.
    func save() throws(MessengerError) {
        let counts = changeCounts
        for (blob, count) in counts where savedChanges[blob] != count {
            let bytes: [UInt8]
            switch blob {
            case .identity: bytes = stores.identity.exportState()
            case .prekeys: bytes = stores.preKeys.exportState()
            case .signedprekeys: bytes = stores.signedPreKeys.exportState()
            default: bytes = stores.sessions.exportState()
            }
            try MessengerError.storage { try storage.write(bytes, named: blob.rawValue) }
            savedChanges[blob] = count
        }
        let device = Self.deviceBytes(signedPreKeyMadeAt: signedPreKeyMadeAt)
        if device != savedDevice {
            try MessengerError.storage { try storage.write(device, named: Blob.device.rawValue) }
            savedDevice = device
        }
    }

    /// The change counts of the four stores.
    private var changeCounts: [Blob: Int] {
        [
            .identity: stores.identity.changeCount, .prekeys: stores.preKeys.changeCount,
            .signedprekeys: stores.signedPreKeys.changeCount, .sessions: stores.sessions.changeCount,
        ]
    }

    /// The `device` blob: format 1, then the signed prekey's making time in milliseconds
    /// since 1970 (u64, big-endian).
    private static func deviceBytes(signedPreKeyMadeAt date: Date) -> [UInt8] {
        let milliseconds = UInt64(max(0, (date.timeIntervalSince1970 * 1000).rounded()))
        return [1] + (0..<8).reversed().map { UInt8(milliseconds >> (UInt64($0) * 8) & 0xFF) }
    }

    private static func readDevice(_ bytes: [UInt8]) throws(EncryptionError) -> Date {
        guard bytes.count == 9, bytes[0] == 1 else { throw .malformed("device record") }
        let milliseconds = bytes[1...].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}

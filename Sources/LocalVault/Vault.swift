import Foundation

/// The client's encrypted local store in one `StateDirectory`: named blobs (the Signal state:
/// identity, prekeys, sessions, trusted keys) and the message history, all sealed under one
/// random 32-byte data key that the password unwraps from `vault.key`.
///
/// The password costs one scrypt run at `create`, `open` and `changePassword` (about a tenth
/// of a second, blocking: call them off any event loop); blob writes and history appends use
/// the data key directly and cost an AES-GCM seal and an fsync or two.
///
/// Blob files are `NAME.sealed`: `"SCVB"`, version 1, nonce (12), ciphertext, tag (16). The
/// associated data is the magic, the version and the name, so a blob renamed or copied over
/// another fails its tag check and reads as `VaultError.corrupt(name)`. What AES-GCM cannot
/// see is an older copy of the same blob put back in its place (a rollback): whoever can write
/// the directory can also delete it, and the directory is the user's own, mode 0700.
///
/// `@unchecked Sendable`: everything is immutable except the cached history, which is only
/// touched under `lock`; file writes are serialised by the `StateDirectory`.
public final class Vault: @unchecked Sendable {
    /// The directory the vault lives in; closing it ends the vault's use.
    public let directory: StateDirectory

    private let dataKey: [UInt8]
    /// What `changePassword` wraps the key with: the standard parameters, or cheaper ones a
    /// test chose.
    private let keyParameters: ScryptParameters
    private let lock = NSLock()
    private var history: HistoryLog?

    static let blobMagic = Array("SCVB".utf8)
    static let blobVersion: UInt8 = 1
    static let blobSuffix = ".sealed"
    /// The largest blob `write` accepts; the Signal state is a few kilobytes.
    public static let maximumBlobSize = 16 << 20
    /// The longest blob name.
    public static let maximumNameLength = 64

    private init(directory: StateDirectory, dataKey: [UInt8], keyParameters: ScryptParameters) {
        self.directory = directory
        self.dataKey = dataKey
        self.keyParameters = keyParameters
    }

    // MARK: - The key

    /// Whether `directory` holds a vault (a `vault.key`). False if the directory is closed.
    public static func exists(at directory: StateDirectory) -> Bool {
        (try? directory.withOpenDirectory { handle in handle.contains(KeyFile.name) }) ?? false
    }

    /// Makes a new vault in `directory`: a random data key, wrapped under `password`.
    /// Blocking (scrypt).
    ///
    /// - Throws: `VaultError.alreadyExists` if there is one already; `.storageFailed`,
    ///   `.cryptoFailed`, `.closed`.
    public static func create(at directory: StateDirectory, password: String) throws(VaultError) -> Vault {
        try create(at: directory, password: password, parameters: .standard)
    }

    /// `create` with explicit scrypt parameters, which `changePassword` then keeps using.
    static func create(
        at directory: StateDirectory, password: String, parameters: ScryptParameters
    ) throws(VaultError) -> Vault {
        guard !exists(at: directory) else { throw .alreadyExists(path: directory.path) }
        let dataKey = try SecureRandom.bytes(AESGCM.keyLength)
        let keyFile = try KeyFile(wrapping: dataKey, password: password, parameters: parameters)
        try directory.withOpenDirectory { handle throws(VaultError) in
            // Checked again under the directory's lock: scrypt ran without it.
            guard !handle.contains(KeyFile.name) else { throw .alreadyExists(path: directory.path) }
            try handle.replaceFile(KeyFile.name, with: keyFile.encoded)
        }
        return Vault(directory: directory, dataKey: dataKey, keyParameters: parameters)
    }

    /// Opens the vault in `directory` with `password`. Blocking (scrypt).
    ///
    /// - Throws: `VaultError.wrongPassword`; `.noVault` if there is none; `.corrupt("vault.key")`
    ///   if the key file is malformed; `.storageFailed`, `.cryptoFailed`, `.closed`.
    public static func open(at directory: StateDirectory, password: String) throws(VaultError) -> Vault {
        try open(at: directory, password: password, parameters: .standard)
    }

    /// `open` that makes `changePassword` wrap with `parameters`.
    static func open(
        at directory: StateDirectory, password: String, parameters: ScryptParameters
    ) throws(VaultError) -> Vault {
        let keyFile = try readKeyFile(in: directory)
        let dataKey = try keyFile.unwrap(password: password)
        return Vault(directory: directory, dataKey: dataKey, keyParameters: parameters)
    }

    /// Wraps the data key under `newPassword` instead of `oldPassword`, with a fresh salt. The
    /// blobs and the history are untouched; `vault.key` is replaced atomically, so a crash
    /// leaves either password working, never neither. Blocking (scrypt, twice).
    ///
    /// - Throws: `VaultError.wrongPassword` if `oldPassword` is wrong (nothing changes);
    ///   `.corrupt("vault.key")` if the file now holds another vault's key; `.storageFailed`,
    ///   `.cryptoFailed`, `.closed`.
    public func changePassword(from oldPassword: String, to newPassword: String) throws(VaultError) {
        let current = try Self.readKeyFile(in: directory)
        guard try current.unwrap(password: oldPassword) == dataKey else {
            throw .corrupt(KeyFile.name)
        }
        let replacement = try KeyFile(wrapping: dataKey, password: newPassword, parameters: keyParameters)
        try directory.withOpenDirectory { handle throws(VaultError) in
            try handle.replaceFile(KeyFile.name, with: replacement.encoded)
        }
    }

    private static func readKeyFile(in directory: StateDirectory) throws(VaultError) -> KeyFile {
        let bytes = try directory.withOpenDirectory { handle throws(VaultError) in
            try handle.readFile(KeyFile.name, maximumSize: KeyFile.length, reportedAs: KeyFile.name)
        }
        guard let bytes else { throw .noVault(path: directory.path) }
        return try KeyFile(decoding: bytes)
    }

    // MARK: - Blobs

    /// Whether `name` can name a blob: 1 to 64 ASCII letters, digits, `_` or `-`.
    public static func isValidName(_ name: String) -> Bool {
        (1...maximumNameLength).contains(name.utf8.count) && name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default:
                false
            }
        }
    }

    /// Seals `bytes` as the blob `name`, replacing any earlier one atomically: after a crash
    /// the blob reads as either the old or the new bytes. Durable when it returns.
    ///
    /// - Throws: `VaultError.invalidName`, `.tooLarge`, `.storageFailed`, `.cryptoFailed`,
    ///   `.closed`.
    public func write(_ bytes: [UInt8], named name: String) throws(VaultError) {
        try Self.validate(name)
        guard bytes.count <= Self.maximumBlobSize else { throw .tooLarge(name, limit: Self.maximumBlobSize) }
        let sealed = try AESGCM.seal(bytes, key: dataKey, associatedData: Self.blobAssociatedData(name))
        try directory.withOpenDirectory { handle throws(VaultError) in
            try handle.replaceFile(name + Self.blobSuffix, with: Self.blobMagic + [Self.blobVersion] + sealed)
        }
    }

    /// The blob `name`, or nil if none was written.
    ///
    /// - Throws: `VaultError.corrupt(name)` if the file was altered, renamed from another blob
    ///   or truncated; `.invalidName`, `.storageFailed`, `.cryptoFailed`, `.closed`.
    public func read(named name: String) throws(VaultError) -> [UInt8]? {
        try Self.validate(name)
        let prefixLength = Self.blobMagic.count + 1
        let file = try directory.withOpenDirectory { handle throws(VaultError) in
            try handle.readFile(
                name + Self.blobSuffix,
                maximumSize: prefixLength + AESGCM.overhead + Self.maximumBlobSize,
                reportedAs: name
            )
        }
        guard let file else { return nil }
        guard file.count >= prefixLength, Array(file[..<Self.blobMagic.count]) == Self.blobMagic,
              file[Self.blobMagic.count] == Self.blobVersion,
              let bytes = try AESGCM.open(file[prefixLength...], key: dataKey, associatedData: Self.blobAssociatedData(name))
        else { throw .corrupt(name) }
        return bytes
    }

    /// Removes the blob `name`, if there is one. Durable when it returns.
    ///
    /// - Throws: `VaultError.invalidName`, `.storageFailed`, `.closed`.
    public func remove(named name: String) throws(VaultError) {
        try Self.validate(name)
        try directory.withOpenDirectory { handle throws(VaultError) in
            try handle.removeFile(name + Self.blobSuffix)
        }
    }

    private static func validate(_ name: String) throws(VaultError) {
        guard isValidName(name) else { throw .invalidName(name) }
    }

    private static func blobAssociatedData(_ name: String) -> [UInt8] {
        blobMagic + [blobVersion] + Array(name.utf8)
    }

    // MARK: - History

    /// The message history (`history.log`), read and checked on the first call; every later
    /// call returns the same log, so there is only ever one writer of the file.
    ///
    /// - Throws: `VaultError.corrupt("history.log")` if a record was altered (the file is left
    ///   as it is); `.storageFailed`, `.cryptoFailed`, `.closed`.
    public func openHistory() throws(VaultError) -> HistoryLog {
        lock.lock()
        defer { lock.unlock() }
        if let history { return history }
        let opened = try HistoryLog(directory: directory, key: dataKey)
        history = opened
        return opened
    }
}

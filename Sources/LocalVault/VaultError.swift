/// What went wrong with the vault or its history, grouped by what the caller has to do.
public enum VaultError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The password does not unwrap the data key (or `vault.key` was altered, which looks the
    /// same to AES-GCM). Ask again.
    case wrongPassword
    /// There is no vault in the directory: create one (`Vault.create`).
    case noVault(path: String)
    /// `Vault.create` found a vault already there: open it instead.
    case alreadyExists(path: String)
    /// The named file (`vault.key`, `history.log`, or a blob's name) was altered, swapped or
    /// damaged: its contents cannot be trusted. Tell the user; restoring a backup or removing
    /// the file are theirs to choose.
    case corrupt(String)
    /// A blob name is not a simple identifier (see `Vault.isValidName`): a programming error.
    case invalidName(String)
    /// An entry or blob is larger than this vault stores (`limit` bytes): a programming error.
    case tooLarge(String, limit: Int)
    /// The state directory was closed; the vault and its history can no longer be used.
    case closed
    /// The file system refused (permissions, a full disk, an I/O error); nothing was changed
    /// unless the description says otherwise. Show it to the user.
    case storageFailed(String)
    /// OpenSSL failed (out of memory, no randomness). Nothing was changed.
    case cryptoFailed(String)

    public var description: String {
        switch self {
        case .wrongPassword:
            return "wrong password for the local vault"
        case .noVault(let path):
            return "there is no local vault in \(path)"
        case .alreadyExists(let path):
            return "a local vault already exists in \(path)"
        case .corrupt(let name):
            return "the local file \(name) was altered or damaged and cannot be read"
        case .invalidName(let name):
            return "\"\(name)\" is not a valid vault entry name"
        case .tooLarge(let name, let limit):
            return "\(name) is larger than the \(limit) bytes the vault stores"
        case .closed:
            return "the local state directory is closed"
        case .storageFailed(let reason):
            return reason
        case .cryptoFailed(let reason):
            return "encryption failed: \(reason)"
        }
    }
}

import Foundation
import LocalVault
import SecureMessaging

/// This user's state on this machine: the locked state directory, the vault sealed with
/// the password, the messenger's keys and sessions in it, and the message history.
final class LocalState {
    let directory: StateDirectory
    let vault: Vault
    let messenger: Messenger
    let history: HistoryLog
    /// Whether the vault was made now (a first login on this machine).
    let isNew: Bool

    /// Opens (or, on the first login here, makes) the vault in `directory`, already locked
    /// for this client. Blocking: scrypt runs once. On failure the directory stays open
    /// for another try.
    init(directory: StateDirectory, username: String, password: String) throws {
        self.directory = directory
        isNew = !Vault.exists(at: directory)
        vault = isNew
            ? try Vault.create(at: directory, password: password)
            : try Vault.open(at: directory, password: password)
        messenger = try Messenger(username: username, storage: vault)
        history = try vault.openHistory()
    }

    /// Locks this user's state directory: `explicitPath` if given, else the default for
    /// the server `host`:`port`. Done before logging in, so that a second client on the
    /// same directory is refused before it could displace the first one's session.
    static func lock(explicitPath: String?, host: String, port: Int, username: String) throws -> StateDirectory {
        try StateDirectory(explicitPath: explicitPath, host: host, port: port, username: username)
    }

    /// Releases the directory's lock.
    func close() {
        directory.close()
    }
}

/// Why the state directory could not be found, made or taken, by what the user has to do.
public enum StateDirectoryError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Another chat-client holds the directory's lock: quit that one, or pass another
    /// `--state-dir`.
    case inUse(path: String)
    /// Neither `--state-dir`, `XDG_DATA_HOME` nor `HOME` says where the state goes.
    case noLocation
    /// The path exists and is not a directory: pass another `--state-dir`.
    case notADirectory(path: String)
    /// The directory belongs to another user: keys must not live where someone else can
    /// swap them. Pass another `--state-dir`.
    case ownedByAnotherUser(path: String)
    /// The file system refused (permissions, a full disk); `reason` says which call and why.
    case unavailable(path: String, reason: String)

    public var description: String {
        switch self {
        case .inUse(let path):
            return "another chat-client is using \(path)"
        case .noLocation:
            return "cannot tell where to keep local state: neither XDG_DATA_HOME nor HOME is set; pass --state-dir"
        case .notADirectory(let path):
            return "\(path) is not a directory"
        case .ownedByAnotherUser(let path):
            return "\(path) belongs to another user"
        case .unavailable(let path, let reason):
            return "cannot use \(path): \(reason)"
        }
    }
}

/// Failures of an `AccountStore` that are about accounts rather than storage.
///
/// Storage failures (I/O, a closed or corrupt file) are `StorageError`s.
enum AccountStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `create` was called for a username that already has an account.
    case usernameTaken(String)
    /// `update` was called for a username that has no account.
    case notFound(String)

    var description: String {
        switch self {
        case .usernameTaken(let username):
            return "username \(username) is already taken"
        case .notFound(let username):
            return "no account named \(username)"
        }
    }
}

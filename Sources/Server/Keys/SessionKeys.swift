import NIOCore
import Shared

/// The key directory, as a logged-in session needs it: requests answered with the frames
/// to send. Futures complete on the loop passed in.
protocol SessionKeys: Sendable {
    /// Publishes `keys` for `username`. Answers `ok` with the one-time prekeys now stored, or
    /// an error frame (`too_many_prekeys`, `internal`).
    func publish(_ keys: PublishedKeys, username: String, requestID: Int, on loop: EventLoop)
        -> EventLoopFuture<ServerFrame>

    /// Hands out `target`'s bundle, taking one of their one-time prekeys; tells the owner,
    /// if online, when few are left. Answers `keys`, or an error frame (`unknown_user`,
    /// `no_keys`, `internal`).
    func fetch(_ target: String, requestID: Int, on loop: EventLoop) -> EventLoopFuture<ServerFrame>

    /// What the login's `ok` says about the user's own keys. Fails with the `ProtocolError`
    /// to answer the login with (`internal`).
    func ownKeys(username: String, requestID: Int, on loop: EventLoop) -> EventLoopFuture<OwnKeys>
}

/// A user's own published keys, as the login's `ok` reports them.
struct OwnKeys: Equatable, Sendable {
    /// Their identity key; nil when they have published none.
    var identityKey: [UInt8]?
    /// Their one-time prekeys stored; nil when they have published no keys.
    var preKeyCount: Int?

    /// A user who has published nothing.
    static let none = OwnKeys(identityKey: nil, preKeyCount: nil)
}

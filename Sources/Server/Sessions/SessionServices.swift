import Logging

/// What every session shares: accounts and the registry of who is online.
struct SessionServices: Sendable {
    let accounts: AccountService
    let registry: SessionRegistry
    /// Bad frames in a row before a connection is closed.
    let maximumBadFrames: Int
}

import Logging

/// What every session shares: accounts, message delivery and the registry of who is online.
struct SessionServices: Sendable {
    let accounts: AccountService
    let messages: MessageService
    let registry: PresenceRegistry
    /// Bad frames in a row before a connection is closed.
    let maximumBadFrames: Int
}

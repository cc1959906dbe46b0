import Logging
import NIOCore

/// What every session shares: accounts, message delivery and the registry of who is online.
struct SessionServices: Sendable {
    let accounts: AccountService
    let messages: MessageService
    let registry: PresenceRegistry
    /// Bad frames in a row before a connection is closed.
    let maximumBadFrames: Int
    /// Time allowed from connecting to logging in.
    var loginTimeout: TimeAmount = .seconds(60)
    /// Per-session message rate (per second) and burst.
    var messageRate: Double = 10
    var messageBurst = 20
    /// How long a client that stopped reading keeps its connection.
    var stalledReaderTimeout: TimeAmount = .seconds(30)
}

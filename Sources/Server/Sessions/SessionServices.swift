import NIOCore

/// What every session shares: the services, and the limits each session applies.
struct SessionServices: Sendable {
    let accounts: any SessionAccounts
    let delivery: any SessionDelivery
    let keys: any SessionKeys
    let files: any SessionFiles
    var limits: SessionLimits
}

/// The per-session limits, with their documented defaults (written here once; the server's
/// options and configuration take them from here).
struct SessionLimits: Sendable, Equatable {
    /// Bad frames in a row before a connection is closed.
    var maximumBadFrames = 5
    /// Time allowed from connecting to logging in.
    var loginTimeout: TimeAmount = .seconds(60)
    /// Messages a session may send per second, on average.
    var messageRate: Double = 10
    /// Messages a session may send at once before the rate applies.
    var messageBurst = 20
    /// How long a client that stopped reading keeps its connection.
    var stalledReaderTimeout: TimeAmount = .seconds(30)
}

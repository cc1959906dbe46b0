import Logging

/// The open stores of one backend, and how to close them.
struct Stores: Sendable {
    /// Where accounts live.
    let accounts: any AccountStore
    /// Every user's offline inbox.
    let inbox: any InboxStore
    /// Closes both stores, then gives up what the backend holds (for GDBM, the data
    /// directory's lock). Call it once, after the last call on either store has returned.
    let close: @Sendable () async -> Void
}

/// Removes everything the stores hold for one user: the account, the published keys, the
/// inbox and the files they sent or were sent. Used when the user deletes their account, when the operator does, and when a name
/// is registered again (to clear what a removal cut short left behind).
///
/// The order keeps a removal stopped half-way (a crash, a failing disk) harmless and
/// finishable by running it again: once the account is gone nobody can log in as it or open
/// a chat with it; once the keys are gone, a partner whose chat was already open is refused
/// (`identity_changed`, then `unknown_user`) rather than filling an inbox nobody will read;
/// the inbox and then the files go last, so they take whatever came in meanwhile.
struct AccountRemoval: Sendable {
    /// What a removal found and deleted.
    struct Removed: Equatable, Sendable {
        /// The account record was there.
        var account = false
        /// Published keys were there.
        var keys = false
        /// Messages that were waiting in the inbox.
        var messages = 0
        /// Files to or from the user, held or done with.
        var files = 0

        /// Whether anything at all was there.
        var foundAnything: Bool { account || keys || messages > 0 || files > 0 }
    }

    let accounts: any AccountStore
    let inbox: any InboxStore
    let files: any FileStore
    /// Deletes a user's keys: through the server's `KeyDirectory` while it runs (so its
    /// copy of identity keys follows), or the `KeyStore` itself.
    let deleteKeys: @Sendable (String) async throws -> Bool

    /// Removes `username`'s account, keys, inbox and files, in that order; `beforeInbox` runs after
    /// the keys and before the inbox (the operator's path closes the user's live session
    /// there, so the live messages it never acknowledged go to the inbox, and with it).
    ///
    /// - Throws: `StorageError`; what was removed before the failure stays removed.
    func remove(_ username: String, beforeInbox: @Sendable () async -> Void = {}) async throws -> Removed {
        var removed = Removed()
        removed.account = try await accounts.delete(username: username)
        removed.keys = try await deleteKeys(username)
        await beforeInbox()
        removed.messages = try await inbox.removeAll(recipient: username)
        removed.files = try await files.removeAll(username: username)
        return removed
    }

    /// Deletes the keys, inbox and files of a name that has no account: what a removal cut
    /// short left behind, which a new account of that name must not inherit.
    func removeLeftovers(of username: String) async throws {
        _ = try await deleteKeys(username)
        try await inbox.removeAll(recipient: username)
        try await files.removeAll(username: username)
    }
}

import Foundation
import Logging
import NIOPosix
import Shared

/// Carries out the operator's requests on the stores, logging each with who made it: in
/// `chat-server admin` when it opens the store itself, and in the running server for
/// requests through its admin socket (`AdminSocket`). Wherever the sessions can be reached
/// (`AdminReach`), it closes those of users it locks, deletes or gives a one-time password.
final class AdminService: Sendable {
    private let accounts: any AccountStore
    private let inbox: any InboxStore
    private let files: any FileStore
    private let removal: AccountRemoval
    private let footprint: @Sendable () async throws -> StoreFootprint
    private let sessions: AdminReach
    private let hasher: PasswordHasher
    private let logger: Logger

    /// - Parameters:
    ///   - deleteKeys: how a deleted user's keys go (see `AccountRemoval`).
    ///   - footprint: the store's size on disk, for `stats`.
    init(
        accounts: any AccountStore, inbox: any InboxStore, files: any FileStore,
        deleteKeys: @escaping @Sendable (String) async throws -> Bool,
        footprint: @escaping @Sendable () async throws -> StoreFootprint, sessions: AdminReach, hasher: PasswordHasher,
        logger: Logger
    ) {
        self.accounts = accounts
        self.inbox = inbox
        self.files = files
        self.removal = AccountRemoval(accounts: accounts, inbox: inbox, files: files, deleteKeys: deleteKeys)
        self.footprint = footprint
        self.sessions = sessions
        self.hasher = hasher
        self.logger = logger
    }

    /// Carries out `request` for `operatorName` (who is asking: an OS user, named in the log).
    func perform(_ request: AdminRequest, by operatorName: String) async -> AdminReply {
        var logger = self.logger
        logger[metadataKey: "operator"] = "\(operatorName)"
        let reply: AdminReply
        do {
            reply = try await carryOut(request)
        } catch let failure as AdminFailure {
            reply = .failed(failure)
        } catch {
            logger.error("admin \(AdminLineCodec.encode(request)) failed: \(error)")
            reply = .failed(AdminFailure(code: .storage, message: "the store failed: \(error)"))
        }
        let level: Logger.Level = request.changesState ? .notice : .info
        switch reply {
        case .failed(let failure):
            logger.log(level: level, "admin \(AdminLineCodec.encode(request)) refused: \(failure.message)")
        case .done(let text):
            logger.log(level: level, "admin \(AdminLineCodec.encode(request)): \(text)")
        case .oneTimePassword(let username, _, let session):
            // Never the password itself.
            logger.log(
                level: level, "admin reset-password \(username): one-time password issued\(session.map { "; \($0)" } ?? "")")
        case .users, .statistics:
            logger.log(level: level, "admin \(AdminLineCodec.encode(request))")
        }
        return reply
    }

    private func carryOut(_ request: AdminRequest) async throws -> AdminReply {
        switch request {
        case .users: return .users(try await users())
        case .stats: return .statistics(try await statistics())
        case .lock(let name): return .done(try await setLocked(true, name))
        case .unlock(let name): return .done(try await setLocked(false, name))
        case .delete(let name): return .done(try await delete(name))
        case .resetPassword(let name):
            let username = try Self.validated(name)
            let (password, session) = try await resetPassword(username)
            return .oneTimePassword(username: username, password: password, session: session)
        }
    }

    // MARK: - Looking

    private func users() async throws -> [UserSummary] {
        let usage = try await inbox.usage()
        return try await accounts.all().map { UserSummary($0, inbox: usage[$0.username] ?? InboxUsage()) }
    }

    private func statistics() async throws -> ServerStatistics {
        let all = try await accounts.all()
        let usage = try await inbox.usage()
        let held = try await files.usage()
        let store = try await footprint()
        let sessionCount: Int
        switch sessions {
        case .live(let live): sessionCount = try await live.onlineCount()
        case .noServer: sessionCount = 0
        }
        return ServerStatistics(
            sessions: sessionCount,
            accounts: all.count,
            lockedAccounts: all.count(where: \.isLocked),
            inboxes: usage.values.count(where: { $0.messages > 0 }),
            inbox: usage.values.reduce(into: InboxUsage()) { total, inbox in
                total.messages += inbox.messages
                total.bytes += inbox.bytes
            },
            fileRecipients: held.values.count(where: { $0 > 0 }),
            fileBytes: held.values.reduce(0, +),
            store: store.description,
            storeBytes: store.bytes)
    }

    // MARK: - Changing

    private func setLocked(_ locked: Bool, _ name: String) async throws -> String {
        let username = try Self.validated(name)
        let before = Locked<Bool?>(nil)
        let changed = try await accounts.modify(username: username) { account in
            before.withLock { $0 = account.isLocked }
            account.isLocked = locked
        }
        guard changed != nil else {
            throw Self.unknownUser(username)
        }
        let word = locked ? "locked" : "unlocked"
        if before.withLock({ $0 }) == locked {
            return "\(username) was already \(word)"
        }
        guard locked else {
            return "\(username) is unlocked and may log in again"
        }
        return "\(username) is locked" + (await closeSession(of: username, notice: .accountLocked).map { "; \($0)" } ?? "")
    }

    private func delete(_ name: String) async throws -> String {
        let username = try Self.validated(name)
        let sessionNote = Locked<String?>(nil)
        let removed = try await removal.remove(username) {
            // After the keys, before the inbox: what the session never acknowledged goes to
            // the inbox as it closes, and from there with the rest.
            let note = await self.closeSession(of: username, notice: .accountDeleted)
            sessionNote.withLock { $0 = note }
        }
        guard removed.foundAnything else {
            throw Self.unknownUser(username)
        }
        var parts: [String] = []
        if removed.account { parts.append("account") }
        if removed.keys { parts.append("published keys") }
        parts.append(removed.messages == 1 ? "1 waiting message" : "\(removed.messages) waiting messages")
        if removed.files > 0 {
            parts.append(removed.files == 1 ? "1 file sent or held" : "\(removed.files) files sent or held")
        }
        let what = parts.joined(separator: ", ")
        let summary =
            removed.account
            ? "\(username) is deleted: \(what)"
            : "\(username) had no account; deleted what an earlier deletion left: \(what)"
        return summary + (sessionNote.withLock { $0 }.map { "; \($0)" } ?? "")
    }

    /// Gives `username` a one-time password and closes their session (whoever holds it
    /// must not go on under the password the operator replaced); returns the password and
    /// what became of the session, for the operator.
    private func resetPassword(_ username: String) async throws -> (password: String, session: String?) {
        let password = try OneTimePassword.generate()
        let hasher = self.hasher
        // The KDF blocks: on NIO's shared pool, not the caller's thread (a rare request).
        let hash = try await NIOThreadPool.singleton.runIfActive { try hasher.hash(password: password) }
        let changed = try await accounts.modify(username: username) { account in
            account.passwordHash = hash
            account.mustChangePassword = true
        }
        guard changed != nil else {
            throw Self.unknownUser(username)
        }
        let session = await closeSession(of: username, notice: .passwordReset)
        if case .live(let live) = sessions {
            await live.forgetFailedLogins(of: username)
        }
        return (password, session)
    }

    /// Closes `username`'s live session wherever the sessions can be reached; the clause
    /// that says what happened, for the operator, or nil when there was nothing to close.
    private func closeSession(of username: String, notice: NoticeCode) async -> String? {
        switch sessions {
        case .live(let live): await live.close(username, notice: notice).clause
        case .noServer: nil
        }
    }

    // MARK: - Names

    private static func validated(_ name: String) throws(AdminFailure) -> String {
        do {
            return try Username(name).value
        } catch {
            throw AdminFailure(code: .invalidRequest, message: "'\(name)' cannot be a username: \(Username.ruleText)")
        }
    }

    private static func unknownUser(_ username: String) -> AdminFailure {
        AdminFailure(code: .unknownUser, message: "no such user: \(username)")
    }
}

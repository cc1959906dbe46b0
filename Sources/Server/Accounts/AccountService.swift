import Foundation
import Logging
import NIOCore
import NIOPosix
import Shared

/// Registration, login and a user's own account requests (password, deletion): validation,
/// the KDF on a thread pool, throttling, storage.
///
/// Every method returns a future on the caller's event loop. The KDF runs on `threadPool`,
/// never on an event loop, at background priority (`BackgroundPriority`): that pool must be
/// one of its own. The store does its own blocking work on threads of its own.
final class AccountService: Sendable {
    private let store: AccountStore
    private let removal: AccountRemoval
    private let hasher: PasswordHasher
    private let throttle: LoginThrottle
    private let threadPool: NIOThreadPool
    private let logger: Logger

    /// - Parameters:
    ///   - inbox, files, deleteKeys: where a deleted account's inbox, files and keys go from
    ///     (see `AccountRemoval`).
    init(
        store: AccountStore, inbox: InboxStore, files: any FileStore,
        deleteKeys: @escaping @Sendable (String) async throws -> Bool,
        hasher: PasswordHasher, throttle: LoginThrottle, threadPool: NIOThreadPool, logger: Logger
    ) {
        self.store = store
        self.removal = AccountRemoval(accounts: store, inbox: inbox, files: files, deleteKeys: deleteKeys)
        self.hasher = hasher
        self.throttle = throttle
        self.threadPool = threadPool
        self.logger = logger
    }

    /// Creates an account. Succeeds with the normalised username, or fails with the
    /// `ProtocolError` to send (invalid name or password, name taken, storage failure).
    func register(id: Int, username rawName: String, password: String, on loop: EventLoop) -> EventLoopFuture<String> {
        let username: Username
        do {
            username = try Username(rawName)
        } catch {
            return loop.makeFailedFuture(ProtocolError(.invalidUsername, message: "\(error)", id: id))
        }
        do {
            try PasswordPolicy.validate(password)
        } catch {
            return loop.makeFailedFuture(ProtocolError(.invalidPassword, message: "\(error)", id: id))
        }
        let logger = self.logger
        return loop.makeFutureWithTask { [self] () async throws -> String in
            // Checked before hashing so a taken name costs no KDF; create() checks again.
            if try await store.find(username: username.value) != nil {
                throw ProtocolError(.usernameTaken, id: id)
            }
            // A deleted account of this name whose removal was cut short may have left keys or
            // messages: the new account starts without them.
            try await removal.removeLeftovers(of: username.value)
            let hash = try await hash(password)
            do {
                try await store.create(Account(username: username, passwordHash: hash, createdAt: Date()))
            } catch AccountStoreError.usernameTaken {
                throw ProtocolError(.usernameTaken, id: id)
            }
            return username.value
        }.flatMapErrorThrowing { error in
            if let error = error as? ProtocolError { throw error }
            logger.error("registration could not be stored: \(error)", metadata: ["user": "\(username.value)"])
            throw ProtocolError(.internal, message: "account could not be stored; try again later", id: id)
        }
    }

    /// Checks a login and records its time. Succeeds with the normalised username and
    /// whether the password must be changed; fails with `bad_credentials` (the same for an
    /// unknown user and a wrong password, at the same cost), `account_locked` (only with the
    /// right password, so a guesser learns nothing), `throttled`, or `internal`.
    func login(id: Int, username rawName: String, password: String, address: String, on loop: EventLoop)
        -> EventLoopFuture<LoginGrant>
    {
        // A name that cannot exist is still answered like a wrong password, after the same work.
        let name = (try? Username(rawName))?.value
        let throttleKey = name ?? rawName.lowercased()
        let logger = self.logger
        return loop.makeFutureWithTask { [self] () async throws -> LoginGrant in
            if let wait = await retryAfter(username: throttleKey, address: address) {
                throw ProtocolError.throttled(retryAfter: wait, id: id)
            }
            let verified = try await verifiedAccount(
                name, password: password, throttleKey: throttleKey, address: address,
                refusal: ProtocolError(.badCredentials, id: id))
            guard !verified.isLocked else {
                throw ProtocolError(.accountLocked, id: id)
            }
            do {
                try await throttle.recordSuccess(username: verified.username)
            } catch {
                logger.warning("login success not recorded for the back-off: \(error)", metadata: ["user": "\(verified.username)"])
            }
            // Raised parameters apply at the next login; a failure here is not the user's.
            let upgrade: PasswordHash? =
                verified.passwordHash.needsRehash(current: hasher.parameters) ? try? await hash(password) : nil
            let now = Account.wholeSeconds(Date())
            let recorded: Account?
            do {
                recorded = try await store.modify(username: verified.username) { account in
                    // Locked while the password was being checked: the lock wins.
                    guard !account.isLocked else { throw LockedMeanwhile() }
                    account.lastLoginAt = now
                    // Not over a password changed meanwhile.
                    if let upgrade, account.passwordHash == verified.passwordHash {
                        account.passwordHash = upgrade
                    }
                }
            } catch is LockedMeanwhile {
                throw ProtocolError(.accountLocked, id: id)
            } catch {
                logger.warning("could not record the login: \(error)", metadata: ["user": "\(verified.username)"])
                recorded = verified
            }
            guard let recorded else {
                // Deleted while the password was being checked.
                throw ProtocolError(.badCredentials, id: id)
            }
            return LoginGrant(username: recorded.username, mustChangePassword: recorded.mustChangePassword)
        }.flatMapErrorThrowing { error in
            if let error = error as? ProtocolError { throw error }
            logger.error("login could not be checked: \(error)")
            throw ProtocolError(.internal, message: "login could not be checked; try again later", id: id)
        }
    }

    /// Thrown inside `modify` to leave an account alone that was locked meanwhile.
    private struct LockedMeanwhile: Error {}
}

extension AccountService {
    /// Changes a logged-in user's password. The current one is checked as at login, and
    /// failures count towards the same back-off, so a session left open cannot be used to
    /// guess it faster than a login could.
    func changePassword(
        id: Int, username: String, password: String, newPassword: String, address: String, on loop: EventLoop
    ) -> EventLoopFuture<Void> {
        do {
            try PasswordPolicy.validate(newPassword)
        } catch {
            return loop.makeFailedFuture(ProtocolError(.invalidPassword, message: error.description, id: id))
        }
        let logger = self.logger
        return loop.makeFutureWithTask { [self] () async throws in
            if let wait = await retryAfter(username: username, address: address) {
                throw ProtocolError.throttled(retryAfter: wait, id: id)
            }
            let account = try await verifiedAccount(
                username, password: password, throttleKey: username, address: address,
                refusal: ProtocolError(.badCredentials, message: "the current password is wrong", id: id))
            if account.mustChangePassword && newPassword == password {
                throw ProtocolError(
                    .invalidPassword, message: "choose a new password, not the one-time password again", id: id)
            }
            let hash = try await hash(newPassword)
            let changed = try await store.modify(username: username) { account in
                account.passwordHash = hash
                account.mustChangePassword = false
            }
            guard changed != nil else {
                throw ProtocolError(.internal, message: "your account no longer exists", id: id)
            }
            logger.notice("password changed", metadata: ["user": "\(username)"])
        }.flatMapErrorThrowing { error in
            if let error = error as? ProtocolError { throw error }
            logger.error("password could not be changed: \(error)", metadata: ["user": "\(username)"])
            throw ProtocolError(.internal, message: "password could not be changed; try again later", id: id)
        }
    }
}

extension AccountService {
    /// Deletes a logged-in user's account, keys and inbox, once `password` is checked as at
    /// login (failures count towards the same back-off).
    func deleteAccount(id: Int, username: String, password: String, address: String, on loop: EventLoop)
        -> EventLoopFuture<Void>
    {
        let logger = self.logger
        return loop.makeFutureWithTask { [self] () async throws in
            if let wait = await retryAfter(username: username, address: address) {
                throw ProtocolError.throttled(retryAfter: wait, id: id)
            }
            _ = try await verifiedAccount(
                username, password: password, throttleKey: username, address: address,
                refusal: ProtocolError(.badCredentials, message: "the password is wrong", id: id))
            let removed = try await removal.remove(username)
            logger.notice(
                "account deleted by its user",
                metadata: [
                    "user": "\(username)", "keys": "\(removed.keys)", "messages": "\(removed.messages)",
                    "files": "\(removed.files)",
                ])
        }.flatMapErrorThrowing { error in
            if let error = error as? ProtocolError { throw error }
            logger.error("account could not be deleted: \(error)", metadata: ["user": "\(username)"])
            throw ProtocolError(.internal, message: "your account could not be deleted; try again later", id: id)
        }
    }
}

extension AccountService {
    /// The account `name` when `password` is its password. Otherwise, an unknown name
    /// included (after the same work, against a dummy hash), records a failure for the
    /// back-off and throws `refusal`.
    private func verifiedAccount(
        _ name: String?, password: String, throttleKey: String, address: String, refusal: ProtocolError
    ) async throws -> Account {
        let account = if let name { try await store.find(username: name) } else { Account?.none }
        let hasher = self.hasher
        let valid = try await threadPool.runIfActive {
            BackgroundPriority.applyToCurrentThread()
            return try hasher.verify(password: password, against: account?.passwordHash)
        }
        guard valid, let account else {
            do {
                try await throttle.recordFailure(username: throttleKey, address: address)
            } catch {
                logger.warning("failed login not recorded for the back-off: \(error)")
            }
            throw refusal
        }
        return account
    }

    /// The throttle's wait for this attempt. A ledger that cannot be read lets the attempt
    /// through (the store it shares a database with is then most likely away too, and the
    /// attempt fails on the account lookup), and is logged.
    private func retryAfter(username: String, address: String) async -> Int? {
        do {
            return try await throttle.retryAfter(username: username, address: address)
        } catch {
            logger.warning("login back-off not read: \(error)")
            return nil
        }
    }

    /// `password` hashed with the current parameters, on the pool at background priority.
    private func hash(_ password: String) async throws -> PasswordHash {
        let hasher = self.hasher
        return try await threadPool.runIfActive {
            BackgroundPriority.applyToCurrentThread()
            return try hasher.hash(password: password)
        }
    }
}

extension AccountService: SessionAccounts {}

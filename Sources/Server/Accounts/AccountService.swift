import Foundation
import Logging
import NIOCore
import NIOPosix
import Shared

/// Registration and login: validation, the KDF on a thread pool, throttling, storage.
///
/// Every method returns a future on the caller's event loop. The KDF runs on `threadPool`,
/// never on an event loop, at background priority (`BackgroundPriority`): that pool must be
/// one of its own. The store does its own blocking work on threads of its own.
final class AccountService: Sendable {
    private let store: AccountStore
    private let hasher: PasswordHasher
    private let throttle: LoginThrottle
    private let threadPool: NIOThreadPool
    private let logger: Logger

    init(store: AccountStore, hasher: PasswordHasher, throttle: LoginThrottle, threadPool: NIOThreadPool, logger: Logger) {
        self.store = store
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

    /// Checks a login. Succeeds with the normalised username; fails with `bad_credentials`
    /// (the same for an unknown user and a wrong password, at the same cost), `throttled`,
    /// or `internal`.
    func login(id: Int, username rawName: String, password: String, address: String, on loop: EventLoop)
        -> EventLoopFuture<String>
    {
        // A name that cannot exist is still answered like a wrong password, after the same work.
        let name = (try? Username(rawName))?.value
        let throttleKey = name ?? rawName.lowercased()
        let logger = self.logger
        return loop.makeFutureWithTask { [self] () async throws -> String in
            if let wait = await retryAfter(username: throttleKey, address: address) {
                throw ProtocolError.throttled(retryAfter: wait, id: id)
            }
            let account = try await verifiedAccount(
                name, password: password, throttleKey: throttleKey, address: address,
                refusal: ProtocolError(.badCredentials, id: id))
            do {
                try await throttle.recordSuccess(username: account.username)
            } catch {
                logger.warning("login success not recorded for the back-off: \(error)", metadata: ["user": "\(account.username)"])
            }
            if account.passwordHash.needsRehash(current: hasher.parameters) {
                // Raised parameters apply at the next login; a failure here is not the user's.
                do {
                    var upgraded = account
                    upgraded.passwordHash = try await hash(password)
                    try await store.update(upgraded)
                } catch {
                    logger.warning("could not rehash password: \(error)", metadata: ["user": "\(account.username)"])
                }
            }
            return account.username
        }.flatMapErrorThrowing { error in
            if let error = error as? ProtocolError { throw error }
            logger.error("login could not be checked: \(error)")
            throw ProtocolError(.internal, message: "login could not be checked; try again later", id: id)
        }
    }
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
            var account = try await verifiedAccount(
                username, password: password, throttleKey: username, address: address,
                refusal: ProtocolError(.badCredentials, message: "the current password is wrong", id: id))
            account.passwordHash = try await hash(newPassword)
            try await store.update(account)
            logger.notice("password changed", metadata: ["user": "\(username)"])
        }.flatMapErrorThrowing { error in
            if let error = error as? ProtocolError { throw error }
            logger.error("password could not be changed: \(error)", metadata: ["user": "\(username)"])
            throw ProtocolError(.internal, message: "password could not be changed; try again later", id: id)
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

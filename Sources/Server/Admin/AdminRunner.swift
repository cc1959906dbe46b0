import ArgumentParser
import Foundation
import Logging
import Shared

/// What `chat-server admin` does with a request: sends it to the running server's admin
/// socket, or, when none answers, carries it out on the store itself; then prints the reply.
enum AdminRunner {
    /// Carries out `request` on the store `store` names.
    ///
    /// - Throws: `ExitCode.failure` after printing why, when nothing was done.
    static func run(_ request: AdminRequest, store options: StoreOptions) async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        let logger = Logger(label: "chat-server-admin")
        var configuration = ServerConfiguration()
        options.apply(to: &configuration)
        let reply: AdminReply
        let origin: AdminReport.Origin
        do {
            if let path = configuration.adminSocketPath,
                let lines = try await AdminSocketClient.send(AdminLineCodec.encode(request), to: path)
            {
                reply = try AdminLineCodec.decodeReply(lines, to: request)
                origin = .server
            } else {
                (reply, origin) = try await direct(request, configuration: configuration, logger: logger)
            }
        } catch {
            Console.errorLine("chat-server admin: \(error)")
            throw ExitCode.failure
        }
        if case .failed(let failure) = reply {
            Console.errorLine("chat-server admin: \(failure.message)")
            throw ExitCode.failure
        }
        Console.writeLine(AdminReport.render(reply, origin: origin))
    }

    /// Opens the store, carries out `request` on it, closes it. On a database servers share,
    /// the sessions of every server are reached through it (`ClusterSessions`).
    private static func direct(
        _ request: AdminRequest, configuration: ServerConfiguration, logger: Logger
    ) async throws -> (AdminReply, AdminReport.Origin) {
        let stores: Stores
        do {
            stores = try await StorageBackend.open(
                configuration.storage, inboxLimits: configuration.inboxLimits, logger: logger)
        } catch StorageError.alreadyInUse(let message) {
            let socket = configuration.adminSocketPath.map { "its admin socket \($0)" } ?? "an admin socket"
            throw AdminSocketError("\(message), but nothing answers on \(socket)")
        }
        let hasher = try PasswordHasher(parameters: ScryptParameters(logN: configuration.scryptLogN, r: 8, p: 1))
        let sessions: AdminReach
        let origin: AdminReport.Origin
        if let directory = stores.presence {
            let throttle = LoginThrottle(baseDelay: configuration.throttleBaseDelay, ledger: stores.loginFailures)
            sessions = .live(ClusterSessions(directory: directory, throttle: throttle))
            origin = .sharedDatabase
        } else {
            // Opened, so no server holds the data directory.
            sessions = .noServer
            origin = .stoppedStore
        }
        let deleteKeys: @Sendable (String) async throws -> Bool = { username in
            let deleted = try await stores.keys.deleteKeys(username: username)
            // Running servers keep a copy of each identity key for `send`: tell them it went,
            // as a server deleting keys does (best effort, as there).
            try? await stores.presence?.sendNow(
                [Outgoing(to: .everyone, message: .keysChanged(username: username, identity: .none))])
            return deleted
        }
        let service = AdminService(
            accounts: stores.accounts, inbox: stores.inbox, files: stores.files, deleteKeys: deleteKeys,
            footprint: stores.footprint, sessions: sessions, hasher: hasher, logger: logger)
        let reply = await service.perform(request, by: OperatorIdentity.current())
        await stores.close()
        return (reply, origin)
    }
}

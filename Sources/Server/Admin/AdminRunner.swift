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
        let throughServer: Bool
        do {
            if let path = configuration.adminSocketPath,
                let lines = try await AdminSocketClient.send(AdminLineCodec.encode(request), to: path)
            {
                reply = try AdminLineCodec.decodeReply(lines, to: request)
                throughServer = true
            } else {
                reply = try await direct(request, configuration: configuration, logger: logger)
                throughServer = false
            }
        } catch {
            Console.errorLine("chat-server admin: \(error)")
            throw ExitCode.failure
        }
        if case .failed(let failure) = reply {
            Console.errorLine("chat-server admin: \(failure.message)")
            throw ExitCode.failure
        }
        Console.writeLine(AdminReport.render(reply, throughServer: throughServer))
    }

    /// Opens the store, carries out `request` on it, closes it.
    private static func direct(
        _ request: AdminRequest, configuration: ServerConfiguration, logger: Logger
    ) async throws -> AdminReply {
        let stores: Stores
        do {
            stores = try await StorageBackend.open(
                configuration.storage, inboxLimits: configuration.inboxLimits, logger: logger)
        } catch StorageError.alreadyInUse(let message) {
            let socket = configuration.adminSocketPath.map { "its admin socket \($0)" } ?? "an admin socket"
            throw AdminSocketError("\(message), but nothing answers on \(socket)")
        }
        let hasher = try PasswordHasher(parameters: ScryptParameters(logN: configuration.scryptLogN, r: 8, p: 1))
        let sessions: AdminReach =
            switch configuration.storage {
            // Opened, so no server holds the data directory.
            case .gdbm: .noServer
            case .postgres: .unreachable
            }
        let service = AdminService(
            accounts: stores.accounts, inbox: stores.inbox, files: stores.files,
            deleteKeys: { try await stores.keys.deleteKeys(username: $0) },
            footprint: stores.footprint, sessions: sessions, hasher: hasher, logger: logger)
        let reply = await service.perform(request, by: OperatorIdentity.current())
        await stores.close()
        return reply
    }
}

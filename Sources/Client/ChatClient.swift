import ChatSession
import Foundation
import Shared

/// Connects through the session library (to the first server that answers), runs the REPL,
/// and closes with close_notify.
struct ChatClient {
    /// Where to connect, in order: the first that answers is used, and the others are
    /// failed over to when it goes away.
    let servers: [ServerEndpoint]
    let caFile: String
    /// `--state-dir`: where keys and history live, if not the default.
    let stateDirectory: String?
    /// Ring the terminal's bell when a message waits from someone other than the partner.
    let bell: Bool
    /// `--downloads`: where accepted files go, if not the default.
    let downloads: String?

    /// Runs one session; returns the process exit status.
    func run() async -> Int32 {
        let configuration = SessionConfiguration(
            caFile: caFile, agent: ProtocolVersion.agent("chat-client"), acknowledgement: .afterShown)
        let connector: FailoverConnector
        do {
            connector = try FailoverConnector(endpoints: servers, configuration: configuration)
        } catch {
            Console.errorLine("chat-client: \(error)")
            return 2
        }

        let (events, continuation) = AsyncStream.makeStream(of: ClientEvent.self)
        let deliver: @Sendable (ClientEvent) -> Void = { continuation.yield($0) }
        let reconnect: @Sendable () async throws -> (ChatConnection, ServerEndpoint) = {
            try await connector.connect { deliver(.session($0)) }
        }
        let connection: ChatConnection
        let endpoint: ServerEndpoint
        do {
            (connection, endpoint) = try await reconnect()
        } catch SessionError.refused(let error) {
            Console.errorLine("Server refused the session: \(error.message)")
            return 1
        } catch {
            let names = servers.map(\.description).joined(separator: ", ")
            let target = servers.count == 1 ? names : "any of \(names)"
            Console.errorLine("chat-client: cannot connect to \(target): \(ConnectFailure.reason(for: error))")
            return 1
        }
        Console.writeLine(
            "Connected to \(endpoint) over \(connection.handshake.protocolVersion) "
                + "(\(connection.handshake.cipherSuite)); server certificate verified against \(caFile).")

        let terminal = Terminal()
        let signals = SignalWatcher(signals: [SIGINT, SIGTERM]) { _ in
            terminal.restore()
            deliver(.interrupted)
        }
        defer {
            signals.cancel()
            terminal.restore()
        }
        let primary = servers[0]
        let repl = ChatREPL(
            connection: connection, endpoint: endpoint, reconnect: reconnect, host: primary.host, port: primary.port,
            stateDirectory: stateDirectory, events: events, deliver: deliver, terminal: terminal,
            format: MessageFormatter(), bell: bell, downloads: downloads)
        let outcome = await repl.run()
        await repl.connection.close()
        return outcome.rawValue
    }
}

import ChatSession
import Foundation
import Shared

/// Connects through the session library, runs the REPL, and closes with close_notify.
struct ChatClient {
    let host: String
    let port: Int
    let caFile: String
    /// `--state-dir`: where keys and history live, if not the default.
    let stateDirectory: String?
    /// Ring the terminal's bell when a message waits from someone other than the partner.
    let bell: Bool

    /// Runs one session; returns the process exit status.
    func run() async -> Int32 {
        let configuration = SessionConfiguration(
            host: host, port: port, caFile: caFile, agent: ProtocolVersion.agent("chat-client"),
            acknowledgement: .afterShown)
        let connector: SessionConnector
        do {
            connector = try SessionConnector(configuration: configuration)
        } catch {
            Console.errorLine("chat-client: \(error)")
            return 2
        }

        let (events, continuation) = AsyncStream.makeStream(of: ClientEvent.self)
        let deliver: @Sendable (ClientEvent) -> Void = { continuation.yield($0) }
        let connection: ChatConnection
        do {
            connection = try await connector.connect { deliver(.session($0)) }
        } catch SessionError.refused(let error) {
            Console.errorLine("Server refused the session: \(error.message)")
            return 1
        } catch {
            Console.errorLine("chat-client: cannot connect to \(host):\(port): \(ConnectFailure.reason(for: error))")
            return 1
        }
        Console.writeLine(
            "Connected to \(host):\(port) over \(connection.handshake.protocolVersion) "
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
        let repl = ChatREPL(
            connection: connection, host: host, port: port, stateDirectory: stateDirectory, events: events,
            deliver: deliver, terminal: terminal, format: MessageFormatter(), bell: bell)
        let outcome = await repl.run()
        await connection.close()
        return outcome.rawValue
    }
}

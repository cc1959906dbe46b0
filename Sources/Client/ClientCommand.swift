import ArgumentParser
import ChatSession

private let defaults = SessionConfiguration.defaults

/// `chat-client`: parses the command line and runs the session; nothing else.
@main
struct ClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-client",
        abstract: "Secure 1-1 chat client. Verifies the server's certificate; there is no way to turn that off.")

    @Option(help: "Server host name or IP address (must be in the server certificate).")
    var host = defaults.host

    @Option(help: "Server port.")
    var port = defaults.port

    @Option(help: "PEM file of the CA that signed the server certificate.")
    var ca = defaults.caFile

    @Option(help: ArgumentHelp(
        "Directory of your keys and message history, sealed with your password.",
        discussion: "Default: $XDG_DATA_HOME/secure-chat/HOST_PORT/USER, else ~/.local/share/secure-chat/HOST_PORT/USER.",
        valueName: "path"))
    var stateDir: String?

    @Flag(help: "No terminal bell when a message waits from someone you are not chatting with.")
    var noBell = false

    func validate() throws {
        guard (1...65_535).contains(port) else {
            throw ValidationError("--port must be between 1 and 65535")
        }
    }

    func run() async throws {
        let status = await ChatClient(host: host, port: port, caFile: ca, stateDirectory: stateDir, bell: !noBell).run()
        if status != 0 {
            throw ExitCode(status)
        }
    }
}

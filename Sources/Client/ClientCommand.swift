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

    @Option(
        name: .customLong("server"),
        help: ArgumentHelp(
            "A server as HOST:PORT ([IPv6]:PORT); repeat it to fail over, tried in order.",
            discussion: "A host name with several addresses counts as several. Default: --host and --port.",
            valueName: "host:port"))
    var servers: [String] = []

    @Option(help: "PEM file of the CA that signed the server certificate.")
    var ca = defaults.caFile

    @Option(help: ArgumentHelp(
        "Directory of your keys and message history, sealed with your password.",
        discussion: "Default: $XDG_DATA_HOME/secure-chat/HOST_PORT/USER, else ~/.local/share/secure-chat/HOST_PORT/USER.",
        valueName: "path"))
    var stateDir: String?

    @Flag(help: "No terminal bell when a message waits from someone you are not chatting with.")
    var noBell = false

    @Option(help: ArgumentHelp(
        "Directory where accepted files are saved.",
        discussion: "Default: ~/Downloads/secure-chat, else a downloads directory in the state directory.",
        valueName: "path"))
    var downloads: String?

    func validate() throws {
        guard (1...65_535).contains(port) else {
            throw ValidationError("--port must be between 1 and 65535")
        }
        for server in servers where ServerEndpoint(parsing: server, defaultPort: port) == nil {
            throw ValidationError("--server \(server): expected HOST:PORT with a port between 1 and 65535")
        }
    }

    /// `--server`s in order, or `--host` and `--port`.
    private var endpoints: [ServerEndpoint] {
        let given = servers.compactMap { ServerEndpoint(parsing: $0, defaultPort: port) }
        return given.isEmpty ? [ServerEndpoint(host: host, port: port)] : given
    }

    func run() async throws {
        let status = await ChatClient(servers: endpoints, caFile: ca, stateDirectory: stateDir, bell: !noBell, downloads: downloads).run()
        if status != 0 {
            throw ExitCode(status)
        }
    }
}

import NIOCore
import Shared

/// The conversation with the user: register or log in, then wait at a prompt.
///
/// Straight-line async code over one merged event stream: waiting for a prompt's answer
/// or a reply to a request, it still notices the server's notices, Ctrl-C and a dropped
/// connection, and every way out goes through `leave`, which restores the terminal.
final class ChatREPL {
    /// How the session ended, as the process exit status.
    enum Outcome: Int32 {
        /// `exit`, Ctrl-D, or end of piped input: logged out and closed cleanly.
        case clean = 0
        /// The server closed the session (displaced, shutting down, dropped).
        case endedByServer = 1
        /// Ctrl-C.
        case interrupted = 130
    }

    /// Ends the REPL from anywhere inside it.
    private struct Leave: Error {
        let outcome: Outcome
    }

    private var events: AsyncStream<ClientEvent>.Iterator
    private let deliver: @Sendable (ClientEvent) -> Void
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private let input: TerminalInput
    private var nextRequestID = 1
    private var username: String?
    private var connected = true

    init(
        events: AsyncStream<ClientEvent>,
        deliver: @escaping @Sendable (ClientEvent) -> Void,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        input: TerminalInput
    ) {
        self.events = events.makeAsyncIterator()
        self.deliver = deliver
        self.outbound = outbound
        self.input = input
    }

    /// Runs until the user leaves or the server ends the session.
    func run() async -> Outcome {
        let outcome: Outcome
        do {
            try await greet()
            while true {
                if username == nil {
                    try await authenticate()
                } else {
                    try await loggedIn()
                }
            }
        } catch let leave as Leave {
            outcome = leave.outcome
        } catch {
            Console.errorLine("chat-client: \(error)")
            outcome = .endedByServer
        }
        input.restore()
        if connected, let _ = username, outcome != .endedByServer {
            // Log out politely; the answer is not worth waiting long for.
            try? await send(.logout(id: takeRequestID()))
        }
        return outcome
    }

    // MARK: - Flow

    private func greet() async throws {
        try await send(.hello(version: ProtocolVersion.current, agent: ProtocolVersion.agent("chat-client")))
        while true {
            switch try await nextFrame() {
            case .hello(let version, _) where version == ProtocolVersion.current:
                return
            case .hello:
                continue  // a version_mismatch error follows
            case .error(let error):
                Console.errorLine("Server refused the session: \(error.message)")
                throw Leave(outcome: .endedByServer)
            default:
                continue
            }
        }
    }

    private func authenticate() async throws {
        guard let choice = try await prompt("Register or login (R/L): ") else {
            throw Leave(outcome: .clean)
        }
        switch choice.trimmingCharacters(in: .whitespaces).lowercased() {
        case "r", "register":
            try await register()
        case "l", "login":
            try await login()
        case "":
            return
        default:
            Console.writeLine("Type R to register, L to log in, or exit to leave.")
        }
    }

    private func register() async throws {
        guard let name = try await prompt("Username: "),
            let password = try await prompt("Password: ", hidden: true),
            let confirmation = try await prompt("Confirm password: ", hidden: true)
        else { throw Leave(outcome: .clean) }
        guard password == confirmation else {
            Console.writeLine("Passwords do not match.")
            return
        }
        switch try await request({ .register(id: $0, username: name, password: password) }) {
        case .success:
            Console.writeLine("Registered \(name.lowercased()).")
            try await finishLogin(name: name, password: password)
        case .failure(let error):
            Console.writeLine(error.message)
        }
    }

    private func login() async throws {
        guard let name = try await prompt("Username: "),
            let password = try await prompt("Password: ", hidden: true)
        else { throw Leave(outcome: .clean) }
        try await finishLogin(name: name, password: password)
    }

    private func finishLogin(name: String, password: String) async throws {
        switch try await request({ .login(id: $0, username: name, password: password) }) {
        case .success(let canonical):
            username = canonical ?? name.lowercased()
            Console.writeLine("Logged in as \(username ?? name)")
        case .failure(let error):
            Console.writeLine(error.message)
        }
    }

    private func loggedIn() async throws {
        guard let line = try await prompt("\(username ?? "")> ") else {
            throw Leave(outcome: .clean)
        }
        if !line.trimmingCharacters(in: .whitespaces).isEmpty {
            Console.writeLine("Chatting arrives with the next protocol version; type exit to leave.")
        }
    }

    // MARK: - Primitives

    /// Shows `text` and waits for a line; nil on Ctrl-D / end of input. `exit` leaves.
    private func prompt(_ text: String, hidden: Bool = false) async throws -> String? {
        Console.write(text)
        input.requestLine(hidden: hidden, deliver: deliver)
        while true {
            switch try await nextEvent() {
            case .line(let line):
                if !hidden && line.trimmingCharacters(in: .whitespaces) == "exit" {
                    throw Leave(outcome: .clean)
                }
                return line
            case .endOfInput:
                if input.isTerminal { Console.write("\n") }
                return nil
            case .frame(let frame):
                try handleUnsolicited(frame)
            default:
                continue
            }
        }
    }

    /// Sends the request built with a fresh id and waits for its answer.
    private func request(_ build: (Int) -> ClientFrame) async throws -> Result<String?, ProtocolError> {
        let id = takeRequestID()
        try await send(build(id))
        while true {
            let frame = try await nextFrame()
            switch frame {
            case .ok(let replyID, let name) where replyID == id:
                return .success(name)
            case .error(let error) where error.id == id:
                return .failure(error)
            case .error(let error) where error.id == nil:
                Console.writeLine("Server: \(error.message)")
            default:
                try handleUnsolicited(frame)
            }
        }
    }

    private func nextFrame() async throws -> ServerFrame {
        while true {
            if case .frame(let frame) = try await nextEvent() {
                return frame
            }
        }
    }

    /// The next event; the ones that end the session (Ctrl-C, a dropped connection)
    /// throw `Leave` from here, wherever the REPL was waiting.
    private func nextEvent() async throws -> ClientEvent {
        while true {
            let event = await events.next() ?? .disconnected(nil)
            switch event {
            case .interrupted:
                input.restore()
                Console.write("\n")
                throw Leave(outcome: .interrupted)
            case .disconnected(let reason):
                connected = false
                input.restore()
                Console.writeLine(
                    "\nDisconnected: " + (reason.map { "the connection failed (\($0))" } ?? "the server closed the connection"))
                throw Leave(outcome: .endedByServer)
            case .badFrame(let error):
                Console.errorLine("chat-client: ignoring a bad frame from the server (\(error.message))")
            default:
                return event
            }
        }
    }

    private func handleUnsolicited(_ frame: ServerFrame) throws {
        switch frame {
        case .notice(let code, let message):
            input.restore()
            Console.writeLine("\n\(message.prefix(1).uppercased() + message.dropFirst()); the server is closing this session.")
            if code == .displaced || code == .shutdown {
                connected = false
                throw Leave(outcome: .endedByServer)
            }
        case .error(let error):
            Console.writeLine("Server: \(error.message)")
            if error.code.closesConnection {
                connected = false
                throw Leave(outcome: .endedByServer)
            }
        default:
            break
        }
    }

    private func send(_ frame: ClientFrame) async throws {
        try await outbound.write(frame.encode(allocator: ByteBufferAllocator()))
    }

    private func takeRequestID() -> Int {
        defer { nextRequestID += 1 }
        return nextRequestID
    }
}

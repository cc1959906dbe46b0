import Foundation
import NIOCore
import Shared

/// The conversation with the user: register or log in, read the inbox summary, choose
/// whom to chat with, then chat.
///
/// Straight-line async code over one merged event stream: while waiting for a prompt's
/// answer or a request's reply it still shows incoming messages and notices, notices
/// Ctrl-C and a dropped connection, and every way out goes through `run`'s exit path,
/// which restores the terminal.
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

    static let helpText = """
        Commands:
          /chat USER   chat with USER (stored messages from them are shown first)
          /leave       end the current chat, stay logged in
          /who         who is online, and whether free or chatting
          /inbox       waiting messages per sender
          /help        this list
          exit         log out and quit (Ctrl-D too)
        Anything else is sent to the person you are chatting with.
        """

    private var events: AsyncStream<ClientEvent>.Iterator
    private let deliver: @Sendable (ClientEvent) -> Void
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private let terminal: Terminal
    private let format: MessageFormatter
    private var nextRequestID = 1
    private var username: String?
    private var partner: String?
    private var connected = true
    /// Messages already shown, by id: the server may deliver one again after a crash.
    private var seen: Set<String> = []
    /// My messages awaiting "delivered", by id: (recipient, body).
    private var sent: [String: (to: String, body: String)] = [:]

    init(
        events: AsyncStream<ClientEvent>,
        deliver: @escaping @Sendable (ClientEvent) -> Void,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        terminal: Terminal,
        format: MessageFormatter
    ) {
        self.events = events.makeAsyncIterator()
        self.deliver = deliver
        self.outbound = outbound
        self.terminal = terminal
        self.format = format
    }

    /// Runs until the user leaves or the server ends the session.
    func run() async -> Outcome {
        let outcome: Outcome
        do {
            try await greet()
            while true {
                if username == nil {
                    try await authenticate()
                } else if partner == nil {
                    try await choosePartner()
                } else {
                    try await chat()
                }
            }
        } catch let leave as Leave {
            outcome = leave.outcome
        } catch {
            Console.errorLine("chat-client: \(error)")
            outcome = .endedByServer
        }
        terminal.restore()
        if connected, username != nil, outcome != .endedByServer {
            // Log out politely: the partner is told "left" rather than "disconnected".
            try? await send(.logout(id: takeRequestID()))
        }
        return outcome
    }

    // MARK: - Logged out

    private func greet() async throws {
        try await send(.hello(version: ProtocolVersion.current, agent: ProtocolVersion.agent("chat-client")))
        while true {
            switch try await nextFrame() {
            case .hello(let version, _) where version == ProtocolVersion.current:
                return
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
            say("Type R to register, L to log in, or exit to leave.")
        }
    }

    private func register() async throws {
        guard let name = try await prompt("Username: "),
            let password = try await prompt("Password: ", hidden: true),
            let confirmation = try await prompt("Confirm password: ", hidden: true)
        else { throw Leave(outcome: .clean) }
        guard password == confirmation else {
            say("Passwords do not match.")
            return
        }
        switch try await request({ .register(id: $0, username: name, password: password) }) {
        case .ok:
            say("Registered \(name.lowercased()).")
            try await finishLogin(name: name, password: password)
        case .error(let error):
            say(error.message)
        default:
            break
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
        case .ok(_, let canonical):
            let user = canonical ?? name.lowercased()
            username = user
            say("Logged in as \(user)")
            // The server follows the login with the inbox summary.
            while true {
                let frame = try await nextFrame()
                if case .error(let error) = frame, error.id == nil {
                    say(format.notice(error.message))  // the summary could not be made
                    break
                }
                guard case .inbox(nil, let counts, let expired) = frame else {
                    try await handleUnsolicited(frame)
                    continue
                }
                showInbox(counts, expired: expired)
                break
            }
        case .error(let error):
            say(error.message)
        default:
            break
        }
    }

    // MARK: - Logged in

    private func choosePartner() async throws {
        guard let line = try await prompt("Chat with: ") else { throw Leave(outcome: .clean) }
        let text = line.trimmingCharacters(in: .whitespaces)
        if text.isEmpty { return }
        if text.hasPrefix("/") {
            try await command(text)
        } else {
            try await openChat(with: text)
        }
    }

    private func chat() async throws {
        guard let line = try await prompt("[\(partner ?? "")] > ", transient: true) else { throw Leave(outcome: .clean) }
        if line.trimmingCharacters(in: .whitespaces).isEmpty { return }
        if line.hasPrefix("/") {
            try await command(line.trimmingCharacters(in: .whitespaces))
            return
        }
        let sentAt = Date()
        switch try await request({ .send(id: $0, body: line) }) {
        case .receipt(_, let messageID, let status):
            sent[messageID] = (partner ?? "", line)
            say(format.ownMessage(line, sentAt: sentAt, status: status))
        case .error(let error):
            say(format.notice("not sent: \(error.message)"))
        default:
            break
        }
    }

    private func command(_ text: String) async throws {
        let parts = text.split(separator: " ", maxSplits: 1).map(String.init)
        switch parts[0].lowercased() {
        case "/chat":
            guard parts.count == 2 else { return say("Usage: /chat USER") }
            try await openChat(with: parts[1].trimmingCharacters(in: .whitespaces))
        case "/leave":
            guard partner != nil else { return say("You are not chatting with anyone.") }
            _ = try await request({ .leave(id: $0) })
            say(format.notice("you left the chat with \(partner ?? "")"))
            partner = nil
        case "/who":
            if case .who(_, let users) = try await request({ .who(id: $0) }) {
                say(users.isEmpty
                    ? "Nobody else is online."
                    : "Online: " + users.map { "\($0.username) (\($0.status.rawValue))" }.joined(separator: ", "))
            }
        case "/inbox":
            if case .inbox(_, let counts, let expired) = try await request({ .inbox(id: $0) }) {
                showInbox(counts, expired: expired)
            }
        case "/help":
            say(Self.helpText)
        default:
            say("Unknown command \(parts[0]); /help lists them.")
        }
    }

    private func openChat(with name: String) async throws {
        switch try await request({ .chat(id: $0, with: name) }) {
        case .ok(_, let canonical):
            partner = canonical ?? name.lowercased()
        case .error(let error):
            say(error.message)
        default:
            break
        }
    }

    // MARK: - Events

    /// Shows `text` and waits for a line; nil on Ctrl-D / end of input. `exit` leaves.
    private func prompt(_ text: String, hidden: Bool = false, transient: Bool = false) async throws -> String? {
        terminal.requestLine(prompt: text, hidden: hidden, transient: transient, deliver: deliver)
        while true {
            switch try await nextEvent() {
            case .line(let line):
                if !hidden && line.trimmingCharacters(in: .whitespaces) == "exit" {
                    throw Leave(outcome: .clean)
                }
                return line
            case .endOfInput:
                if terminal.isInteractive { Console.write("\n") }
                return nil
            case .frame(let frame):
                try await handleUnsolicited(frame)
            default:
                continue
            }
        }
    }

    /// Sends the request built with a fresh id and returns the frame that answers it.
    private func request(_ build: (Int) -> ClientFrame) async throws -> ServerFrame {
        let id = takeRequestID()
        try await send(build(id))
        while true {
            let frame = try await nextFrame()
            if frame.id == id { return frame }
            try await handleUnsolicited(frame)
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
                terminal.restore()
                Console.write("\n")
                throw Leave(outcome: .interrupted)
            case .disconnected(let reason):
                connected = false
                terminal.restore()
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

    /// Frames that are not the answer being waited for: messages, receipts, notices.
    private func handleUnsolicited(_ frame: ServerFrame) async throws {
        switch frame {
        case .message(let message):
            if seen.insert(message.id).inserted {
                say(format.message(message))
            }
            // Acknowledged after it is on screen, so a crash before this means redelivery.
            // A person reads one message at a time, so each ack covers the one just shown.
            try await send(.ack(seq: message.seq))
        case .delivered(let messageIDs):
            for messageID in messageIDs {
                if let original = sent.removeValue(forKey: messageID) {
                    say(format.delivered(to: original.to, body: original.body))
                }
            }
        case .receipt(_, let messageID, let status):
            if status == .stored, let original = sent[messageID] {
                say(format.notice("your message to \(original.to) was kept in their inbox \(format.mark(.stored))"))
            }
        case .inbox(_, let counts, let expired):
            showInbox(counts, expired: expired)
        case .notice(let code, let message):
            switch code {
            case .displaced, .shutdown:
                connected = false
                terminal.restore()
                say("\n" + message.prefix(1).uppercased() + message.dropFirst() + "; the server is closing this session.")
                throw Leave(outcome: .endedByServer)
            default:
                say(format.notice(message))
            }
        case .error(let error):
            say(format.notice(error.message))
            if error.code.closesConnection {
                connected = false
                throw Leave(outcome: .endedByServer)
            }
        default:
            break
        }
    }

    // MARK: - Primitives

    /// Prints above the prompt (redrawing what is being typed).
    private func say(_ text: String) {
        terminal.printAbove(text)
    }

    /// The inbox summary: expired messages first, then who is waiting.
    private func showInbox(_ counts: [String: Int], expired: Int) {
        if expired > 0 { say(format.notice(ChatText.expired(expired))) }
        say(MessageFormatter.inboxSummary(counts))
    }

    private func send(_ frame: ClientFrame) async throws {
        try await outbound.write(frame.encode(allocator: ByteBufferAllocator()))
    }

    private func takeRequestID() -> Int {
        defer { nextRequestID += 1 }
        return nextRequestID
    }
}

import ChatSession
import Foundation
import Shared

/// The conversation with the user: register or log in, read the inbox summary, choose
/// whom to chat with, then chat. The user interface only: the protocol (ids, acks,
/// duplicates, keep-alive) is the session library's.
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
          /passwd      change your password (asks for the current one and the new one twice)
          /help        this list
          exit         log out and quit (Ctrl-D too)
        Anything else is sent to the person you are chatting with.
        """

    private let connection: ChatConnection
    private var events: AsyncStream<ClientEvent>.Iterator
    private let deliver: @Sendable (ClientEvent) -> Void
    private let terminal: Terminal
    private let format: MessageFormatter
    private var nextRequest = 1
    private var username: String?
    private var partner: String?
    private var connected = true
    /// My messages awaiting "delivered", by id, with where their line is on screen so its
    /// mark can be updated in place.
    private var sent: [String: SentMessage] = [:]

    private struct SentMessage {
        let to: String
        let body: String
        let sentAt: Date
        let printed: Terminal.PrintedLines
    }
    /// Messages waiting from people other than the partner, by sender: shown in the prompt
    /// until that chat is opened.
    private var unread: [String: Int] = [:]
    private let bell: Bool

    /// A REPL over `connection`, whose events `deliver` puts into `events` along with the
    /// terminal's lines and Ctrl-C.
    init(
        connection: ChatConnection,
        events: AsyncStream<ClientEvent>,
        deliver: @escaping @Sendable (ClientEvent) -> Void,
        terminal: Terminal,
        format: MessageFormatter,
        bell: Bool
    ) {
        self.bell = bell
        self.connection = connection
        self.events = events.makeAsyncIterator()
        self.deliver = deliver
        self.terminal = terminal
        self.format = format
    }

    /// Runs until the user leaves or the server ends the session.
    func run() async -> Outcome {
        let outcome: Outcome
        do {
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
            // The close that follows sends it first.
            connection.post(.logout)
        }
        return outcome
    }

    // MARK: - Logged out

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

    /// Asks for a name, then for a password until one fits the rules and is typed the same
    /// twice: the rules are checked before the confirmation is asked for, and a refused
    /// password is asked for again rather than sending the user back to the menu. An empty
    /// password goes back to the menu.
    private func register() async throws {
        guard let name = try await prompt("Username: ") else { throw Leave(outcome: .clean) }
        // The server checks too; saying it here spares typing a password twice for nothing.
        do {
            _ = try Username(name)
        } catch {
            say(Username.ruleText)
            return
        }
        while true {
            guard let password = try await prompt("Password: ", hidden: true) else {
                throw Leave(outcome: .clean)
            }
            if password.isEmpty { return }
            do {
                try PasswordPolicy.validate(password)
            } catch {
                say("\(error.description.prefix(1).uppercased())\(error.description.dropFirst()); try another (Enter alone goes back).")
                continue
            }
            guard let confirmation = try await prompt("Confirm password: ", hidden: true) else {
                throw Leave(outcome: .clean)
            }
            guard password == confirmation else {
                say("Passwords do not match; type the password again (Enter alone goes back).")
                continue
            }
            switch try await request(.register(username: name, password: password)) {
            case .ok:
                say("Registered \(name.lowercased()).")
                try await finishLogin(name: name, password: password)
            case .error(let error) where error.code == .invalidPassword:
                say("\(error.message); try another (Enter alone goes back).")
                continue
            case .error(let error):
                say(error.message)
            default:
                break
            }
            return
        }
    }

    private func login() async throws {
        guard let name = try await prompt("Username: "),
            let password = try await prompt("Password: ", hidden: true)
        else { throw Leave(outcome: .clean) }
        try await finishLogin(name: name, password: password)
    }

    private func finishLogin(name: String, password: String) async throws {
        switch try await request(.login(username: name, password: password)) {
        case .ok(_, let canonical, _, _):
            let user = canonical ?? name.lowercased()
            username = user
            say("Logged in as \(user)")
            // The server follows the login with the inbox summary.
            while true {
                guard case .session(let event) = try await nextEvent() else { continue }
                if case .error(let error) = event {
                    say(format.notice(error.message))  // the summary could not be made
                    break
                }
                guard case .inboxSummary(let counts, let expired) = event else {
                    try handle(event)
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
        guard let line = try await prompt(chatPrompt, transient: true) else { throw Leave(outcome: .clean) }
        if line.trimmingCharacters(in: .whitespaces).isEmpty { return }
        if line.hasPrefix("/") {
            try await command(line.trimmingCharacters(in: .whitespaces))
            return
        }
        let sentAt = Date()
        switch try await request(.send(body: line)) {
        case .receipt(_, let messageID, let status):
            let printed = terminal.printAbove(format.ownMessage(line, sentAt: sentAt, status: .init(status)))
            sent[messageID] = SentMessage(to: partner ?? "", body: line, sentAt: sentAt, printed: printed)
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
            _ = try await request(.leave)
            say(format.notice("you left the chat with \(partner ?? "")"))
            partner = nil
        case "/who":
            if case .who(_, let users) = try await request(.who) {
                say(users.isEmpty
                    ? "Nobody else is online."
                    : "Online: " + users.map { "\($0.username) (\($0.status.rawValue))" }.joined(separator: ", "))
            }
        case "/inbox":
            if case .inbox(_, let counts, let expired) = try await request(.inbox) {
                showInbox(counts, expired: expired)
            }
        case "/passwd":
            try await changePassword()
        case "/help":
            say(Self.helpText)
        default:
            say("Unknown command \(parts[0]); /help lists them.")
        }
    }

    /// Asks for the current password and the new one twice, all hidden; the new one is
    /// checked against the rules before it is confirmed. Enter alone gives up.
    private func changePassword() async throws {
        guard let current = try await prompt("Current password: ", hidden: true) else { throw Leave(outcome: .clean) }
        if current.isEmpty { return }
        guard let new = try await prompt("New password: ", hidden: true) else { throw Leave(outcome: .clean) }
        if new.isEmpty { return }
        do {
            try PasswordPolicy.validate(new)
        } catch {
            return say("\(error.description.prefix(1).uppercased())\(error.description.dropFirst()); password not changed.")
        }
        guard let again = try await prompt("New password again: ", hidden: true) else { throw Leave(outcome: .clean) }
        guard again == new else { return say("The new passwords do not match; password not changed.") }
        switch try await request(.passwd(password: current, newPassword: new)) {
        case .ok:
            say("Password changed.")
        case .error(let error):
            say("\(error.message); password not changed.")
        default:
            break
        }
    }

    /// "[bob] > ", or with messages waiting elsewhere "[bob] (carol: 1) > ".
    private var chatPrompt: String {
        let waiting = unread.filter { $0.key != partner && $0.value > 0 }.sorted { $0.key < $1.key }
        let counts = waiting.isEmpty ? "" : "(" + waiting.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ") "
        return "[\(partner ?? "")] \(counts)> "
    }

    private func openChat(with name: String) async throws {
        switch try await request(.chat(with: name)) {
        case .ok(_, let canonical, _, _):
            partner = canonical ?? name.lowercased()
            unread[partner ?? ""] = nil
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
            case .session(let event):
                try handle(event)
            default:
                continue
            }
        }
    }

    /// Makes `request` and returns the frame that answers it, showing what arrives before
    /// the answer. The answer comes through the same stream as everything else, in the
    /// order the server sent it: what came before it is shown first, and what came after
    /// it (the login's inbox summary) is still there for the caller.
    private func request(_ request: ChatRequest) async throws -> ServerFrame {
        let number = nextRequest
        nextRequest += 1
        let deliver = self.deliver
        connection.request(request) { deliver(.answer(request: number, $0)) }
        while true {
            switch try await nextEvent() {
            case .answer(number, let result):
                return try result.get()
            case .session(let event):
                try handle(event)
            default:
                continue
            }
        }
    }

    /// The next event; the ones that end the session (Ctrl-C, a dropped connection)
    /// throw `Leave` from here, wherever the REPL was waiting.
    private func nextEvent() async throws -> ClientEvent {
        while true {
            let event = await events.next() ?? .session(.closed(.closedByServer))
            switch event {
            case .interrupted:
                terminal.restore()
                Console.write("\n")
                throw Leave(outcome: .interrupted)
            case .session(.closed(let reason)):
                connected = false
                terminal.restore()
                Console.writeLine("\nDisconnected: \(reason)")
                throw Leave(outcome: .endedByServer)
            case .session(.badFrame(let error)):
                Console.errorLine("chat-client: ignoring a bad frame from the server (\(error.message))")
            default:
                return event
            }
        }
    }

    /// What the server says unasked: messages, receipts, notices. Duplicates never get
    /// here (the session drops them).
    private func handle(_ event: SessionEvent) throws {
        switch event {
        case .message(let message):
            say(format.message(message))
            // Acknowledged after it is on screen, so a crash before this means redelivery.
            connection.acknowledge(message)
        case .delivered(let messageIDs):
            for messageID in messageIDs {
                guard let original = sent.removeValue(forKey: messageID) else { continue }
                // ✓✓ on the message's own line while it is on screen; a line of its own
                // once it has scrolled away, and in a pipe.
                let updated = format.ownMessage(original.body, sentAt: original.sentAt, status: .delivered)
                if !terminal.rewrite(original.printed, with: updated) {
                    say(format.delivered(to: original.to, body: original.body))
                }
            }
        case .receipt(let messageID, let status):
            if status == .stored, let original = sent[messageID] {
                say(format.notice("your message to \(original.to) was kept in their inbox \(format.mark(.stored))"))
            }
        case .inboxSummary(let counts, let expired):
            showInbox(counts, expired: expired)
            unread = counts.filter { $0.key != partner }
            if partner != nil { terminal.changePrompt(to: chatPrompt) }
        case .notice(let code, let message):
            switch code {
            case .newMessage:
                say(format.notice(message))
                if let (count, sender) = ChatText.parseNewMessages(message), sender != partner {
                    unread[sender, default: 0] += count
                    if partner != nil { terminal.changePrompt(to: chatPrompt) }
                }
                if bell { terminal.bell() }
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
        case .reply, .badFrame, .closed:
            break  // no posted requests; the other two end in `nextEvent`
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
}

import ChatSession
import EndToEnd
import Foundation
import LocalVault
import SecureMessaging
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
        /// The local state (keys, history) could not be opened: nothing can be encrypted.
        case localStateUnavailable = 3
        /// Ctrl-C.
        case interrupted = 130
    }

    /// Ends the REPL from anywhere inside it.
    private struct Leave: Error {
        let outcome: Outcome
    }

    /// A request's connection was lost before its answer; the client failed over.
    struct RequestInterrupted: Error {}

    /// Backoff between failover attempts: doubling from the first, up to the last.
    private static let retryDelays: (first: Double, longest: Double) = (0.5, 8)
    /// How long failover keeps trying before the client gives up and exits.
    private static let failoverPatience: Double = 300

    static let helpText = """
        Commands:
          /chat USER              chat with USER (stored messages from them are shown first)
          /leave                  end the current chat, stay logged in
          /who                    who is online, and whether free or chatting
          /inbox                  waiting messages per sender
          /passwd                 change your password (the current one, then the new one twice)
          /delete-account         delete your account on the server, then your keys and history here
          /verify [USER]          the safety number to compare with USER (default: your partner)
          /verify USER confirmed  record that you compared it and it matched
          /trust USER             accept USER's new identity key after comparing safety numbers
          /history [N]            the last N messages with your partner (default 20), from this machine
          /send PATH              send a file to your partner, end-to-end encrypted (works while they are offline)
          /files                  files offered to you, and files you are sending
          /accept N | /reject N   save file N in your downloads directory, or refuse it
          /help                   this list
          exit                    log out and quit (Ctrl-D too)
        Anything else is sent to the person you are chatting with; end a line with \\ to
        go on with another line of the same message.
        """

    /// The session in use; replaced when the client fails over to another server.
    private(set) var connection: ChatConnection
    /// The server it is with.
    private var endpoint: ServerEndpoint
    /// Opens a session with the first server that answers, its events into this REPL's
    /// stream: how the client fails over.
    private let reconnect: @Sendable () async throws -> (ChatConnection, ServerEndpoint)
    /// The password, kept in memory only to log in again after a failover.
    private var password: String?
    /// The server said another login took this session over: no failover then.
    private var displaced = false
    /// Numbers the backoff timers, so that a late one is told from the current one.
    private var retryTimer = 0
    /// A line was asked of the terminal or pipe and has not come yet: a prompt's, or a
    /// failover wait's (so that `exit` is read from a pipe there too), which the next
    /// prompt then takes instead of asking again.
    private var lineRequested = false
    /// The first server given: names the local state directory, whichever server is in use.
    private let host: String
    private let port: Int
    /// `--state-dir`, if given.
    let stateDirectory: String?
    /// Keys, sessions and history, open once logged in.
    var local: LocalState?
    private var events: AsyncStream<ClientEvent>.Iterator
    private let deliver: @Sendable (ClientEvent) -> Void
    let terminal: Terminal
    let format: MessageFormatter
    private var nextRequest = 1
    private var username: String?
    var partner: String?
    private var connected = true
    /// My messages awaiting "delivered", by id, with where their line is on screen so its
    /// mark can be updated in place.
    var sent: [String: SentMessage] = [:]

    struct SentMessage {
        let to: String
        let body: String
        let sentAt: Date
        let printed: Terminal.PrintedLines
    }
    /// Messages waiting from people other than the partner, by sender: shown in the prompt
    /// until that chat is opened.
    private var unread: [String: Int] = [:]
    let bell: Bool
    /// Where accepted files go (`--downloads`); nil for the default.
    let downloads: String?
    /// The file `/accept` is fetching, whose chunks arrive as events.
    var activeDownload: Download?
    /// File outcomes that arrived before the vault was open (right after login).
    var pendingOutcomes: [(file: String, recipient: String, outcome: FileOutcome)] = []

    /// A REPL over `connection`, whose events `deliver` puts into `events` along with the
    /// terminal's lines and Ctrl-C.
    init(
        connection: ChatConnection,
        endpoint: ServerEndpoint,
        reconnect: @escaping @Sendable () async throws -> (ChatConnection, ServerEndpoint),
        host: String,
        port: Int,
        stateDirectory: String?,
        events: AsyncStream<ClientEvent>,
        deliver: @escaping @Sendable (ClientEvent) -> Void,
        terminal: Terminal,
        format: MessageFormatter,
        bell: Bool,
        downloads: String?
    ) {
        self.bell = bell
        self.downloads = downloads
        self.connection = connection
        self.endpoint = endpoint
        self.reconnect = reconnect
        self.host = host
        self.port = port
        self.stateDirectory = stateDirectory
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
                do {
                    if username == nil {
                        try await authenticate()
                    } else if partner == nil {
                        try await choosePartner()
                    } else {
                        try await chat()
                    }
                } catch is RequestInterrupted {
                    say(format.notice("the connection dropped before the server answered; that last request may not have been carried out"))
                }
            }
        } catch let leave as Leave {
            outcome = leave.outcome
        } catch {
            Console.errorLine("chat-client: \(error)")
            outcome = .endedByServer
        }
        terminal.restore()
        local?.close()
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
        let directory: StateDirectory
        do {
            // Usernames are case-insensitive: the server's canonical form is lower case.
            directory = try LocalState.lock(explicitPath: stateDirectory, host: host, port: port, username: name.lowercased())
        } catch {
            say("Cannot open your keys and history: \(error)")
            throw Leave(outcome: .localStateUnavailable)
        }
        let reply: ServerFrame
        do {
            reply = try await request(.login(username: name, password: password))
        } catch {
            directory.close()
            throw error
        }
        switch reply {
        case .ok(_, let canonical, let identityKey, let preKeys, let mustChangePassword):
            let user = canonical ?? name.lowercased()
            username = user
            self.password = password
            say("Logged in as \(user)")
            // The server follows the login with the inbox summary.
            while true {
                guard case .session(let event) = try await nextEvent() else { continue }
                if case .error(let error) = event {
                    say(format.notice(error.message))  // the summary could not be made
                    break
                }
                guard case .inboxSummary(let counts, let expired) = event else {
                    try await handle(event)
                    continue
                }
                showInbox(counts, expired: expired)
                break
            }
            var current = password
            if mustChangePassword {
                guard let chosen = try await chooseNewPassword(replacing: password) else {
                    directory.close()
                    throw Leave(outcome: .clean)
                }
                current = chosen
                self.password = chosen
            }
            // Before anything is chosen or sent: the keys and history this needs.
            try await openLocalState(in: directory, username: user, password: current)
            try await publishKeys(serverIdentityKey: identityKey, serverPreKeys: preKeys)
            reportPendingOutcomes()
            try mentionUnfinishedUploads()
        case .error(let error):
            directory.close()
            say(error.message)
        default:
            directory.close()
        }
    }

    /// After a login with a one-time password from the operator, which allows nothing else:
    /// asks for a new password (hidden; checked against the rules, then confirmed) until the
    /// server takes it. Nil when the user gives up (Enter alone): the caller logs out.
    private func chooseNewPassword(replacing oneTimePassword: String) async throws -> String? {
        say("You logged in with a one-time password: choose your own password now (Enter alone logs out).")
        while true {
            guard let new = try await prompt("New password: ", hidden: true) else { throw Leave(outcome: .clean) }
            if new.isEmpty { return nil }
            do {
                try PasswordPolicy.validate(new)
            } catch {
                say("\(error.description.prefix(1).uppercased())\(error.description.dropFirst()); try another.")
                continue
            }
            guard let again = try await prompt("New password again: ", hidden: true) else { throw Leave(outcome: .clean) }
            guard again == new else {
                say("The new passwords do not match; type the new password again.")
                continue
            }
            switch try await request(.passwd(password: oneTimePassword, newPassword: new)) {
            case .ok:
                say("Password changed.")
                return new
            case .error(let error) where error.code == .invalidPassword:
                say("\(error.message); try another.")
            case .error(let error):
                say("\(error.message); logging out.")
                return nil
            default:
                return nil
            }
        }
    }

    /// Opens this user's local state with the password just accepted by the server; the
    /// session cannot go on without it (nothing could be encrypted or decrypted). State
    /// sealed with an earlier password (changed elsewhere) is opened with that one, asked
    /// for here, and resealed with the current one.
    private func openLocalState(in directory: StateDirectory, username: String, password: String) async throws {
        var sealedWith = password
        defer { if local == nil { directory.close() } }
        while true {
            do {
                let opened = try LocalState(directory: directory, username: username, password: sealedWith)
                if sealedWith != password {
                    try opened.vault.changePassword(from: sealedWith, to: password)
                    say(format.notice("your keys and history here are now sealed with your current password"))
                }
                local = opened
                return
            } catch VaultError.wrongPassword {
                say("""
                    Your keys and history on this machine are sealed with another password (it was
                    changed elsewhere, or reset). Type the password they were sealed with to reseal them
                    with your current one; Enter alone leaves (move the state directory away to start
                    this machine as a new device: your partners will be told your key changed).
                    """)
                guard let earlier = try await prompt("Earlier password: ", hidden: true), !earlier.isEmpty else {
                    throw Leave(outcome: .localStateUnavailable)
                }
                sealedWith = earlier
            } catch let leave as Leave {
                throw leave
            } catch {
                say("Cannot open your keys and history: \(error)")
                throw Leave(outcome: .localStateUnavailable)
            }
        }
    }

    /// Publishes this device's keys when the server lacks them or holds another device's,
    /// tops up one-time prekeys, and rotates the signed prekey when due.
    private func publishKeys(serverIdentityKey: [UInt8]?, serverPreKeys: Int?) async throws {
        guard let messenger = local?.messenger,
              let publication = try messenger.publication(serverIdentityKey: serverIdentityKey, serverPreKeys: serverPreKeys)
        else { return }
        switch try await request(.publishKeys(publication.published)) {
        case .ok:
            if serverIdentityKey == nil {
                say(format.notice("encryption keys made and published: your messages are end-to-end encrypted"))
            } else if serverIdentityKey != publication.identityKey.bytes {
                say(format.notice(
                    "this machine's keys now replace the ones published from another device; "
                        + "your partners will be told that your key changed"))
            }
        case .error(let error):
            say(format.notice("could not publish your keys: \(error.message)"))
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
        guard let partner, let local else { return }
        // A line ending in a backslash goes on: the message has several lines.
        var text = line
        while text.hasSuffix("\\") {
            guard let more = try await prompt("... ", transient: true) else { throw Leave(outcome: .clean) }
            text = text.dropLast() + "\n" + more
        }
        let body: String
        do {
            body = try await encrypt(text, to: partner, with: local.messenger)
        } catch let error as MessengerError {
            if case .partnerKeyChanged = error {
                warnKeyChanged(partner)
            } else {
                say(format.notice("not sent: \(error)"))
            }
            return
        }
        let sentAt = Date()
        switch try await request(.send(body: body)) {
        case .receipt(_, let messageID, let status):
            let printed = terminal.printAbove(format.ownMessage(text, sentAt: sentAt, status: .init(status)))
            sent[messageID] = SentMessage(to: partner, body: text, sentAt: sentAt, printed: printed)
            record(HistoryEntry(messageID: messageID, partner: partner, direction: .sent, text: text, date: sentAt))
        case .error(let error) where error.code == .identityChanged:
            // The partner published a new identity since the chat opened: opening it again
            // reports the new key, which then waits for /trust.
            say(format.notice("not sent: \(error.message)"))
            try await openChat(with: partner)
        case .error(let error):
            say(format.notice("not sent: \(error.message)"))
        default:
            break
        }
    }

    /// `text` encrypted for `partner`; without a session, their keys are fetched first.
    func encrypt(_ text: String, to partner: String, with messenger: Messenger) async throws -> String {
        try await encryptBody(to: partner, with: messenger) { try $0.encrypt(text, to: partner) }
    }

    /// A body for `partner` made by `seal`; without a session, their keys are fetched first.
    func encryptBody(
        to partner: String, with messenger: Messenger, _ seal: (Messenger) throws -> String
    ) async throws -> String {
        if try messenger.needsSession(with: partner) {
            switch try await request(.fetchKeys(username: partner)) {
            case .keys(_, let bundle):
                try messenger.startSession(with: partner, bundle: PreKeyBundle(published: bundle))
            case .error(let error) where error.code == .noKeys:
                throw MessengerError.partnerHasNoKeys(partner)
            case .error(let error):
                throw MessengerError.keysUnavailable(partner, error.message)
            default:
                throw MessengerError.keysUnavailable(partner, "the server did not answer with keys")
            }
        }
        return try seal(messenger)
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
        case "/delete-account":
            try await deleteAccount()
        case "/verify":
            try verify(parts.count == 2 ? parts[1] : "")
        case "/trust":
            guard parts.count == 2 else { return say("Usage: /trust USER") }
            try trust(parts[1].trimmingCharacters(in: .whitespaces).lowercased())
        case "/history":
            showHistory(parts.count == 2 ? parts[1] : "")
        case "/send":
            guard parts.count == 2 else { return say("Usage: /send PATH (to the user you chat with)") }
            try await sendFile(parts[1])
        case "/accept":
            try await accept(parts.count == 2 ? parts[1] : "")
        case "/reject":
            try await reject(parts.count == 2 ? parts[1] : "")
        case "/files":
            try listFiles()
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
            password = new
            do {
                try local?.vault.changePassword(from: current, to: new)
                say("Password changed.")
            } catch {
                say("""
                    Password changed on the server, but your keys and history here are still sealed
                    with the old one (\(error)); the next login asks for it and reseals them.
                    """)
            }
        case .error(let error):
            say("\(error.message); password not changed.")
        default:
            break
        }
    }

    /// `/delete-account`: after the username typed again and the password (hidden), deletes
    /// the account on the server (with its keys and inbox), then this machine's keys and
    /// history, and quits.
    private func deleteAccount() async throws {
        guard let user = username else { return }
        let path = local?.directory.path ?? "this machine's state directory"
        say("""
            This deletes your account \(user) on the server, with your published keys and the messages
            waiting for you, and then your keys and history on this machine (\(path)). It cannot be undone.
            """)
        guard let typed = try await prompt("Type your username to confirm: ") else { throw Leave(outcome: .clean) }
        guard typed.trimmingCharacters(in: .whitespaces).lowercased() == user else {
            return say("That is not your username; nothing was deleted.")
        }
        guard let password = try await prompt("Password: ", hidden: true) else { throw Leave(outcome: .clean) }
        if password.isEmpty { return say("Nothing was deleted.") }
        switch try await request(.deleteAccount(password: password)) {
        case .ok:
            // The server has logged the session out: nothing left to log out of.
            username = nil
            partner = nil
            say("Account \(user) deleted on the server. Deleting your keys and history in \(path) now.")
            do {
                let count = try local?.directory.erase() ?? 0
                say("Deleted \(count) file\(count == 1 ? "" : "s"); nothing of \(user) is left on this machine. Goodbye.")
            } catch {
                say("Could not delete everything in \(path) (\(error)); delete it yourself.")
            }
            local = nil
            throw Leave(outcome: .clean)
        case .error(let error):
            say("\(error.message); nothing was deleted.")
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
        case .ok(_, let canonical, let identityKey, _, _):
            let opened = canonical ?? name.lowercased()
            partner = opened
            unread[opened] = nil
            try showKeyStatus(of: opened, identityKey: identityKey)
            try await resumeUploads(to: opened)
        case .error(let error):
            say(error.message)
        default:
            break
        }
    }

    // MARK: - End-to-end encryption

    /// Decrypts a message, shows it, keeps it in the history, and acknowledges it. A
    /// message already in the history (shown before a crash, its ack lost) is only
    /// acknowledged. Nothing is acknowledged when the new ratchet state could not be
    /// saved: the message then comes again.
    private func receive(_ message: ChatMessage) throws {
        guard let local else {
            connection.acknowledge(message)
            return
        }
        if local.history.contains(messageID: message.id) {
            connection.acknowledge(message)
            return
        }
        let body = try local.messenger.decrypt(
            message.body, from: message.from, messageID: message.id, sentAtMilliseconds: message.sentAtMilliseconds)
        present(body, of: message.id, from: message.from, sentAtMilliseconds: message.sentAtMilliseconds,
                stored: message.stored)
        connection.acknowledge(message)
    }

    /// What a received body turned out to be, for the user: a text shown and added to the
    /// history, a failure said, a duplicate dropped, a new key warned about. For a message
    /// as it arrives and for one held until `/trust`.
    private func present(
        _ body: ReceivedBody, of messageID: String, from sender: String, sentAtMilliseconds: Int64, stored: Bool
    ) {
        switch body {
        case .text(let text):
            say(format.message(ChatMessage(
                id: messageID, from: sender, body: text, sentAtMilliseconds: sentAtMilliseconds, stored: stored)))
            record(HistoryEntry(
                messageID: messageID, partner: sender, direction: .received, text: text,
                date: Date(timeIntervalSince1970: Double(sentAtMilliseconds) / 1000)))
        case .file(let offer):
            offered(offer, from: sender, messageID: messageID, sentAtMilliseconds: sentAtMilliseconds)
        case .duplicate:
            break
        case .undecryptable(let reason):
            say(format.notice("a message from \(sender) could not be decrypted: \(reason)"))
        case .heldForTrust:
            warnKeyChanged(sender, holding: true)
        }
    }

    /// Adds to the history; a failure is said, not fatal: the message was already shown.
    func record(_ entry: HistoryEntry) {
        do {
            try local?.history.append(entry)
        } catch {
            say(format.notice("could not add the message to your history: \(error)"))
        }
    }

    /// What the user should know about `partner`'s identity key as a chat opens.
    private func showKeyStatus(of partner: String, identityKey: [UInt8]?) throws {
        guard let messenger = local?.messenger else { return }
        switch try messenger.opened(partner, identityKey: identityKey) {
        case .firstContact:
            say(format.notice(
                "first chat with \(partner): their key is trusted from now on (trust on first use); "
                    + "/verify \(partner) shows the safety number to compare with them"))
        case .trusted:
            break
        case .changed:
            warnKeyChanged(partner)
        case .noKeys:
            say(format.notice("\(partner) has no encryption keys yet: you can write once they log in with chat-client"))
        }
    }

    /// The loud warning that `partner`'s identity key is not the trusted one.
    func warnKeyChanged(_ partner: String, holding: Bool = false) {
        var lines = [
            "WARNING: \(partner)'s identity key has changed.",
            "They may have reinstalled chat-client, or someone may be reading your messages in between.",
            "Nothing more is sent to \(partner) until you accept the new key.",
        ]
        if holding { lines.append("A message from the new key is kept, unread, until then.") }
        lines.append("Compare safety numbers with them in person or on a call (/verify \(partner)), then /trust \(partner).")
        say(format.warning(lines))
    }

    /// `/verify [USER] [confirmed]`.
    private func verify(_ arguments: String) throws {
        guard let messenger = local?.messenger else { return }
        let words = arguments.split(separator: " ").map { String($0).lowercased() }
        guard let who = words.first ?? partner, words.count <= 2, words.count < 2 || words[1] == "confirmed" else {
            return say("Usage: /verify [USER] [confirmed]")
        }
        guard let number = try messenger.safetyNumber(with: who) else {
            return say("No key is known for \(who) yet; open a chat with them first (/chat \(who)).")
        }
        if words.count == 2 {
            if try messenger.confirm(who) {
                say(format.notice("\(who)'s key is marked as verified"))
            } else {
                say("\(who)'s key changed and is not accepted yet: /trust \(who) first, then compare again.")
            }
            return
        }
        let groups = number.groups
        let rows = stride(from: 0, to: groups.count, by: 4).map { groups[$0..<min($0 + 4, groups.count)].joined(separator: " ") }
        let status = try messenger.isConfirmed(who) ? "verified" : "not verified yet"
        say("""
            Safety number with \(who) (\(status)); \(who) sees the same digits:
                \(rows.joined(separator: "\n    "))
            If they match, /verify \(who) confirmed
            """)
    }

    /// `/trust USER`: accepts USER's new identity key and shows what was held for it.
    private func trust(_ who: String) throws {
        guard let messenger = local?.messenger else { return }
        guard let released = try messenger.trust(who) else {
            return say("\(who)'s key has not changed; there is nothing to accept.")
        }
        say(format.notice("\(who)'s new key is trusted; /verify \(who) shows the new safety number"))
        for message in released {
            present(message.body, of: message.messageID, from: who, sentAtMilliseconds: message.sentAtMilliseconds,
                    stored: true)
        }
    }

    /// `/history [N]`: the last N messages with the partner, from the local history.
    private func showHistory(_ argument: String) {
        guard let partner, let history = local?.history else { return say("Open a chat first; /history shows its messages.") }
        let trimmed = argument.trimmingCharacters(in: .whitespaces)
        guard let count = trimmed.isEmpty ? 20 : Int(trimmed), count > 0 else { return say("Usage: /history [N]") }
        let entries = history.last(count, with: partner)
        guard !entries.isEmpty else { return say("No messages with \(partner) on this machine yet.") }
        for entry in entries {
            say(format.historyLine(entry.text, from: entry.direction == .sent ? nil : partner, at: entry.date))
        }
    }

    /// Publishes a batch of one-time prekeys when the server says they run low.
    private func replenishPreKeys() async {
        guard let messenger = local?.messenger else { return }
        do {
            try await connection.publishKeys(messenger.replenishment().published)
        } catch {
            say(format.notice("could not publish more one-time keys: \(error)"))
        }
    }

    // MARK: - Events

    /// Shows `text` and waits for a line; nil on Ctrl-D / end of input. `exit` leaves.
    private func prompt(_ text: String, hidden: Bool = false, transient: Bool = false) async throws -> String? {
        if lineRequested {
            // A failover's wait already asked piped input for this line.
            Console.write(text)
        } else {
            terminal.requestLine(prompt: text, hidden: hidden, transient: transient, deliver: deliver)
            lineRequested = true
        }
        while true {
            switch try await nextEvent() {
            case .line(let line):
                lineRequested = false
                if !hidden && line.trimmingCharacters(in: .whitespaces) == "exit" {
                    throw Leave(outcome: .clean)
                }
                return line
            case .endOfInput:
                lineRequested = false
                if terminal.isInteractive { Console.write("\n") }
                return nil
            case .session(let event):
                try await handle(event)
            default:
                continue  // `.reconnected`: the prompt still waits for its line
            }
        }
    }

    /// Makes `request` and returns the frame that answers it, showing what arrives before
    /// the answer. The answer comes through the same stream as everything else, in the
    /// order the server sent it: what came before it is shown first, and what came after
    /// it (the login's inbox summary) is still there for the caller.
    func request(_ request: ChatRequest) async throws -> ServerFrame {
        var unsent: ChatRequest? = request
        var answer: ServerFrame?
        try await requests(window: 1) {
            defer { unsent = nil }
            return unsent
        } answered: {
            answer = $0
            return true
        }
        // `requests` returns without an answer only by throwing.
        return answer!
    }

    /// Makes the requests `next` gives, up to `window` of them unanswered at a time, and
    /// hands their answers to `answered` in request order (the server answers in that
    /// order too); stops when `next` has no more and all are answered, or when `answered`
    /// returns false (answers still to come are then dropped as they arrive). What arrives
    /// unasked meanwhile is shown as it arrives (`handle`).
    func requests(
        window: Int, _ next: () throws -> ChatRequest?, answered: (ServerFrame) throws -> Bool
    ) async throws {
        var inFlight: [Int] = []
        var early: [Int: Result<ServerFrame, any Error>] = [:]
        let deliver = self.deliver
        while true {
            while inFlight.count < window, let request = try next() {
                let number = nextRequest
                nextRequest += 1
                inFlight.append(number)
                connection.request(request) { deliver(.answer(request: number, $0)) }
            }
            guard let oldest = inFlight.first else { return }
            let result: Result<ServerFrame, any Error>
            if let ready = early.removeValue(forKey: oldest) {
                result = ready
            } else {
                switch try await nextEvent() {
                case .answer(let number, let answer) where inFlight.contains(number):
                    if case .failure = answer, !connection.isActive, password != nil {
                        // The connection went with the answer: fail over (at its `closed`
                        // event), then say the request may not have been done.
                        continue
                    }
                    guard number == oldest else {
                        early[number] = answer
                        continue
                    }
                    result = answer
                case .reconnected:
                    throw RequestInterrupted()
                case .session(let event):
                    try await handle(event)
                    continue
                default:
                    continue
                }
            }
            inFlight.removeFirst()
            guard try answered(result.get()) else { return }
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
                if let resumed = try await failOver(after: reason) { return resumed }
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
    private func handle(_ event: SessionEvent) async throws {
        switch event {
        case .message(let message):
            try receive(message)
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
            case .preKeysLow:
                await replenishPreKeys()
            case .shutdown where password != nil:
                // Another server may take over: the `closed` that follows fails over.
                say(format.notice(message))
            case .displaced, .shutdown, .accountLocked, .accountDeleted, .passwordReset:
                // Taken over, locked, deleted or its password reset: logging in again
                // elsewhere would not help (the password kept for it no longer works).
                displaced = code != .shutdown
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
        case .fileChunk(let file, let index, let data):
            receivedChunk(file: file, index: index, data: data)
        case .fileOutcome(let file, let recipient, let outcome):
            fileEnded(file, recipient: recipient, outcome: outcome)
        case .reply, .badFrame, .closed:
            break  // no posted requests; the other two end in `nextEvent`
        }
    }

    // MARK: - Failover

    /// After the connection is lost while logged in: opens a session with the first server
    /// that answers (retrying with backoff until one does, or the user leaves), logs in
    /// again with the remembered password, re-opens the chat that was open (what was
    /// stored meanwhile arrives now), and says so in one line. Returns `.reconnected`, or
    /// the line the user typed meanwhile (sent now); nil when there is nothing to resume.
    private func failOver(after reason: SessionCloseReason) async throws -> ClientEvent? {
        guard let username, let password, !displaced else { return nil }
        say(format.notice("lost the connection to \(endpoint) (\(reason)); reconnecting (exit leaves)"))
        var delay = Self.retryDelays.first
        var typed: String?
        let giveUp = Date().addingTimeInterval(Self.failoverPatience)
        while true {
            guard Date() < giveUp else {
                say(format.notice("no server answered for \(Int(Self.failoverPatience / 60)) minutes; giving up"))
                return nil
            }
            do {
                let (fresh, reached) = try await reconnect()
                connection = fresh
                endpoint = reached
                connected = true
                _ = try await fresh.login(username: username, password: password)
                var reopened = ""
                if let partner {
                    let opened = try await fresh.chat(with: partner)
                    try showKeyStatus(of: opened.username, identityKey: opened.identityKey)
                    reopened = "; chat with \(partner) re-opened"
                }
                say(format.notice("reconnected to \(reached) as \(username)\(reopened)"))
                return typed.map(ClientEvent.line) ?? .reconnected
            } catch SessionError.refused(let error) {
                say("Could not log in again: \(error.message)")
                throw Leave(outcome: .endedByServer)
            } catch {
                connected = false
            }
            try await pause(seconds: delay, keeping: &typed)
            delay = min(delay * 2, Self.retryDelays.longest)
        }
    }

    /// Waits `seconds` between failover attempts, still leaving on Ctrl-C, `exit` or end of
    /// input; the first line typed meanwhile is kept for when the session is back.
    private func pause(seconds: Double, keeping typed: inout String?) async throws {
        // Piped input is read only when asked for: ask, unless a prompt already did. (A
        // terminal has Ctrl-C; a line is not read from it outside a prompt, so that a
        // hidden prompt later never gets an echoing read.)
        if !terminal.isInteractive && !lineRequested {
            terminal.requestLine(prompt: "", hidden: false, deliver: deliver)
            lineRequested = true
        }
        retryTimer += 1
        let timer = retryTimer
        let deliver = self.deliver
        Task {
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            deliver(.retry(timer))
        }
        while true {
            switch await events.next() ?? .endOfInput {
            case .retry(timer):
                return
            case .interrupted:
                terminal.restore()
                Console.write("\n")
                throw Leave(outcome: .interrupted)
            case .endOfInput:
                throw Leave(outcome: .clean)
            case .line(let line) where line.trimmingCharacters(in: .whitespaces) == "exit":
                throw Leave(outcome: .clean)
            case .line(let line):
                lineRequested = false
                typed = typed ?? line
                say(format.notice("not connected: this is sent once the connection is back"))
            default:
                continue  // the lost connection's last events, a late timer
            }
        }
    }

    // MARK: - Primitives

    /// Prints above the prompt (redrawing what is being typed).
    func say(_ text: String) {
        terminal.printAbove(text)
    }

    /// The inbox summary: expired messages first, then who is waiting.
    private func showInbox(_ counts: [String: Int], expired: Int) {
        if expired > 0 { say(format.notice(ChatText.expired(expired))) }
        say(MessageFormatter.inboxSummary(counts))
    }
}

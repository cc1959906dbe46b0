import Shared

/// A request the client makes, without its `id`: the session numbers requests and matches
/// each reply to its request by that id.
public enum ChatRequest: Hashable, Sendable {
    /// Creates an account (does not log in).
    case register(username: String, password: String)
    /// Logs the session in.
    case login(username: String, password: String)
    /// Logs out; the connection stays open.
    case logout
    /// Checks that the connection is alive.
    case ping
    /// Chooses whom to chat with.
    case chat(with: String)
    /// Ends the current chat, staying logged in.
    case leave
    /// Sends a message to the chosen partner.
    case send(body: String)
    /// Who is online.
    case who
    /// Waiting messages per sender.
    case inbox
    /// Changes the logged-in user's password.
    case passwd(password: String, newPassword: String)
    /// Publishes this device's keys for end-to-end encryption.
    case publishKeys(PublishedKeys)
    /// Fetches a user's keys, taking one of their one-time prekeys.
    case fetchKeys(username: String)
    /// Deletes the logged-in user's account, keys and inbox; the session is logged out.
    case deleteAccount(password: String)
    /// Starts or resumes sending a file (`ClientFrame.upload`).
    case upload(file: String, to: String, size: Int, chunks: Int)
    /// One chunk of an upload.
    case chunk(file: String, index: Int, data: String)
    /// Asks for up to `count` chunks of a file from `from` (they arrive as events).
    case download(file: String, from: Int, count: Int)
    /// Done with a received file: `received`, or rejected.
    case fileDone(file: String, received: Bool)
    /// The outcome of a sent file was shown.
    case fileForget(file: String)

    /// The frame for this request with request id `id`.
    public func frame(id: Int) -> ClientFrame {
        switch self {
        case .register(let username, let password): .register(id: id, username: username, password: password)
        case .login(let username, let password): .login(id: id, username: username, password: password)
        case .logout: .logout(id: id)
        case .ping: .ping(id: id)
        case .chat(let partner): .chat(id: id, with: partner)
        case .leave: .leave(id: id)
        case .send(let body): .send(id: id, body: body)
        case .who: .who(id: id)
        case .inbox: .inbox(id: id)
        case .passwd(let password, let newPassword): .passwd(id: id, password: password, newPassword: newPassword)
        case .publishKeys(let keys): .publishKeys(id: id, keys: keys)
        case .fetchKeys(let username): .fetchKeys(id: id, username: username)
        case .deleteAccount(let password): .deleteAccount(id: id, password: password)
        case .upload(let file, let to, let size, let chunks): .upload(id: id, file: file, to: to, size: size, chunks: chunks)
        case .chunk(let file, let index, let data): .chunk(id: id, file: file, index: index, data: data)
        case .download(let file, let from, let count): .download(id: id, file: file, from: from, count: count)
        case .fileDone(let file, let received): .fileDone(id: id, file: file, received: received)
        case .fileForget(let file): .fileForget(id: id, file: file)
        }
    }
}

extension ChatRequest: CustomStringConvertible {
    /// Log-safe: no password, no message body.
    public var description: String {
        switch self {
        case .register(let username, _): "register(username: \(username))"
        case .login(let username, _): "login(username: \(username))"
        case .logout: "logout"
        case .ping: "ping"
        case .chat(let partner): "chat(with: \(partner))"
        case .leave: "leave"
        case .send(let body): "send(<\(body.utf8.count) bytes>)"
        case .who: "who"
        case .inbox: "inbox"
        case .passwd: "passwd"
        case .publishKeys(let keys): "publish_keys(prekeys: \(keys.preKeys.count))"
        case .fetchKeys(let username): "fetch_keys(username: \(username))"
        case .deleteAccount: "delete_account"
        case .upload(let file, let to, let size, let chunks): "upload(file: \(file), to: \(to), size: \(size), chunks: \(chunks))"
        case .chunk(let file, let index, let data): "chunk(file: \(file), index: \(index), <\(data.utf8.count) bytes>)"
        case .download(let file, let from, let count): "download(file: \(file), from: \(from), count: \(count))"
        case .fileDone(let file, let received): "file_done(file: \(file), \(received ? "received" : "rejected"))"
        case .fileForget(let file): "file_forget(file: \(file))"
        }
    }
}

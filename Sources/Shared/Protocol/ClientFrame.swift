/// A frame sent by the client to the server.
///
/// Each case is one JSON `type`. To add a frame (say `send` for chat): add the case, its `Kind`,
/// and one branch each in `ClientFrame+JSON.swift`'s `decode` and `encode`; the compiler points at
/// every switch that needs it.
public enum ClientFrame: Hashable, Sendable {
    /// Opens the session; must be the first frame. Carries no `id`.
    case hello(version: Int, agent: String)
    /// Creates an account. Does not log in: the client sends `login` after the `ok`.
    case register(id: Int, username: String, password: String)
    /// Logs this session in as `username`.
    case login(id: Int, username: String, password: String)
    /// Logs out; the connection stays open.
    case logout(id: Int)
    /// Asks for an `ok`, to check the connection is alive.
    case ping(id: Int)
    /// Choose whom to chat with; stored messages from them follow, oldest first.
    case chat(id: Int, with: String)
    /// End the current 1-1 session but stay logged in.
    case leave(id: Int)
    /// A message to the chosen partner.
    case send(id: Int, body: String)
    /// The client has shown every message of this connection up to and including `seq`
    /// (cumulative); the server forgets them and tells their senders.
    case ack(seq: Int)
    /// Who is online, and whether free or in a session.
    case who(id: Int)
    /// Counts of waiting messages per sender.
    case inbox(id: Int)
    /// Change the logged-in user's password from `password` to `newPassword`.
    case passwd(id: Int, password: String, newPassword: String)
    /// Publish this user's public keys for end-to-end encryption: a new identity key starts
    /// the user's keys afresh, the same one replaces the signed prekey and adds one-time
    /// prekeys. Answered `ok` with the count of one-time prekeys stored.
    case publishKeys(id: Int, keys: PublishedKeys)
    /// Fetch `username`'s keys, with one of their one-time prekeys (handed out only this
    /// once). Answered with `keys`.
    case fetchKeys(id: Int, username: String)
    /// Delete the logged-in user's account, published keys and inbox, after checking
    /// `password`; the session is logged out.
    case deleteAccount(id: Int, password: String)
    /// Start (or resume) sending the file `file` (a new random id, 32 lower-case hex digits)
    /// of `size` bytes in `chunks` chunks to `to`. Answered `upload` with the chunks the
    /// server already holds, from where the upload goes on.
    case upload(id: Int, file: String, to: String, size: Int, chunks: Int)
    /// Chunk `index` of an upload: end-to-end encrypted, base64. Answered `ok` once stored.
    case chunk(id: Int, file: String, index: Int, data: String)
    /// Send up to `count` chunks of a file for this user, from chunk `from`: `chunk` frames,
    /// then `ok`.
    case download(id: Int, file: String, from: Int, count: Int)
    /// The recipient is done with a file: `received` (every chunk fetched and checked) or
    /// rejected. The server deletes it and tells the sender.
    case fileDone(id: Int, file: String, received: Bool)
    /// The sender has seen a file's outcome (`file_outcome`); the server forgets it.
    case fileForget(id: Int, file: String)

    /// The JSON `type` of each frame.
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        case hello, register, login, logout, ping, chat, leave, send, ack, who, inbox, passwd
        case publishKeys = "publish_keys"
        case fetchKeys = "fetch_keys"
        case deleteAccount = "delete_account"
        case upload, chunk, download
        case fileDone = "file_done"
        case fileForget = "file_forget"
    }

    /// This frame's JSON `type`.
    public var kind: Kind {
        switch self {
        case .hello: .hello
        case .register: .register
        case .login: .login
        case .logout: .logout
        case .ping: .ping
        case .chat: .chat
        case .leave: .leave
        case .send: .send
        case .ack: .ack
        case .who: .who
        case .inbox: .inbox
        case .passwd: .passwd
        case .publishKeys: .publishKeys
        case .fetchKeys: .fetchKeys
        case .deleteAccount: .deleteAccount
        case .upload: .upload
        case .chunk: .chunk
        case .download: .download
        case .fileDone: .fileDone
        case .fileForget: .fileForget
        }
    }

    /// The request `id`, which the reply echoes; nil for `hello`.
    public var id: Int? {
        switch self {
        case .hello, .ack: nil
        case .register(let id, _, _), .login(let id, _, _), .logout(let id), .ping(let id): id
        case .chat(let id, _), .leave(let id), .send(let id, _), .who(let id), .inbox(let id): id
        case .passwd(let id, _, _), .deleteAccount(let id, _): id
        case .publishKeys(let id, _), .fetchKeys(let id, _): id
        case .upload(let id, _, _, _, _), .chunk(let id, _, _, _), .download(let id, _, _, _): id
        case .fileDone(let id, _, _), .fileForget(let id, _): id
        }
    }
}

extension ClientFrame: CustomStringConvertible, CustomDebugStringConvertible {
    /// A log-safe rendering: passwords are replaced by `<redacted>`.
    ///
    /// Logging a frame with `\(frame)` must never leak a password, so the default enum rendering,
    /// which prints every associated value, is replaced for both `description` and `debugDescription`.
    public var description: String {
        switch self {
        case .hello(let version, let agent):
            "hello(version: \(version), agent: \(agent))"
        case .register(let id, let username, _):
            "register(id: \(id), username: \(username), password: <redacted>)"
        case .login(let id, let username, _):
            "login(id: \(id), username: \(username), password: <redacted>)"
        case .logout(let id):
            "logout(id: \(id))"
        case .ping(let id):
            "ping(id: \(id))"
        case .chat(let id, let with):
            "chat(id: \(id), with: \(with))"
        case .leave(let id):
            "leave(id: \(id))"
        case .send(let id, let body):
            // Message bodies are as private as passwords: never in logs.
            "send(id: \(id), body: <\(body.utf8.count) bytes>)"
        case .ack(let seq):
            "ack(seq: \(seq))"
        case .who(let id):
            "who(id: \(id))"
        case .inbox(let id):
            "inbox(id: \(id))"
        case .passwd(let id, _, _):
            "passwd(id: \(id), password: <redacted>, new_password: <redacted>)"
        case .publishKeys(let id, let keys):
            // Public keys are no secret, but a whole set is long: say what it holds.
            "publish_keys(id: \(id), registration_id: \(keys.registrationID), signed_prekey: \(keys.signedPreKey.id), "
                + "prekeys: \(keys.preKeys.count))"
        case .fetchKeys(let id, let username):
            "fetch_keys(id: \(id), username: \(username))"
        case .deleteAccount(let id, _):
            "delete_account(id: \(id), password: <redacted>)"
        case .upload(let id, let file, let to, let size, let chunks):
            "upload(id: \(id), file: \(file), to: \(to), size: \(size), chunks: \(chunks))"
        case .chunk(let id, let file, let index, let data):
            "chunk(id: \(id), file: \(file), index: \(index), data: <\(data.utf8.count) bytes>)"
        case .download(let id, let file, let from, let count):
            "download(id: \(id), file: \(file), from: \(from), count: \(count))"
        case .fileDone(let id, let file, let received):
            "file_done(id: \(id), file: \(file), outcome: \(received ? "received" : "rejected"))"
        case .fileForget(let id, let file):
            "file_forget(id: \(id), file: \(file))"
        }
    }

    /// Same as `description`, so `debugPrint` and `String(reflecting:)` are log-safe too.
    public var debugDescription: String { self.description }
}

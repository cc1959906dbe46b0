import Shared

/// The server's answer to `send`.
public struct SentMessage: Hashable, Sendable {
    /// The server's id for the message; later receipts name it.
    public var messageID: String
    /// `sent` (the partner's connection has it) or `stored` (in their inbox, on disk).
    public var status: ReceiptStatus

    public init(messageID: String, status: ReceiptStatus) {
        self.messageID = messageID
        self.status = status
    }
}

/// Waiting messages per sender, and how many expired unread.
public struct InboxSummary: Hashable, Sendable {
    /// Waiting messages per sender.
    public var counts: [String: Int]
    /// Messages that expired unread since the last summary.
    public var expired: Int

    public init(counts: [String: Int], expired: Int) {
        self.counts = counts
        self.expired = expired
    }
}

/// The server's answer to `login`: the canonical name, and what the client needs to decide
/// whether to publish its keys (none published, or another identity) or top up its one-time
/// prekeys.
public struct LoginResult: Hashable, Sendable {
    /// The canonical (lower-case) username.
    public var username: String
    /// The identity key this user has published; nil when they have published none.
    public var identityKey: [UInt8]?
    /// One-time prekeys the server still holds for this user; nil when they have published
    /// no keys.
    public var preKeyCount: Int?
    /// The password was a one-time password from the operator: until `changePassword`
    /// succeeds, the server refuses everything but `passwd`, `logout` and `ping`.
    public var mustChangePassword: Bool

    public init(username: String, identityKey: [UInt8]?, preKeyCount: Int?, mustChangePassword: Bool = false) {
        self.username = username
        self.identityKey = identityKey
        self.preKeyCount = preKeyCount
        self.mustChangePassword = mustChangePassword
    }
}

/// The server's answer to `chat`.
public struct ChatOpened: Hashable, Sendable {
    /// The partner's canonical (lower-case) name.
    public var username: String
    /// The partner's published identity key now; nil when they have published none. The
    /// server refuses `send` with `identity_changed` once it is no longer this key.
    public var identityKey: [UInt8]?

    public init(username: String, identityKey: [UInt8]?) {
        self.username = username
        self.identityKey = identityKey
    }
}

extension ChatConnection {
    /// Creates an account (does not log in).
    public func register(username: String, password: String) async throws {
        try Self.expectOK(try await request(.register(username: username, password: password)))
    }

    /// Logs in; returns the canonical (lower-case) username and the user's published keys'
    /// state. The inbox summary follows as an event.
    @discardableResult
    public func login(username: String, password: String) async throws -> LoginResult {
        let reply = try await request(.login(username: username, password: password))
        guard case .ok(_, let canonical, let identityKey, let preKeys, let mustChange) = reply else {
            throw Self.unexpected(reply)
        }
        return LoginResult(
            username: canonical ?? username.lowercased(), identityKey: identityKey, preKeyCount: preKeys,
            mustChangePassword: mustChange)
    }

    /// Changes the logged-in user's password from `password` to `newPassword`.
    public func changePassword(from password: String, to newPassword: String) async throws {
        try Self.expectOK(try await request(.passwd(password: password, newPassword: newPassword)))
    }

    /// Deletes the logged-in user's account, published keys and inbox, after the server has
    /// checked `password`; the session is then logged out (the connection stays open).
    public func deleteAccount(password: String) async throws {
        try Self.expectOK(try await request(.deleteAccount(password: password)))
    }

    /// Logs out; the connection stays open.
    public func logout() async throws {
        try Self.expectOK(try await request(.logout))
    }

    /// Checks that the connection is alive.
    public func ping() async throws {
        try Self.expectOK(try await request(.ping))
    }

    /// Chooses `partner`; returns their canonical name and current identity key. Stored
    /// messages from them arrive as events before this returns.
    @discardableResult
    public func chat(with partner: String) async throws -> ChatOpened {
        let reply = try await request(.chat(with: partner))
        guard case .ok(_, let canonical, let identityKey, _, _) = reply else { throw Self.unexpected(reply) }
        return ChatOpened(username: canonical ?? partner.lowercased(), identityKey: identityKey)
    }

    /// Publishes this device's keys; returns how many one-time prekeys the server now holds
    /// for the user. Refused with `too_many_prekeys` past the server's cap (nothing stored).
    @discardableResult
    public func publishKeys(_ keys: PublishedKeys) async throws -> Int {
        let reply = try await request(.publishKeys(keys))
        guard case .ok(_, _, _, let preKeys?, _) = reply else { throw Self.unexpected(reply) }
        return preKeys
    }

    /// `username`'s keys, with one of their one-time prekeys if any is left (the server hands
    /// each out once). Refused with `unknown_user` or `no_keys`.
    public func fetchKeys(for username: String) async throws -> PublishedBundle {
        switch try await request(.fetchKeys(username: username)) {
        case .keys(_, let bundle): return bundle
        case let other: throw Self.unexpected(other)
        }
    }

    /// Ends the current chat, staying logged in.
    public func leave() async throws {
        try Self.expectOK(try await request(.leave))
    }

    /// Sends `body` to the chosen partner.
    @discardableResult
    public func send(_ body: String) async throws -> SentMessage {
        switch try await request(.send(body: body)) {
        case .receipt(_, let messageID, let status): return SentMessage(messageID: messageID, status: status)
        case let other: throw Self.unexpected(other)
        }
    }

    /// Every other logged-in user, with whether they are chatting.
    public func who() async throws -> [PresenceEntry] {
        switch try await request(.who) {
        case .who(_, let users): return users
        case let other: throw Self.unexpected(other)
        }
    }

    /// Waiting messages per sender.
    public func inbox() async throws -> InboxSummary {
        switch try await request(.inbox) {
        case .inbox(_, let counts, let expired): return InboxSummary(counts: counts, expired: expired)
        case let other: throw Self.unexpected(other)
        }
    }

    /// Throws unless `frame` is an `ok`.
    static func expectOK(_ frame: ServerFrame) throws {
        guard case .ok = frame else { throw unexpected(frame) }
    }

    /// `refused` for an `error` answer, `unexpectedReply` for anything else.
    static func unexpected(_ frame: ServerFrame) -> SessionError {
        if case .error(let error) = frame { return .refused(error) }
        return .unexpectedReply(frame.kind)
    }
}

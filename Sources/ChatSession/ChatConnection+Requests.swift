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

extension ChatConnection {
    /// Creates an account (does not log in).
    public func register(username: String, password: String) async throws {
        try Self.expectOK(try await request(.register(username: username, password: password)))
    }

    /// Logs in; returns the canonical (lower-case) username. The inbox summary follows as
    /// an event.
    public func login(username: String, password: String) async throws -> String {
        let reply = try await request(.login(username: username, password: password))
        return try Self.expectOK(reply) ?? username.lowercased()
    }

    /// Changes the logged-in user's password from `password` to `newPassword`.
    public func changePassword(from password: String, to newPassword: String) async throws {
        try Self.expectOK(try await request(.passwd(password: password, newPassword: newPassword)))
    }

    /// Logs out; the connection stays open.
    public func logout() async throws {
        try Self.expectOK(try await request(.logout))
    }

    /// Checks that the connection is alive.
    public func ping() async throws {
        try Self.expectOK(try await request(.ping))
    }

    /// Chooses `partner`; returns their canonical name. Stored messages from them arrive
    /// as events before this returns.
    @discardableResult
    public func chat(with partner: String) async throws -> String {
        try Self.expectOK(try await request(.chat(with: partner))) ?? partner.lowercased()
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

    /// The username an `ok` carries; throws for anything else.
    @discardableResult
    static func expectOK(_ frame: ServerFrame) throws -> String? {
        guard case .ok(_, let username) = frame else { throw unexpected(frame) }
        return username
    }

    /// `refused` for an `error` answer, `unexpectedReply` for anything else.
    static func unexpected(_ frame: ServerFrame) -> SessionError {
        if case .error(let error) = frame { return .refused(error) }
        return .unexpectedReply(frame.kind)
    }
}

import ChatSession
import Shared

/// A well-behaved client for tests, built on the session library: verified TLS, hello,
/// replies matched by id, acks after the test has "shown" a message, duplicates dropped.
/// For tests that must send what a client never would, `LineClient` stays raw.
public final class SessionClient {
    /// The open session.
    public let connection: ChatConnection
    /// What the login said, once `loggedIn` has logged in.
    public private(set) var login: LoginResult?
    private var events: AsyncStream<SessionEvent>.Iterator

    private init(connection: ChatConnection) {
        self.connection = connection
        self.events = connection.events.makeAsyncIterator()
    }

    /// Connects to `port` on 127.0.0.1, verifying against `caFile`, and says hello.
    public static func connect(
        port: Int, caFile: String, acknowledgement: AcknowledgementPolicy = .afterShown
    ) async throws -> SessionClient {
        let configuration = SessionConfiguration(
            port: port, caFile: caFile, agent: "session-client/test", acknowledgement: acknowledgement)
        let connection = try await SessionConnector(configuration: configuration).connect()
        return SessionClient(connection: connection)
    }

    /// Connects, registers `username` when asked, and logs in, then reads up to the
    /// login's inbox summary, which it returns.
    public static func loggedIn(
        _ username: String, port: Int, caFile: String, register: Bool, password: String = "password123",
        acknowledgement: AcknowledgementPolicy = .afterShown
    ) async throws -> (client: SessionClient, summary: InboxSummary) {
        let client = try await connect(port: port, caFile: caFile, acknowledgement: acknowledgement)
        if register {
            try await client.connection.register(username: username, password: password)
        }
        client.login = try await client.connection.login(username: username, password: password)
        while true {
            if case .inboxSummary(let counts, let expired) = try await client.nextEvent() {
                return (client, InboxSummary(counts: counts, expired: expired))
            }
        }
    }

    /// How long `nextEvent` waits before it gives up: far beyond anything a test waits for,
    /// so a hang fails with where it hung rather than at the test's time limit.
    public static let eventTimeout = TestTimeouts.scaled(60)

    /// The next event; throws once the stream has ended (after `closed`), or when none has
    /// come within `eventTimeout` (the connection is then closed, to end the wait).
    public func nextEvent() async throws -> SessionEvent {
        let timedOut = Locked(false)
        let watchdog = Self.watchdog(closing: connection, flag: timedOut)
        defer { watchdog.cancel() }
        let event = await events.next()
        if timedOut.withLock({ $0 }) {
            throw FixtureError("no event from the server within \(Int(Self.eventTimeout)) s")
        }
        guard let event else { throw FixtureError("the session's events have ended") }
        return event
    }

    /// Closes `connection` after `eventTimeout` unless cancelled first, setting `flag`.
    private static func watchdog(closing connection: ChatConnection, flag: Locked<Bool>) -> Task<Void, any Error> {
        Task {
            try await Task.sleep(for: .seconds(eventTimeout))
            flag.withLock { $0 = true }
            await connection.close()
        }
    }

    /// Events up to and including the next message, which it returns; throws if the
    /// connection closes first.
    public func nextMessage() async throws -> ChatMessage {
        while true {
            switch try await nextEvent() {
            case .message(let message): return message
            case .closed(let reason): throw FixtureError("closed before a message: \(reason)")
            default: continue
            }
        }
    }

    /// Events up to the next notice with `code`; throws if the connection closes first.
    public func waitForNotice(_ code: NoticeCode) async throws {
        while true {
            switch try await nextEvent() {
            case .notice(code, _): return
            case .closed(let reason): throw FixtureError("closed before \(code): \(reason)")
            default: continue
            }
        }
    }

    /// Events up to the next receipt for `messageID` with `status`.
    public func waitForReceipt(_ messageID: String, _ status: ReceiptStatus) async throws {
        while true {
            switch try await nextEvent() {
            case .receipt(messageID, status): return
            case .closed(let reason): throw FixtureError("closed before the \(status) receipt: \(reason)")
            default: continue
            }
        }
    }

    /// Waits until the server says `messageID` was shown to its recipient.
    public func waitForDelivered(_ messageID: String) async throws {
        while true {
            switch try await nextEvent() {
            case .delivered(let ids) where ids.contains(messageID): return
            case .closed(let reason): throw FixtureError("closed before \(messageID) was delivered: \(reason)")
            default: continue
            }
        }
    }

    /// Closes with close_notify.
    public func close() async {
        await connection.close()
    }
}

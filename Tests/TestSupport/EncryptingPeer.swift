import EndToEnd
import SecureMessaging
import Shared

/// A user driven frame by frame over `LineClient`s who still encrypts as chat-client does:
/// it publishes keys, fetches its partner's, and turns texts into Signal bodies. Tests that
/// script one side by hand use it to talk to a real chat-client on the other. Its keys
/// outlive any one connection (a test that reconnects keeps the same device).
///
/// `@unchecked Sendable`: one test task uses it at a time.
public final class EncryptingPeer: @unchecked Sendable {
    private let messenger: Messenger
    /// Request ids of its own, far from the ones tests write by hand.
    private var nextID = 9_000

    /// A new device for `username`, with nothing published yet.
    public init(_ username: String) throws {
        messenger = try Messenger(username: username, storage: InMemorySealedStorage())
    }

    /// Publishes this device's keys through `client`, logged in as its user.
    public func publishKeys(on client: LineClient) async throws {
        guard let publication = try messenger.publication(serverIdentityKey: nil, serverPreKeys: nil) else {
            throw FixtureError("a new device had nothing to publish")
        }
        _ = try await request(.publishKeys(id: nextID, keys: publication.published), on: client)
    }

    /// The body that carries `text` to `partner`; their keys are fetched through `client`
    /// the first time.
    public func body(_ text: String, to partner: String, on client: LineClient) async throws -> String {
        if try messenger.needsSession(with: partner) {
            guard case .keys(_, let bundle) = try await request(.fetchKeys(id: nextID, username: partner), on: client)
            else { throw FixtureError("no keys for \(partner)") }
            try messenger.startSession(with: partner, bundle: PreKeyBundle(published: bundle))
        }
        return try messenger.encrypt(text, to: partner)
    }

    /// Sends `text` to the chosen partner as request `id` (not waiting for the receipt).
    public func send(_ text: String, to partner: String, id: Int, on client: LineClient) async throws {
        let body = try await body(text, to: partner, on: client)
        try await client.send(String(decoding: ClientFrame.send(id: id, body: body).encode(), as: UTF8.self))
    }

    /// Sends `frame` and returns the decoded answer, dropping what comes before it; throws
    /// for an `error`.
    private func request(_ frame: ClientFrame, on client: LineClient) async throws -> ServerFrame {
        let id = nextID
        nextID += 1
        try await client.send(String(decoding: frame.encode(), as: UTF8.self))
        while let line = try await client.receive() {
            guard case .success(let answer) = ServerFrame.decode(Array(line.utf8)), answer.id == id else { continue }
            if case .error(let error) = answer { throw FixtureError("\(frame.kind.rawValue) refused: \(error.message)") }
            return answer
        }
        throw FixtureError("the connection closed before the answer to \(frame.kind.rawValue)")
    }
}

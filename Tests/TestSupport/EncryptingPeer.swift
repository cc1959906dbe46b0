import EndToEnd
import Foundation
import LocalVault
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
        try await startSessionIfNeeded(with: partner, on: client)
        return try messenger.encrypt(text, to: partner)
    }

    private func startSessionIfNeeded(with partner: String, on client: LineClient) async throws {
        if try messenger.needsSession(with: partner) {
            guard case .keys(_, let bundle) = try await request(.fetchKeys(id: nextID, username: partner), on: client)
            else { throw FixtureError("no keys for \(partner)") }
            try messenger.startSession(with: partner, bundle: PreKeyBundle(published: bundle))
        }
    }

    /// Sends `text` to the chosen partner as request `id` (not waiting for the receipt).
    public func send(_ text: String, to partner: String, id: Int, on client: LineClient) async throws {
        let body = try await body(text, to: partner, on: client)
        try await client.send(String(decoding: ClientFrame.send(id: id, body: body).encode(), as: UTF8.self))
    }

    /// Sends `content` to `partner` as chat-client sends a file (chunks sealed under a fresh
    /// key, then the offer through the ratchet as `send` request `id`), but under any `name`
    /// at all: what a hostile sender could offer. Does not wait for the offer's receipt.
    public func sendFile(named name: String, content: [UInt8], to partner: String, id: Int, on client: LineClient) async throws {
        let fileID = try FileCipher.newFileID()
        let cipher = try FileCipher.random()
        let chunks = FileChunks.count(forSize: content.count)
        _ = try await request(.upload(id: nextID, file: fileID, to: partner, size: content.count, chunks: chunks), on: client)
        for index in 0..<chunks {
            let piece = Array(content[min(content.count, index * FileChunks.plaintextBytes)..<min(content.count, (index + 1) * FileChunks.plaintextBytes)])
            let sealed = try cipher.seal(piece, fileID: fileID, index: index, of: chunks)
            _ = try await request(.chunk(id: nextID, file: fileID, index: index, data: Data(sealed).base64EncodedString()), on: client)
        }
        let hasher = try SHA256Hasher()
        try hasher.update(content)
        let offer = FileOffer(
            fileID: fileID, name: name, size: content.count, chunks: chunks, sha256: try hasher.hexDigest(), key: cipher.key)
        try await startSessionIfNeeded(with: partner, on: client)
        let body = try messenger.encrypt(offer, to: partner)
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

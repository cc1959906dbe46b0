import EndToEnd
import SecureMessaging
import Shared

/// One relay user's end-to-end encryption, as chat-client does it: its own device (keys in
/// memory), its session with its partner, and the Signal body of every stamped text.
///
/// Driven on its pair's event loop only (a `Messenger` is not Sendable). The user who
/// starts the session (from the partner's fetched keys) can send at once; the other can
/// only once the first message has arrived and set up its side.
final class RelayCipher {
    private let messenger: Messenger
    /// The partner's username.
    let partner: String
    /// Whether a session with the partner exists, so a body can be made.
    private(set) var canSend = false

    /// A new device for `username`, writing to `partner`.
    init(username: String, partner: String) throws {
        messenger = try Messenger(username: username, storage: InMemorySealedStorage())
        self.partner = partner
    }

    /// What this new device publishes.
    func publication() throws -> PublishedKeys {
        guard let publication = try messenger.publication(serverIdentityKey: nil, serverPreKeys: nil) else {
            throw BenchError.unexpectedReply("a new device had no keys to publish")
        }
        return publication.published
    }

    /// Starts the session from the partner's published keys.
    func start(with bundle: PublishedBundle) throws {
        try messenger.startSession(with: partner, bundle: PreKeyBundle(published: bundle))
        canSend = true
    }

    /// `text` as a body for the partner.
    func seal(_ text: String) throws -> String {
        try messenger.encrypt(text, to: partner)
    }

    /// The text of a body from the partner; nil if it does not decrypt.
    func open(_ message: ChatMessage) -> String? {
        guard case .text(let text)? = try? messenger.decrypt(
            message.body, from: partner, messageID: message.id, sentAtMilliseconds: message.sentAtMilliseconds)
        else { return nil }
        canSend = true
        return text
    }
}

@available(*, unavailable)
extension RelayCipher: Sendable {}

import EndToEnd
import Foundation

/// The end-to-end encryption of one user's chats: keys to publish, trust in partners'
/// identity keys, and turning texts into Signal messages and back.
///
/// Synchronous, and not Sendable: libomemo-c's state is used without locks, so one task
/// (chat-client's REPL) or one event loop (a chat-bench pair) owns a messenger. Every
/// operation writes what it changed to the sealed storage before it returns.
public final class Messenger {
    /// This device's user.
    public let username: String
    /// Whether this device's keys were made when it was opened (no state existed).
    public let isNewDevice: Bool

    /// One-time prekeys made at a time.
    public static let preKeyBatch = 100
    /// Fewer one-time prekeys than this on the server: make a batch more.
    static let preKeyLowWater = 25
    /// A signed prekey is replaced after a week...
    static let signedPreKeyLifetime: TimeInterval = 7 * 24 * 3600
    /// ...and kept for a month after that, for prekey messages still in inboxes.
    static let retiredSignedPreKeyKept: TimeInterval = 30 * 24 * 3600

    private let state: DeviceState
    private let storage: any SealedStorage
    private var book: ContactBook

    /// The device in `storage`, made there if it has none.
    public init(username: String, storage: any SealedStorage, now: Date = Date()) throws(MessengerError) {
        self.username = username
        self.storage = storage
        if let loaded = try DeviceState.load(from: storage) {
            state = loaded
            isNewDevice = false
        } else {
            // No one-time prekeys yet: the first publication makes them.
            state = try DeviceState.create(in: storage, preKeyCount: 0, now: now)
            isNewDevice = true
        }
        book = try ContactBook.load(from: storage)
    }

    /// This device's identity key.
    public func identityKey() throws(MessengerError) -> IdentityKey {
        try MessengerError.device { try state.device.identityKey() }
    }

    // MARK: - Keys

    /// What to publish after logging in, given what the server holds for this user (its
    /// `identity_key` and `prekeys`): everything when it holds another device's keys or
    /// none, a batch of one-time prekeys when they run low, the new signed prekey when
    /// it is due; nil when nothing is needed.
    public func publication(
        serverIdentityKey: [UInt8]?, serverPreKeys: Int?, now: Date = Date()
    ) throws(MessengerError) -> KeyPublication? {
        let rotated = try rotateSignedPreKeyIfDue(now: now)
        let identity = try identityKey()
        let fresh: [OneTimePreKey]
        if serverIdentityKey != identity.bytes {
            // Fresh prekeys rather than the unused ones kept here: the server may already
            // have handed those out, and each is to be used once.
            fresh = try generatePreKeys(Self.preKeyBatch)
        } else if let count = serverPreKeys, count >= Self.preKeyLowWater {
            fresh = []
        } else {
            fresh = try generatePreKeys(Self.preKeyBatch - (serverPreKeys ?? 0))
        }
        guard serverIdentityKey != identity.bytes || rotated || !fresh.isEmpty else { return nil }
        return try publicationWith(fresh)
    }

    /// A batch of one-time prekeys to publish when the server says they run low.
    public func replenishment() throws(MessengerError) -> KeyPublication {
        try publicationWith(generatePreKeys(Self.preKeyBatch))
    }

    private func publicationWith(_ preKeys: [OneTimePreKey]) throws(MessengerError) -> KeyPublication {
        try state.save()
        return try MessengerError.device {
            KeyPublication(
                registrationID: try state.device.registrationID(), identityKey: try state.device.identityKey(),
                signedPreKey: try state.device.currentSignedPreKey(), preKeys: preKeys)
        }
    }

    private func generatePreKeys(_ count: Int) throws(MessengerError) -> [OneTimePreKey] {
        try MessengerError.device { try state.device.generatePreKeys(count: max(0, count)) }
    }

    private func rotateSignedPreKeyIfDue(now: Date) throws(MessengerError) -> Bool {
        guard now.timeIntervalSince(state.signedPreKeyMadeAt) >= Self.signedPreKeyLifetime else { return false }
        try MessengerError.device {
            _ = try state.device.rotateSignedPreKey(now: now)
            try state.device.pruneSignedPreKeys(retiredBefore: now.addingTimeInterval(-Self.retiredSignedPreKeyKept))
        }
        state.signedPreKeyRotated(at: now)
        return true
    }

    // MARK: - Trust

    /// Checks the identity key the server reports for `partner` when a chat opens against
    /// the trusted one. A first key is trusted (and that is said); a different one blocks
    /// sending until `trust(_:)`.
    public func opened(_ partner: String, identityKey bytes: [UInt8]?) throws(MessengerError) -> PartnerKeyStatus {
        guard let bytes else { return .noKeys }
        let key: IdentityKey
        do throws(EncryptionError) {
            key = try IdentityKey(bytes: bytes)
        } catch {
            throw .badBundle(partner, error)
        }
        let peer = PeerAddress(name: partner)
        switch try MessengerError.device({ try state.device.identity(of: peer) }) {
        case nil:
            try MessengerError.device { try state.device.trust(key, for: peer) }
            try state.save()
            return .firstContact
        case key:
            return .trusted(confirmed: book.confirmed[partner] == key.bytes)
        default:
            try book.report(key.bytes, for: partner, in: storage)
            return .changed
        }
    }

    /// Whether a key change of `partner`'s waits for the user's `/trust`.
    public func awaitsTrust(_ partner: String) -> Bool {
        book.reported[partner] != nil
    }

    /// The user accepts `partner`'s new identity key (after `.changed` or
    /// `.heldForTrust`): it is trusted from now on, the old session ends (the next message
    /// starts one from their new keys), a confirmation of the old key is dropped, and the
    /// messages kept for this are decrypted and returned, oldest first. Nil if no change
    /// was waiting.
    public func trust(_ partner: String) throws(MessengerError) -> [ReleasedMessage]? {
        guard let bytes = book.reported[partner] else { return nil }
        let peer = PeerAddress(name: partner)
        try MessengerError.device {
            try state.device.trust(try IdentityKey(bytes: bytes), for: peer)
            try state.device.deleteSession(with: peer)
        }
        try state.save()
        let kept = book.held.filter { $0.from == partner }
        try book.accept(partner, in: storage)
        var released: [ReleasedMessage] = []
        for message in kept {
            released.append(ReleasedMessage(
                messageID: message.messageID, sentAtMilliseconds: message.sentAtMilliseconds,
                body: try decrypt(message.body, from: partner, messageID: message.messageID,
                                  sentAtMilliseconds: message.sentAtMilliseconds)))
        }
        return released
    }

    /// The safety number of this user and `partner`, over the key waiting for `/trust`
    /// if there is one (that is the one to compare), else the trusted one; nil if no key
    /// is known.
    public func safetyNumber(with partner: String) throws(MessengerError) -> SafetyNumber? {
        let peer = PeerAddress(name: partner)
        let remote: IdentityKey?
        if let reported = book.reported[partner] {
            remote = try? IdentityKey(bytes: reported)
        } else {
            remote = try MessengerError.device { try state.device.identity(of: peer) }
        }
        guard let remote else { return nil }
        return try MessengerError.device {
            try SafetyNumber(localIdentifier: username, localKey: try state.device.identityKey(),
                             remoteIdentifier: partner, remoteKey: remote)
        }
    }

    /// Records that the user compared safety numbers with `partner` over the trusted key.
    /// False if there is nothing to confirm (no trusted key, or a change awaits `/trust`).
    public func confirm(_ partner: String) throws(MessengerError) -> Bool {
        guard book.reported[partner] == nil,
              let key = try MessengerError.device({ try state.device.identity(of: PeerAddress(name: partner)) })
        else { return false }
        try book.confirm(key.bytes, for: partner, in: storage)
        return true
    }

    /// Whether the user confirmed `partner`'s trusted key (never while a new key waits).
    public func isConfirmed(_ partner: String) throws(MessengerError) -> Bool {
        guard book.reported[partner] == nil, let key = try MessengerError.device({ try state.device.identity(of: PeerAddress(name: partner)) })
        else { return false }
        return book.confirmed[partner] == key.bytes
    }

    // MARK: - Messages

    /// Whether a message to `partner` needs their published keys first (no session
    /// yet): fetch them and call `startSession(with:bundle:)`.
    public func needsSession(with partner: String) throws(MessengerError) -> Bool {
        try !MessengerError.device { try state.device.hasSession(with: PeerAddress(name: partner)) }
    }

    /// Starts a session with `partner` from their published keys (nil: they have none),
    /// so that the next body to them is a prekey message.
    public func startSession(with partner: String, bundle: PreKeyBundle?) throws(MessengerError) {
        guard let bundle else { throw .partnerHasNoKeys(partner) }
        try startSession(with: PeerAddress(name: partner), bundle: bundle)
    }

    /// `text` as a body for `partner`: a Signal message in standard base64.
    ///
    /// - Throws: `MessengerError`; nothing is to be sent.
    public func encrypt(_ text: String, to partner: String) throws(MessengerError) -> String {
        let length = text.utf8.count
        guard length <= MessageEnvelope.maximumTextBytes else { throw .textTooLong(bytes: length) }
        return try encrypt(envelope: MessageEnvelope.seal(text), to: partner)
    }

    /// A file offer as a body for `partner`: the file's key travels inside the ratchet.
    ///
    /// - Throws: `MessengerError`; nothing is to be sent.
    public func encrypt(_ offer: FileOffer, to partner: String) throws(MessengerError) -> String {
        try encrypt(envelope: MessageEnvelope.seal(offer), to: partner)
    }

    private func encrypt(envelope: [UInt8], to partner: String) throws(MessengerError) -> String {
        guard book.reported[partner] == nil else { throw .partnerKeyChanged(partner) }
        let peer = PeerAddress(name: partner)
        let message = try MessengerError.device { try state.device.encrypt(envelope, for: peer) }
        try state.save()
        return message.base64EncodedString()
    }

    private func startSession(with peer: PeerAddress, bundle: PreKeyBundle) throws(MessengerError) {
        guard book.reported[peer.name] == nil else { throw .partnerKeyChanged(peer.name) }
        do throws(EncryptionError) {
            try state.device.startSession(with: peer, bundle: bundle)
        } catch .untrustedIdentity(_, let key) {
            try book.report(key.bytes, for: peer.name, in: storage)
            throw .partnerKeyChanged(peer.name)
        } catch .storeFailed(let reason) {
            throw .storageFailed(reason)
        } catch {
            throw .badBundle(peer.name, error)
        }
        try state.save()
    }

    /// What the body of a message from `sender` says. A message from a new identity key
    /// is kept, sealed, until `trust(_:)`.
    ///
    /// - Throws: `MessengerError.storageFailed` when the new state could not be saved: do
    ///   not acknowledge the message, so that it comes again.
    public func decrypt(
        _ body: String, from sender: String, messageID: String, sentAtMilliseconds: Int64
    ) throws(MessengerError) -> ReceivedBody {
        let message: EncryptedMessage
        do {
            message = try EncryptedMessage(base64Encoded: body)
        } catch {
            return .undecryptable("it is not a Signal message")
        }
        let plaintext: [UInt8]
        do throws(EncryptionError) {
            plaintext = try state.device.decrypt(message, from: PeerAddress(name: sender))
        } catch .duplicateMessage {
            return .duplicate
        } catch .untrustedIdentity(_, let key) {
            try book.report(key.bytes, for: sender, in: storage)
            try book.hold(HeldMessage(messageID: messageID, from: sender, body: body, sentAtMilliseconds: sentAtMilliseconds),
                          in: storage)
            return .heldForTrust
        } catch .storeFailed(let reason) {
            throw .storageFailed(reason)
        } catch .noSession, .invalidKeyID {
            return .undecryptable("there is no session it belongs to (sent to an earlier install of this account?)")
        } catch .legacyMessage {
            return .undecryptable("it uses an old protocol version")
        } catch {
            return .undecryptable("it was tampered with or damaged in transit")
        }
        try state.save()
        switch MessageEnvelope.content(plaintext) {
        case .text(let text): return .text(text)
        case .file(let offer): return .file(offer)
        case nil: return .undecryptable("it decrypts, but not to a text this client reads")
        }
    }
}

import EndToEnd
import Foundation
import SecureMessaging
import Testing

/// A key directory as the server keeps it: each user's latest publication, each one-time
/// prekey handed out once.
actor FakeKeyDirectory {
    private var published: [String: KeyPublication] = [:]
    private var preKeys: [String: [OneTimePreKey]] = [:]

    func publish(_ publication: KeyPublication, for user: String) {
        if published[user]?.identityKey != publication.identityKey { preKeys[user] = [] }
        published[user] = publication
        preKeys[user, default: []] += publication.preKeys
    }

    func identityKey(of user: String) -> [UInt8]? { published[user]?.identityKey.bytes }

    func preKeyCount(of user: String) -> Int? { published[user] == nil ? nil : preKeys[user]?.count ?? 0 }

    func bundle(for user: String) -> PreKeyBundle? {
        guard let keys = published[user] else { return nil }
        let preKey = preKeys[user]?.isEmpty == false ? preKeys[user]!.removeFirst() : nil
        return PreKeyBundle(
            registrationID: keys.registrationID, identityKey: keys.identityKey,
            signedPreKey: keys.signedPreKey, oneTimePreKey: preKey)
    }
}

/// One user's device over in-memory sealed storage, logged in against a `FakeKeyDirectory`.
struct Device: @unchecked Sendable {  // used from one test task
    let name: String
    let storage: InMemorySealedStorage
    let messenger: Messenger
    let directory: FakeKeyDirectory

    init(_ name: String, directory: FakeKeyDirectory, storage: InMemorySealedStorage = InMemorySealedStorage()) async throws {
        self.name = name
        self.storage = storage
        self.directory = directory
        messenger = try Messenger(username: name, storage: storage)
        if let publication = try messenger.publication(
            serverIdentityKey: await directory.identityKey(of: name), serverPreKeys: await directory.preKeyCount(of: name))
        {
            await directory.publish(publication, for: name)
        }
    }

    func open(_ partner: String) async throws -> PartnerKeyStatus {
        try messenger.opened(partner, identityKey: await directory.identityKey(of: partner))
    }

    func send(_ text: String, to partner: String) async throws -> String {
        if try messenger.needsSession(with: partner) {
            try messenger.startSession(with: partner, bundle: await directory.bundle(for: partner))
        }
        return try messenger.encrypt(text, to: partner)
    }

    func receive(_ body: String, from sender: String, id: String = UUID().uuidString) async throws -> ReceivedBody {
        try messenger.decrypt(body, from: sender, messageID: id, sentAtMilliseconds: 0)
    }
}

@Suite struct MessengerTests {
    @Test func aNewDevicePublishesItsKeysOnceAndTopsUpPrekeys() async throws {
        let directory = FakeKeyDirectory()
        let alice = try await Device("alice", directory: directory)
        #expect(alice.messenger.isNewDevice)
        #expect(await directory.preKeyCount(of: "alice") == Messenger.preKeyBatch)
        let published = await directory.identityKey(of: "alice")
        // Logged in again with everything in place: nothing to publish.
        #expect(try alice.messenger.publication(serverIdentityKey: published, serverPreKeys: Messenger.preKeyBatch) == nil)
        // Running low: a batch that brings the server back to a full one.
        let topUp = try #require(try alice.messenger.publication(
            serverIdentityKey: published, serverPreKeys: 5))
        #expect(topUp.preKeys.count == Messenger.preKeyBatch - 5)
        // A week later the signed prekey is replaced even with prekeys to spare.
        let rotated = try #require(try alice.messenger.publication(
            serverIdentityKey: published, serverPreKeys: 500,
            now: Date().addingTimeInterval(8 * 24 * 3600)))
        #expect(rotated.preKeys.isEmpty)
        #expect(rotated.signedPreKey != topUp.signedPreKey)
    }

    @Test func messagesFlowBothWaysAndTheStateSurvivesAReopen() async throws {
        let directory = FakeKeyDirectory()
        let alice = try await Device("alice", directory: directory)
        let bob = try await Device("bob", directory: directory)
        #expect(try await alice.open("bob") == .firstContact)
        #expect(try await bob.open("alice") == .firstContact)
        #expect(try await alice.open("bob") == .trusted(confirmed: false))

        let first = try await alice.send("hello bob", to: "bob")
        #expect(!first.contains("hello"))
        #expect(try await bob.receive(first, from: "alice") == .text("hello bob"))
        #expect(try await alice.receive(bob.send("hi alice", to: "alice"), from: "bob") == .text("hi alice"))

        // A message rewrites the sessions, and nothing else.
        let before = alice.storage.names.map { alice.storage.writeCount(named: $0) }
        _ = try await bob.receive(alice.send("one more", to: "bob"), from: "alice")
        let after = alice.storage.names.map { alice.storage.writeCount(named: $0) }
        #expect(zip(alice.storage.names, zip(before, after)).filter { $0.1.0 != $0.1.1 }.map(\.0) == ["sessions"])

        // Both reopen their devices from storage: the sessions carry on.
        let alice2 = try await Device("alice", directory: directory, storage: alice.storage)
        let bob2 = try await Device("bob", directory: directory, storage: bob.storage)
        #expect(!alice2.messenger.isNewDevice)
        for round in 0..<5 {
            #expect(try await bob2.receive(alice2.send("a\(round)", to: "bob"), from: "alice") == .text("a\(round)"))
            #expect(try await alice2.receive(bob2.send("b\(round)", to: "alice"), from: "bob") == .text("b\(round)"))
        }
        // The stored state holds no text in the clear (the in-memory storage is what a
        // sealing storage would encrypt; here it shows nothing leaks into it as text).
        for name in alice2.storage.names {
            let bytes = try #require(alice2.storage.read(named: name))
            #expect(!String(decoding: bytes, as: UTF8.self).contains("hello bob"))
        }
    }

    @Test func aReplayIsADuplicateAndATamperedBodyIsRefused() async throws {
        let directory = FakeKeyDirectory()
        let alice = try await Device("alice", directory: directory)
        let bob = try await Device("bob", directory: directory)
        _ = try await alice.open("bob")
        _ = try await bob.open("alice")
        let body = try await alice.send("once", to: "bob")
        #expect(try await bob.receive(body, from: "alice") == .text("once"))
        #expect(try await bob.receive(body, from: "alice") == .duplicate)

        let next = try await alice.send("twice", to: "bob")
        var bytes = try #require(Data(base64Encoded: next))
        bytes[bytes.count / 2] ^= 0x01  // inside the ciphertext (the last bytes of a prekey message are unauthenticated ids)
        let tampered = try await bob.receive(bytes.base64EncodedString(), from: "alice")
        guard case .undecryptable = tampered else {
            Issue.record("a tampered body was taken as \(tampered)")
            return
        }
        guard case .undecryptable = try await bob.receive("not base64 at all", from: "alice") else {
            Issue.record("garbage decrypted")
            return
        }
        // The session is unharmed: the untampered message still decrypts.
        #expect(try await bob.receive(next, from: "alice") == .text("twice"))
    }

    @Test func aChangedKeyBlocksSendingAndHoldsMessagesUntilTrusted() async throws {
        let directory = FakeKeyDirectory()
        let alice = try await Device("alice", directory: directory)
        let bob = try await Device("bob", directory: directory)
        _ = try await alice.open("bob")
        _ = try await bob.open("alice")
        #expect(try await bob.receive(alice.send("before", to: "bob"), from: "alice") == .text("before"))
        let numberBefore = try #require(try alice.messenger.safetyNumber(with: "bob"))
        #expect(try bob.messenger.safetyNumber(with: "alice") == numberBefore)
        #expect(try alice.messenger.confirm("bob"))
        #expect(try await alice.open("bob") == .trusted(confirmed: true))

        // bob reinstalls: a new device publishes a new identity.
        let newBob = try await Device("bob", directory: directory)
        #expect(newBob.messenger.isNewDevice)
        #expect(try await alice.open("bob") == .changed)
        await #expect(throws: MessengerError.partnerKeyChanged("bob")) { try await alice.send("during", to: "bob") }
        let numberAfter = try #require(try alice.messenger.safetyNumber(with: "bob"))
        #expect(numberAfter != numberBefore)
        _ = try await newBob.open("alice")
        #expect(try newBob.messenger.safetyNumber(with: "alice") == numberAfter)

        // A message from the new key is held, not shown, and not lost.
        let fromNewBob = try await newBob.send("new bob here", to: "alice")
        #expect(try await alice.receive(fromNewBob, from: "bob", id: "m1") == .heldForTrust)
        // The hold survives a restart of alice's client.
        let alice2 = try await Device("alice", directory: directory, storage: alice.storage)
        #expect(alice2.messenger.awaitsTrust("bob"))
        #expect(try alice2.messenger.confirm("bob") == false)

        let released = try #require(try alice2.messenger.trust("bob"))
        #expect(released.map(\.messageID) == ["m1"])
        #expect(released.map(\.body) == [.text("new bob here")])
        #expect(try alice2.messenger.isConfirmed("bob") == false)
        #expect(try alice2.messenger.trust("bob") == nil)
        #expect(try await newBob.receive(alice2.send("after", to: "bob"), from: "alice") == .text("after"))
    }

    @Test func aChangeSeenOnlyInTheBundleBlocksTheFirstMessage() async throws {
        let directory = FakeKeyDirectory()
        let alice = try await Device("alice", directory: directory)
        let bob = try await Device("bob", directory: directory)
        _ = try await alice.open("bob")
        _ = try await Device("bob", directory: directory)  // reinstalled before alice wrote
        // No session yet, so the bundle is fetched, and its key is not the trusted one.
        await #expect(throws: MessengerError.partnerKeyChanged("bob")) { try await alice.send("x", to: "bob") }
        #expect(alice.messenger.awaitsTrust("bob"))
        _ = bob
    }

    @Test func aFileOfferTravelsInsideTheRatchet() async throws {
        let directory = FakeKeyDirectory()
        let alice = try await Device("alice", directory: directory)
        let bob = try await Device("bob", directory: directory)
        _ = try await alice.open("bob")
        _ = try await bob.open("alice")
        _ = try await bob.receive(try await alice.send("hi", to: "bob"), from: "alice")
        let body = try alice.messenger.encrypt(MessageEnvelopeTests.offer, to: "bob")
        #expect(!body.contains("report"), "the name is not in the clear")
        #expect(try await bob.receive(body, from: "alice") == .file(MessageEnvelopeTests.offer))
    }

    @Test func nothingIsSentToAPartnerWithoutKeysOrTooLongAText() async throws {
        let directory = FakeKeyDirectory()
        let alice = try await Device("alice", directory: directory)
        #expect(try alice.messenger.opened("carol", identityKey: nil) == .noKeys)
        #expect(try alice.messenger.needsSession(with: "carol"))
        await #expect(throws: MessengerError.partnerHasNoKeys("carol")) { try await alice.send("x", to: "carol") }
        let long = String(repeating: "x", count: MessageEnvelope.maximumTextBytes + 1)
        #expect(throws: MessengerError.textTooLong(bytes: long.utf8.count)) { try alice.messenger.encrypt(long, to: "bob") }
    }
}

@Suite struct MessageEnvelopeTests {
    static let offer = FileOffer(
        fileID: String(repeating: "0a", count: 16), name: "report.pdf", size: 2_500_000, chunks: 77,
        sha256: String(repeating: "e3", count: 32), key: [UInt8](repeating: 7, count: 32))

    @Test func fileOffersRoundTripAndMalformedOnesAreRefused() throws {
        let sealed = MessageEnvelope.seal(Self.offer)
        #expect(sealed.count % MessageEnvelope.block == 0)
        #expect(MessageEnvelope.content(sealed) == .file(Self.offer))
        #expect(MessageEnvelope.open(sealed) == nil, "an offer is not a text")
        let bad = [
            FileOffer(fileID: "../x", name: "a", size: 1, chunks: 1, sha256: Self.offer.sha256, key: Self.offer.key),
            FileOffer(fileID: Self.offer.fileID, name: "", size: 1, chunks: 1, sha256: Self.offer.sha256, key: Self.offer.key),
            FileOffer(fileID: Self.offer.fileID, name: "a", size: 1, chunks: 1, sha256: "00", key: Self.offer.key),
            FileOffer(fileID: Self.offer.fileID, name: "a", size: 1, chunks: 1, sha256: Self.offer.sha256, key: [1]),
            FileOffer(fileID: Self.offer.fileID, name: "a", size: -1, chunks: 1, sha256: Self.offer.sha256, key: Self.offer.key),
        ]
        for offer in bad {
            #expect(MessageEnvelope.content(MessageEnvelope.seal(offer)) == nil, "\(offer.name) \(offer.fileID)")
        }
    }

    @Test func textsRoundTripPaddedToTheBlock() throws {
        for text in ["", "a", "héllo\nworld", String(repeating: "z", count: 58), String(repeating: "z", count: 59)] {
            let sealed = MessageEnvelope.seal(text)
            #expect(sealed.count % MessageEnvelope.block == 0)
            #expect(MessageEnvelope.open(sealed) == text)
        }
        #expect(MessageEnvelope.seal(String(repeating: "z", count: 58)).count == 64)
        #expect(MessageEnvelope.seal(String(repeating: "z", count: 59)).count == 128)
    }

    @Test func anythingElseIsRefused() {
        let sealed = MessageEnvelope.seal("hello")
        var wrongKind = sealed
        wrongKind[1] = 3
        var dirtyPadding = sealed
        dirtyPadding[sealed.count - 1] = 1
        var tooLong = sealed
        tooLong[5] = 200
        var notUTF8 = sealed
        notUTF8[6] = 0xFF
        for bytes in [wrongKind, dirtyPadding, tooLong, notUTF8, [], [1, 1, 0]] {
            #expect(MessageEnvelope.open(bytes) == nil)
        }
    }
}

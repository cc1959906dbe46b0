import EndToEnd
import Testing

/// A session between two parties in one process: X3DH from a bundle, then the Double
/// Ratchet, and every way a received message is refused.
@Suite struct SessionTests {
    @Test func firstMessagesArePreKeyMessagesUntilTheFirstReply() throws {
        let alice = try Party("alice")
        let bob = try Party("bob")
        #expect(try !alice.device.hasSession(with: bob.address))
        try alice.device.startSession(with: bob.address, bundle: bob.device.publicBundle())
        #expect(try alice.device.hasSession(with: bob.address))

        let first = try alice.send("one", to: bob)
        let second = try alice.send("two", to: bob)
        #expect(first.kind == .preKey && second.kind == .preKey)
        #expect(first.body.first == 0x33, "libomemo-c's version byte: message version 3, current version 3")

        #expect(try bob.receive(first, from: alice) == "one")
        #expect(try bob.receive(second, from: alice) == "two")
        let reply = try bob.send("hi alice", to: alice)
        #expect(reply.kind == .normal)
        #expect(try alice.receive(reply, from: bob) == "hi alice")

        let third = try alice.send("three", to: bob)
        #expect(third.kind == .normal)
        #expect(try bob.receive(third, from: alice) == "three")
    }

    @Test func theFirstPreKeyMessageUsesUpBobsOneTimePreKey() throws {
        let alice = try Party("alice", preKeyCount: 3)
        let bob = try Party("bob", preKeyCount: 3)
        let bundle = try bob.device.publicBundle()
        let used = try #require(bundle.oneTimePreKey)
        try alice.device.startSession(with: bob.address, bundle: bundle)
        _ = try bob.receive(alice.send("hello", to: bob), from: alice)
        #expect(try !bob.device.oneTimePreKeys().contains(used))
        #expect(try bob.device.oneTimePreKeys().count == 2)
    }

    @Test func emptyAndLargePlaintextsRoundTrip() throws {
        let (alice, bob) = try establishedPair()
        #expect(try bob.device.decrypt(alice.device.encrypt([], for: bob.address), from: alice.address) == [])
        let large = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        #expect(try bob.device.decrypt(alice.device.encrypt(large, for: bob.address), from: alice.address) == large)
    }

    @Test func aReplayedMessageIsRefusedAsDuplicate() throws {
        let (alice, bob) = try establishedPair()
        let message = try alice.send("once", to: bob)
        #expect(try bob.receive(message, from: alice) == "once")
        #expect(throws: EncryptionError.duplicateMessage) { try bob.receive(message, from: alice) }
        // A replayed prekey message too, after the session has moved on.
        let reply = try bob.send("reply", to: alice)
        _ = try alice.receive(reply, from: bob)
        #expect(throws: EncryptionError.duplicateMessage) { try alice.receive(reply, from: bob) }
        #expect(try bob.receive(alice.send("still fine", to: bob), from: alice) == "still fine")
    }

    @Test func aReplayedFirstPreKeyMessageIsRefusedAsDuplicate() throws {
        let alice = try Party("alice")
        let bob = try Party("bob")
        try alice.device.startSession(with: bob.address, bundle: bob.device.publicBundle())
        let first = try alice.send("first", to: bob)
        #expect(try bob.receive(first, from: alice) == "first")
        #expect(throws: EncryptionError.duplicateMessage) { try bob.receive(first, from: alice) }
    }

    /// Flipping a byte of the ciphertext body or of the MAC is refused as invalid; the
    /// session is untouched, so the genuine message and the next ones still decrypt.
    @Test func aTamperedMessageIsRefusedAndTheSessionSurvives() throws {
        let (alice, bob) = try establishedPair()
        _ = try alice.receive(bob.send("ack", to: alice), from: bob)
        let genuine = try alice.send("pay 10 to carol", to: bob)
        #expect(genuine.kind == .normal)
        // The body ends with the AES ciphertext (the protobuf's last field), then an 8-byte MAC.
        for index in [genuine.body.count - 12, genuine.body.count - 1] {
            var body = genuine.body
            body[index] ^= 0x01
            #expect(throws: EncryptionError.invalidMessage) {
                try bob.receive(EncryptedMessage(kind: .normal, body: body), from: alice)
            }
        }
        #expect(try bob.receive(genuine, from: alice) == "pay 10 to carol")
        #expect(try bob.receive(alice.send("next", to: bob), from: alice) == "next")
        #expect(try alice.receive(bob.send("back", to: alice), from: bob) == "back")
    }

    /// Every single-byte flip anywhere in a normal message is refused with one of the errors a
    /// receiver drops a message for, and never breaks the session. (A flip in the counter can
    /// read as an old counter: libomemo-c says "duplicate" before it checks the MAC.)
    @Test func everySingleByteFlipOfANormalMessageIsRefused() throws {
        let (alice, bob) = try establishedPair()
        _ = try alice.receive(bob.send("ack", to: alice), from: bob)
        let genuine = try alice.send("from alice", to: bob)
        #expect(genuine.kind == .normal)
        for index in genuine.body.indices {
            var body = genuine.body
            body[index] ^= 0x80
            do {
                let text = try bob.receive(EncryptedMessage(kind: .normal, body: body), from: alice)
                Issue.record("byte \(index) flipped, yet it decrypted to \(text)")
            } catch let error as EncryptionError {
                let dropped: Set<EncryptionError> = [.invalidMessage, .duplicateMessage, .legacyMessage]
                #expect(dropped.contains(error), "byte \(index) refused with \(error)")
            }
        }
        #expect(try bob.receive(genuine, from: alice) == "from alice")
    }

    /// The same for a first (prekey) message, each flip tried on a fresh copy of the
    /// receiver. The outer fields of a PreKeySignalMessage carry no MAC of their own: a flip
    /// in the base key, the identity key or a prekey id changes the X3DH secret or the MAC's
    /// input, so the inner MAC fails (or the key id is unknown). The exception is the top bit
    /// of a Curve25519 key's last byte, which X25519 ignores (RFC 7748): flipped in the base
    /// key, the message goes through with exactly the sent plaintext. A flipped identity key
    /// never reads as a changed identity.
    @Test func everySingleByteFlipOfAPreKeyMessageIsRefusedOrHarmless() throws {
        let alice = try Party("alice")
        let bob = try Party("bob")
        // Bob already trusts alice's key, so a flipped identity key would look like a change.
        try bob.device.trust(alice.device.identityKey(), for: alice.address)
        let before = bob.stores.exportState()
        try alice.device.startSession(with: bob.address, bundle: bob.device.publicBundle())
        let genuine = try alice.send("first contact", to: bob)
        #expect(genuine.kind == .preKey)

        var harmless: [Int] = []
        for index in genuine.body.indices {
            let fresh = try Party(restoring: "bob", from: before)
            var body = genuine.body
            body[index] ^= 0x80
            do {
                #expect(try fresh.receive(EncryptedMessage(kind: .preKey, body: body), from: alice) == "first contact")
                harmless.append(index)
            } catch let error as EncryptionError {
                let dropped: Set<EncryptionError> = [.invalidMessage, .duplicateMessage, .legacyMessage, .invalidKeyID]
                #expect(dropped.contains(error), "byte \(index) refused with \(error)")
                #expect(try fresh.device.identity(of: alice.address) == alice.device.identityKey())
            }
        }
        // Index 0 is the version byte, 1-2 the one-time prekey id, 3-4 the base key's tag
        // and length, 5-37 the base key: 37 is its last byte.
        #expect(harmless == [37], "only the base key's ignored top bit is malleable")
        #expect(try bob.receive(genuine, from: alice) == "first contact")
    }

    /// A forged first message from an unknown sender leaves no trusted identity behind,
    /// although libomemo-c records it before checking the MAC.
    @Test func aRefusedFirstMessageLeavesNoTrustBehind() throws {
        let alice = try Party("alice")
        let bob = try Party("bob")
        try alice.device.startSession(with: bob.address, bundle: bob.device.publicBundle())
        var body = try alice.send("hello", to: bob).body
        // The inner SignalMessage is protobuf field 4 (tag 0x22, a one-byte length, then its
        // own version byte 0x33); its last byte is the last byte of its MAC.
        let field = try #require(body.indices.first { body[$0] == 0x22 && body[$0 + 2] == 0x33 })
        body[field + 2 + Int(body[field + 1]) - 1] ^= 0x01
        #expect(throws: EncryptionError.invalidMessage) {
            try bob.receive(EncryptedMessage(kind: .preKey, body: body), from: alice)
        }
        #expect(try bob.device.identity(of: alice.address) == nil)
        #expect(try !bob.device.hasSession(with: alice.address))
    }

    @Test func noSessionIsReportedBothWays() throws {
        let alice = try Party("alice")
        let bob = try Party("bob")
        #expect(throws: EncryptionError.noSession(bob.address)) { try alice.send("hi", to: bob) }

        // Carol and Dave talk; once Carol has Dave's reply she sends normal messages.
        let (carol, dave) = try establishedPair()
        _ = try carol.receive(dave.send("reply", to: carol), from: dave)
        let normal = try carol.send("to dave", to: dave)
        #expect(normal.kind == .normal)
        // Bob has never heard of the sender: a normal message has no session to go to.
        #expect(throws: EncryptionError.noSession(carol.address)) { try bob.receive(normal, from: carol) }
    }

    @Test func aLegacyVersionIsRefusedAsLegacy() throws {
        let (alice, bob) = try establishedPair()
        var body = try alice.send("old", to: bob).body
        body[0] = 0x11 // message version 1
        #expect(throws: EncryptionError.legacyMessage) {
            try bob.receive(EncryptedMessage(kind: .preKey, body: body), from: alice)
        }
    }

    @Test func aBundleWithABadSignatureIsRefused() throws {
        let alice = try Party("alice")
        let bob = try Party("bob")
        let bundle = try bob.device.publicBundle()
        var signature = bundle.signedPreKey.signature
        signature[5] ^= 0x40
        let forged = PreKeyBundle(
            registrationID: bundle.registrationID, identityKey: bundle.identityKey,
            signedPreKey: try SignedPreKey(id: bundle.signedPreKey.id, publicKey: bundle.signedPreKey.publicKey,
                                           signature: signature),
            oneTimePreKey: bundle.oneTimePreKey
        )
        #expect(throws: EncryptionError.invalidSignature) { try alice.device.startSession(with: bob.address, bundle: forged) }
        // Signed by someone else's identity: refused the same way.
        let mallory = try Party("mallory")
        let swapped = PreKeyBundle(
            registrationID: bundle.registrationID, identityKey: try mallory.device.identityKey(),
            signedPreKey: bundle.signedPreKey, oneTimePreKey: bundle.oneTimePreKey
        )
        #expect(throws: EncryptionError.invalidSignature) { try alice.device.startSession(with: bob.address, bundle: swapped) }
        #expect(try !alice.device.hasSession(with: bob.address))
        #expect(try alice.device.identity(of: bob.address) == nil)
    }

    /// A second sender holding a bundle whose one-time prekey is already used up gets a
    /// session Bob cannot complete: `.invalidKeyID`, so the sender knows to refetch.
    @Test func aUsedUpOneTimePreKeyIsReportedAsInvalidKeyID() throws {
        let bob = try Party("bob")
        let bundle = try bob.device.publicBundle()
        let alice = try Party("alice")
        let carol = try Party("carol")
        try alice.device.startSession(with: bob.address, bundle: bundle)
        try carol.device.startSession(with: bob.address, bundle: bundle)
        #expect(try bob.receive(alice.send("first", to: bob), from: alice) == "first")
        #expect(throws: EncryptionError.invalidKeyID) { try bob.receive(carol.send("too late", to: bob), from: carol) }
        // A fresh bundle works.
        try carol.device.startSession(with: bob.address, bundle: bob.device.publicBundle())
        #expect(try bob.receive(carol.send("again", to: bob), from: carol) == "again")
    }

    @Test func aBundleWithoutOneTimePreKeyStillWorks() throws {
        let alice = try Party("alice")
        let bob = try Party("bob", preKeyCount: 0)
        let bundle = try bob.device.publicBundle()
        #expect(bundle.oneTimePreKey == nil)
        try alice.device.startSession(with: bob.address, bundle: bundle)
        #expect(try bob.receive(alice.send("no one-time key", to: bob), from: alice) == "no one-time key")
        #expect(try alice.receive(bob.send("fine", to: alice), from: bob) == "fine")
    }

    @Test func simultaneousSessionStartsConverge() throws {
        // Both fetch each other's bundle and write first: each side ends up with two states;
        // libomemo-c keeps the newer one current and the older archived, so every message
        // decrypts.
        let alice = try Party("alice")
        let bob = try Party("bob")
        try alice.device.startSession(with: bob.address, bundle: bob.device.publicBundle())
        try bob.device.startSession(with: alice.address, bundle: alice.device.publicBundle())
        let fromAlice = try alice.send("alice first", to: bob)
        let fromBob = try bob.send("bob first", to: alice)
        #expect(try bob.receive(fromAlice, from: alice) == "alice first")
        #expect(try alice.receive(fromBob, from: bob) == "bob first")
        for round in 0..<5 {
            #expect(try bob.receive(alice.send("a\(round)", to: bob), from: alice) == "a\(round)")
            #expect(try alice.receive(bob.send("b\(round)", to: alice), from: bob) == "b\(round)")
        }
    }
}

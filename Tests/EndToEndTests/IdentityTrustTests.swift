import EndToEnd
import Testing

/// Trust on first use, a changed identity key, and the safety numbers users compare.
@Suite struct IdentityTrustTests {
    @Test func theFirstKeySeenIsTrusted() throws {
        let (alice, bob) = try establishedPair()
        #expect(try alice.device.identity(of: bob.address) == bob.device.identityKey())
        #expect(try bob.device.identity(of: alice.address) == alice.device.identityKey())
    }

    /// Bob reinstalls (new identity). Alice's new session from his new bundle is refused
    /// with the new key until she trusts it; a first message from new Bob is refused the
    /// same way, and decrypts once she has.
    @Test func aChangedIdentityIsReportedUntilTrusted() throws {
        let (alice, bob) = try establishedPair()
        let oldKey = try bob.device.identityKey()
        let newBob = try Party("bob")
        let newKey = try newBob.device.identityKey()
        #expect(newKey != oldKey)

        let bundle = try newBob.device.publicBundle()
        for _ in 0..<2 {
            #expect(throws: EncryptionError.untrustedIdentity(bob.address, newKey)) {
                try alice.device.startSession(with: bob.address, bundle: bundle)
            }
        }
        #expect(try alice.device.identity(of: bob.address) == oldKey, "nothing accepted silently")
        // The old session is untouched and still works.
        #expect(try bob.receive(alice.send("still you?", to: bob), from: alice) == "still you?")

        // New Bob writes first: his prekey message is refused the same way.
        try newBob.device.startSession(with: alice.address, bundle: alice.device.publicBundle())
        let fromNewBob = try newBob.send("it's me, new phone", to: alice)
        #expect(throws: EncryptionError.untrustedIdentity(bob.address, newKey)) {
            try alice.device.decrypt(fromNewBob, from: bob.address)
        }
        #expect(try alice.device.identity(of: bob.address) == oldKey)

        // The user compares safety numbers and accepts.
        try alice.device.trust(newKey, for: bob.address)
        #expect(String(decoding: try alice.device.decrypt(fromNewBob, from: bob.address), as: UTF8.self)
            == "it's me, new phone")
        try alice.device.startSession(with: bob.address, bundle: newBob.device.publicBundle())
        let reply = try alice.send("welcome back", to: newBob)
        #expect(try newBob.receive(reply, from: alice) == "welcome back")
    }

    @Test func aCustomTrustHookCanRefuseFirstUse() throws {
        /// Trusts only keys saved by hand: no trust on first use.
        final class StrictIdentityStore: IdentityKeyStore {
            let base: InMemoryIdentityKeyStore
            init(_ base: InMemoryIdentityKeyStore) { self.base = base }
            func localIdentity() throws -> LocalIdentity { base.localIdentity() }
            func identity(for peer: PeerAddress) throws -> IdentityKey? { base.identity(for: peer) }
            func saveIdentity(_ key: IdentityKey?, for peer: PeerAddress) throws { base.saveIdentity(key, for: peer) }
            func isTrusted(_ key: IdentityKey, for peer: PeerAddress) throws -> Bool { base.identity(for: peer) == key }
        }
        let stores = InMemoryStores(identity: try LocalIdentity.generate())
        var protocolStores = stores.protocolStores
        protocolStores.identity = StrictIdentityStore(stores.identity)
        let alice = try LocalDevice(stores: protocolStores)
        try alice.generateKeys(preKeyCount: 1)
        let bob = try Party("bob")
        let bundle = try bob.device.publicBundle()
        #expect(throws: EncryptionError.untrustedIdentity(bob.address, bundle.identityKey)) {
            try alice.startSession(with: bob.address, bundle: bundle)
        }
        try alice.trust(bundle.identityKey, for: bob.address)
        try alice.startSession(with: bob.address, bundle: bundle)
        #expect(try alice.hasSession(with: bob.address))
    }

    // MARK: Safety numbers

    /// Signal's published vector (libsignal-protocol-c tests/test_fingerprint.c, version 0
    /// displayable fingerprint, 5200 iterations).
    @Test func safetyNumberMatchesSignalsVector() throws {
        let aliceKey = try IdentityKey(bytes: [UInt8](hex: """
            05 06863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868
            """))
        let bobKey = try IdentityKey(bytes: [UInt8](hex: """
            05 f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b
            """))
        let expected = "300354477692869396892869876765458257569162576843440918079131"
        let forAlice = try SafetyNumber(localIdentifier: "+14152222222", localKey: aliceKey,
                                        remoteIdentifier: "+14153333333", remoteKey: bobKey)
        let forBob = try SafetyNumber(localIdentifier: "+14153333333", localKey: bobKey,
                                      remoteIdentifier: "+14152222222", remoteKey: aliceKey)
        #expect(forAlice.digits == expected)
        #expect(forBob.digits == expected)
        #expect(forAlice.groups.count == 12 && forAlice.groups.allSatisfy { $0.count == 5 })
        #expect(forAlice.description == "30035 44776 92869 39689 28698 76765 45825 75691 62576 84344 09180 79131")
    }

    @Test func safetyNumbersMatchOnBothSidesAndChangeWithTheKey() throws {
        let (alice, bob) = try establishedPair()
        let seenByAlice = try #require(try alice.device.safetyNumber(localIdentifier: "alice", peer: bob.address))
        let seenByBob = try #require(try bob.device.safetyNumber(localIdentifier: "bob", peer: alice.address))
        #expect(seenByAlice == seenByBob)
        #expect(seenByAlice.digits.count == 60 && seenByAlice.digits.allSatisfy(\.isNumber))

        let newBob = try Party("bob")
        try alice.device.trust(newBob.device.identityKey(), for: bob.address)
        let afterChange = try #require(try alice.device.safetyNumber(localIdentifier: "alice", peer: bob.address))
        #expect(afterChange != seenByAlice)
        try newBob.device.trust(alice.device.identityKey(), for: alice.address)
        #expect(try newBob.device.safetyNumber(localIdentifier: "bob", peer: alice.address) == afterChange)

        let stranger = PeerAddress(name: "stranger")
        #expect(try alice.device.safetyNumber(localIdentifier: "alice", peer: stranger) == nil)
    }
}

import EndToEnd
import Foundation
import Testing

/// One-time prekeys (ids, replenishing) and signed prekey rotation.
@Suite struct PreKeyTests {
    @Test func aNewDeviceHasAHundredPreKeysAndOneSignedPreKey() throws {
        let bob = try Party("bob")
        let preKeys = try bob.device.oneTimePreKeys()
        #expect(preKeys.map(\.id) == Array(1...100))
        #expect(Set(preKeys.map(\.publicKey)).count == 100)
        let bundle = try bob.device.publicBundle()
        #expect(bundle.signedPreKey.id == 1)
        #expect(bundle.oneTimePreKey == preKeys.first)
        #expect(try bob.device.publicBundle(oneTimePreKeyID: 42).oneTimePreKey == preKeys[41])
        #expect(throws: EncryptionError.invalidKeyID) { try bob.device.publicBundle(oneTimePreKeyID: 4242) }
    }

    @Test func moreOnDemandWithRotatingIDs() throws {
        let bob = try Party("bob", preKeyCount: 3)
        #expect(try bob.device.generatePreKeys(count: 2).map(\.id) == [4, 5])
        bob.stores.preKeys.nextPreKeyID = 0xFF_FFFD
        #expect(try bob.device.generatePreKeys(count: 4).map(\.id) == [0xFF_FFFD, 0xFF_FFFE, 1, 2])
        #expect(bob.stores.preKeys.nextPreKeyID == 3)
        // Ids 1 and 2 were reused for new keys: the old ones with those ids are gone.
        #expect(try bob.device.oneTimePreKeys().map(\.id) == [1, 2, 3, 4, 5, 0xFF_FFFD, 0xFF_FFFE])
    }

    /// A rotated signed prekey stays until pruned, so that a session started from the old
    /// bundle still reaches the device; after pruning, such a message is `.invalidKeyID`.
    @Test func signedPreKeyRotationKeepsOldOnesForMessagesInFlight() throws {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let bob = try Party("bob", now: start)
        let oldBundle = try bob.device.publicBundle()
        let lateBundle = try bob.device.publicBundle(oneTimePreKeyID: 2)

        let rotated = try bob.device.rotateSignedPreKey(now: start.addingTimeInterval(3600))
        #expect(rotated.id == 2)
        #expect(try bob.device.currentSignedPreKey() == rotated)
        #expect(try bob.device.publicBundle().signedPreKey == rotated)

        let alice = try Party("alice")
        try alice.device.startSession(with: bob.address, bundle: oldBundle)
        #expect(try bob.receive(alice.send("sent to the old signed prekey", to: bob), from: alice)
            == "sent to the old signed prekey")

        // Pruning keys retired before a time earlier than the rotation keeps the old one.
        #expect(try bob.device.pruneSignedPreKeys(retiredBefore: start.addingTimeInterval(1800)) == [])
        #expect(try bob.device.pruneSignedPreKeys(retiredBefore: start.addingTimeInterval(7200)) == [1])
        #expect(bob.stores.signedPreKeys.signedPreKeyIDs() == [2])

        let carol = try Party("carol")
        try carol.device.startSession(with: bob.address, bundle: lateBundle)
        #expect(throws: EncryptionError.invalidKeyID) { try bob.receive(carol.send("too late", to: bob), from: carol) }
        try carol.device.startSession(with: bob.address, bundle: bob.device.publicBundle())
        #expect(try bob.receive(carol.send("new bundle", to: bob), from: carol) == "new bundle")
        // The current one is never pruned.
        #expect(try bob.device.pruneSignedPreKeys(retiredBefore: .distantFuture) == [])
    }

    @Test func signedPreKeyIDsWrap() throws {
        let bob = try Party("bob", preKeyCount: 0)
        bob.stores.signedPreKeys.currentSignedPreKeyID = 0xFF_FFFE
        #expect(try bob.device.rotateSignedPreKey().id == 1)
    }
}

import EndToEnd
import Testing

/// The byte forms of bundles and messages that travel between clients.
@Suite struct WireFormatTests {
    @Test func bundleRoundTripsWithTheDocumentedLayout() throws {
        let bob = try Party("bob")
        let bundle = try bob.device.publicBundle()
        let bytes = bundle.serialized()
        #expect(bytes.count == 177)
        #expect(bytes[0] == 1)
        #expect(Array(bytes[5..<38]) == bundle.identityKey.bytes)
        #expect(Array(bytes[42..<75]) == bundle.signedPreKey.publicKey.bytes)
        #expect(Array(bytes[75..<139]) == bundle.signedPreKey.signature)
        #expect(bytes[139] == 1)
        #expect(Array(bytes[144..<177]) == bundle.oneTimePreKey?.publicKey.bytes)
        #expect(try PreKeyBundle(serialized: bytes) == bundle)
        #expect(try PreKeyBundle(base64Encoded: bundle.base64EncodedString()) == bundle)

        let withoutPreKey = PreKeyBundle(registrationID: bundle.registrationID, identityKey: bundle.identityKey,
                                         signedPreKey: bundle.signedPreKey, oneTimePreKey: nil)
        #expect(withoutPreKey.serialized().count == 140)
        #expect(try PreKeyBundle(serialized: withoutPreKey.serialized()) == withoutPreKey)
    }

    @Test func malformedBundlesAreRefused() throws {
        let bytes = try Party("bob").device.publicBundle().serialized()
        #expect(throws: EncryptionError.self) { try PreKeyBundle(serialized: Array(bytes.dropLast())) }
        #expect(throws: EncryptionError.self) { try PreKeyBundle(serialized: bytes + [0]) }
        var badFormat = bytes
        badFormat[0] = 2
        #expect(throws: EncryptionError.self) { try PreKeyBundle(serialized: badFormat) }
        var badKeyType = bytes
        badKeyType[5] = 0x06
        #expect(throws: EncryptionError.invalidKey) { try PreKeyBundle(serialized: badKeyType) }
        var badFlag = bytes
        badFlag[139] = 7
        #expect(throws: EncryptionError.self) { try PreKeyBundle(serialized: badFlag) }
        #expect(throws: EncryptionError.self) { try PreKeyBundle(base64Encoded: "not base64!") }
    }

    @Test func messagesRoundTrip() throws {
        let alice = try Party("alice")
        let bob = try Party("bob")
        try alice.device.startSession(with: bob.address, bundle: bob.device.publicBundle())
        let message = try alice.send("over the wire", to: bob)
        let bytes = message.serialized()
        #expect(bytes[0] == 3 && bytes[1] == 0x33)
        let received = try EncryptedMessage(base64Encoded: message.base64EncodedString())
        #expect(received == message)
        #expect(try bob.receive(received, from: alice) == "over the wire")
        let reply = try bob.send("back", to: alice)
        #expect(reply.serialized()[0] == 2)

        #expect(throws: EncryptionError.self) { try EncryptedMessage(serialized: []) }
        #expect(throws: EncryptionError.self) { try EncryptedMessage(serialized: [3]) }
        #expect(throws: EncryptionError.self) { try EncryptedMessage(serialized: [9] + message.body) }
    }

    @Test func keysMustBeTheThirtyThreeByteForm() {
        #expect(throws: EncryptionError.invalidKey) { try PublicKey(bytes: [UInt8](repeating: 9, count: 32)) }
        #expect(throws: EncryptionError.invalidKey) { try PublicKey(bytes: [0x05] + [UInt8](repeating: 9, count: 31)) }
        #expect(throws: EncryptionError.self) {
            try SignedPreKey(id: 1, publicKey: PublicKey(bytes: [0x05] + [UInt8](repeating: 9, count: 32)), signature: [1, 2])
        }
    }
}

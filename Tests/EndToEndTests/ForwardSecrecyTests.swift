import EndToEnd
import Testing

/// Forward secrecy: a device stolen after a conversation (its whole store state exported
/// and imported elsewhere) cannot decrypt the ciphertexts captured earlier, because each
/// message key is deleted once used and chain keys only ratchet forward.
@Suite struct ForwardSecrecyTests {
    @Test func earlierCiphertextsDoNotDecryptWithEitherPartysCurrentState() throws {
        let alice = try Party("alice")
        let bob = try Party("bob")
        try alice.device.startSession(with: bob.address, bundle: bob.device.publicBundle())

        var capturedToBob: [EncryptedMessage] = []
        var capturedToAlice: [EncryptedMessage] = []
        for round in 0..<20 {
            for index in 0..<3 {
                let message = try alice.send("a\(round).\(index)", to: bob)
                capturedToBob.append(message)
                #expect(try bob.receive(message, from: alice) == "a\(round).\(index)")
            }
            for index in 0..<3 {
                let message = try bob.send("b\(round).\(index)", to: alice)
                capturedToAlice.append(message)
                #expect(try alice.receive(message, from: bob) == "b\(round).\(index)")
            }
        }
        // One message each way is still on its way when the devices are stolen.
        let pendingToBob = try alice.send("pending for bob", to: bob)
        let pendingToAlice = try bob.send("pending for alice", to: alice)

        let stolenAlice = try Party(restoring: "alice", from: alice.stores.exportState())
        let stolenBob = try Party(restoring: "bob", from: bob.stores.exportState())

        for (receiver, sender, captured) in [
            (stolenBob, alice, capturedToBob), (stolenAlice, bob, capturedToAlice),
            // Nor does a sender's state open its own earlier messages.
            (stolenAlice, bob, capturedToBob), (stolenBob, alice, capturedToAlice),
        ] {
            for message in captured {
                #expect(throws: EncryptionError.self) { try receiver.receive(message, from: sender) }
            }
        }
        #expect(throws: EncryptionError.duplicateMessage) { try stolenBob.receive(capturedToBob.last!, from: alice) }

        // The stolen state is the real one: what was still in flight does decrypt with it.
        #expect(try stolenBob.receive(pendingToBob, from: alice) == "pending for bob")
        #expect(try stolenAlice.receive(pendingToAlice, from: bob) == "pending for alice")
    }
}

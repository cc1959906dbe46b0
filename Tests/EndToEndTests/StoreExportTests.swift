import EndToEnd
import Testing

/// Exporting and importing the whole store state: the client's own files will hold it.
@Suite struct StoreExportTests {
    @Test func exportedStateRoundTripsAndTheSessionContinues() throws {
        let (alice, bob) = try establishedPair()
        _ = try alice.receive(bob.send("reply", to: alice), from: bob)
        // Sent before the export, delivered after the import.
        let inFlight = try alice.send("crossing the restore", to: bob)

        let aliceState = alice.stores.exportState()
        let bobState = bob.stores.exportState()
        let restoredAlice = try Party(restoring: "alice", from: aliceState)
        let restoredBob = try Party(restoring: "bob", from: bobState)
        #expect(restoredAlice.stores.exportState() == aliceState, "the same state exports to the same bytes")
        #expect(restoredBob.stores.exportState() == bobState)
        #expect(try restoredAlice.device.identityKey() == alice.device.identityKey())
        #expect(try restoredBob.device.oneTimePreKeys() == bob.device.oneTimePreKeys())

        #expect(try restoredBob.receive(inFlight, from: alice) == "crossing the restore")
        for round in 0..<10 {
            #expect(try restoredBob.receive(restoredAlice.send("a\(round)", to: restoredBob), from: restoredAlice) == "a\(round)")
            #expect(try restoredAlice.receive(restoredBob.send("b\(round)", to: restoredAlice), from: restoredBob) == "b\(round)")
        }
        // The restored devices are separate: the originals were left where they were.
        #expect(alice.stores.exportState() == aliceState)
    }

    @Test func eachStoreRoundTripsOnItsOwn() throws {
        let (alice, _) = try establishedPair()
        let stores = alice.stores
        #expect(try InMemoryIdentityKeyStore(importing: stores.identity.exportState()).exportState()
            == stores.identity.exportState())
        #expect(try InMemoryPreKeyStore(importing: stores.preKeys.exportState()).exportState()
            == stores.preKeys.exportState())
        #expect(try InMemorySignedPreKeyStore(importing: stores.signedPreKeys.exportState()).exportState()
            == stores.signedPreKeys.exportState())
        #expect(try InMemorySessionStore(importing: stores.sessions.exportState()).exportState()
            == stores.sessions.exportState())
        #expect(try InMemoryStores(importing: InMemoryStores(identity: LocalIdentity.generate()).exportState())
            .sessions.exportState() == InMemorySessionStore().exportState())
    }

    @Test func malformedStateIsRefused() throws {
        let (alice, _) = try establishedPair()
        let state = alice.stores.exportState()
        #expect(throws: EncryptionError.self) { try InMemoryStores(importing: Array(state.dropLast())) }
        #expect(throws: EncryptionError.self) { try InMemoryStores(importing: state + [0]) }
        #expect(throws: EncryptionError.self) { try InMemoryStores(importing: []) }
        // One store's bytes are not another's.
        #expect(throws: EncryptionError.self) {
            try InMemorySessionStore(importing: alice.stores.preKeys.exportState())
        }
    }

    @Test func localIdentityRoundTripsAndDoesNotPrintItsPrivateKey() throws {
        let identity = try LocalIdentity.generate()
        #expect(try LocalIdentity(serialized: identity.serialized()) == identity)
        #expect(identity.serialized().count == 1 + 33 + 32 + 4)
        #expect((1...16380).contains(identity.registrationID))
        #expect(!"\(identity)".contains(Array(identity.serialized()[34...65]).hex))
        #expect(throws: EncryptionError.self) { try LocalIdentity(serialized: Array(identity.serialized().dropLast())) }
    }
}

import EndToEnd
import Foundation

/// One user in a test: a device over in-memory stores that the test can export.
struct Party {
    let name: String
    let device: LocalDevice
    let stores: InMemoryStores

    var address: PeerAddress { PeerAddress(name: name) }

    /// A new device with a fresh identity, a signed prekey and `preKeyCount` prekeys.
    init(_ name: String, preKeyCount: Int = 100, now: Date = Date()) throws {
        self.name = name
        stores = InMemoryStores(identity: try LocalIdentity.generate())
        device = try LocalDevice(stores: stores.protocolStores)
        try device.generateKeys(preKeyCount: preKeyCount, now: now)
    }

    /// The same device rebuilt from exported state: a restored backup, or a stolen copy.
    init(restoring name: String, from state: [UInt8]) throws {
        self.name = name
        stores = try InMemoryStores(importing: state)
        device = try LocalDevice(stores: stores.protocolStores)
    }

    func send(_ text: String, to peer: Party) throws -> EncryptedMessage {
        try device.encrypt(Array(text.utf8), for: peer.address)
    }

    func receive(_ message: EncryptedMessage, from peer: Party) throws -> String {
        String(decoding: try device.decrypt(message, from: peer.address), as: UTF8.self)
    }
}

/// Alice starts a session from Bob's bundle and sends a first message, which Bob decrypts.
func establishedPair() throws -> (alice: Party, bob: Party) {
    let alice = try Party("alice")
    let bob = try Party("bob")
    try alice.device.startSession(with: bob.address, bundle: bob.device.publicBundle())
    let hello = try alice.send("hello bob", to: bob)
    guard try bob.receive(hello, from: alice) == "hello bob" else { throw TestFailure("first message garbled") }
    return (alice, bob)
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// SplitMix64: a small seeded generator, so that a failing schedule replays exactly.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

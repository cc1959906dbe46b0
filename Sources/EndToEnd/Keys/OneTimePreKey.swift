/// A one-time prekey's public half, as a server hands it out in a bundle.
public struct OneTimePreKey: Hashable, Sendable {
    /// Its id, from 1 to 0xFFFFFE (libomemo-c reserves 0xFFFFFF).
    public let id: UInt32
    public let publicKey: PublicKey

    public init(id: UInt32, publicKey: PublicKey) {
        self.id = id
        self.publicKey = publicKey
    }
}

import Foundation

/// A received message kept, still encrypted, until its sender's new key is accepted.
struct HeldMessage: Codable, Hashable {
    let messageID: String
    let from: String
    let body: String
    let sentAtMilliseconds: Int64
}

/// What this device records about partners besides libomemo-c's trusted keys: which keys
/// the user confirmed by comparing safety numbers, which new keys wait for `/trust`, and
/// the messages held for those. One JSON blob, sealed like the rest, written on change.
struct ContactBook: Codable {
    static let blob = "contacts"

    /// Confirmed identity keys, by partner.
    private(set) var confirmed: [String: [UInt8]] = [:]
    /// New identity keys seen (from the server or in a message) and not yet accepted.
    private(set) var reported: [String: [UInt8]] = [:]
    /// Messages from those keys, oldest first.
    private(set) var held: [HeldMessage] = []

    static func load(from storage: any SealedStorage) throws(MessengerError) -> ContactBook {
        guard let bytes = try MessengerError.storage({ try storage.read(named: blob) }) else { return ContactBook() }
        do {
            return try JSONDecoder().decode(ContactBook.self, from: Data(bytes))
        } catch {
            throw .stateDamaged("the contact book does not read back")
        }
    }

    mutating func report(_ key: [UInt8], for partner: String, in storage: any SealedStorage) throws(MessengerError) {
        guard reported[partner] != key else { return }
        try change(in: storage) { $0.reported[partner] = key }
    }

    mutating func hold(_ message: HeldMessage, in storage: any SealedStorage) throws(MessengerError) {
        guard !held.contains(where: { $0.messageID == message.messageID }) else { return }
        try change(in: storage) { $0.held.append(message) }
    }

    /// The reported key of `partner` is now the trusted one: its report, the messages
    /// held for it and the confirmation of the old key go.
    mutating func accept(_ partner: String, in storage: any SealedStorage) throws(MessengerError) {
        try change(in: storage) { book in
            book.reported[partner] = nil
            book.confirmed[partner] = nil
            book.held.removeAll { $0.from == partner }
        }
    }

    mutating func confirm(_ key: [UInt8], for partner: String, in storage: any SealedStorage) throws(MessengerError) {
        try change(in: storage) { $0.confirmed[partner] = key }
    }

    /// Applies `edit` to a copy, writes the copy, and only then keeps it: a failed write
    /// leaves the book as it was on disk.
    private mutating func change(in storage: any SealedStorage, _ edit: (inout ContactBook) -> Void) throws(MessengerError) {
        var copy = self
        edit(&copy)
        let bytes: [UInt8]
        do {
            bytes = Array(try JSONEncoder().encode(copy))
        } catch {
            throw .storageFailed("the contact book does not encode: \(error)")
        }
        try MessengerError.storage { try storage.write(bytes, named: Self.blob) }
        self = copy
    }
}

import Foundation
@testable import LocalVault
import Testing

@Suite struct VaultTests {
    @Test func blobsRoundTripAndSurviveReopening() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let blobs: [String: [UInt8]] = [
            "identity": Array(0...255),
            "sessions": Array("a few kilobytes of session state".utf8),
            "empty": [],
            "Trusted_Keys-2": [0],
        ]
        do {
            let vault = try fixture.createVault()
            defer { vault.directory.close() }
            #expect(Vault.exists(at: vault.directory))
            for (name, bytes) in blobs {
                try vault.write(bytes, named: name)
            }
            try vault.write(Array("overwritten".utf8), named: "sessions")
            #expect(try vault.read(named: "sessions") == Array("overwritten".utf8))
            try vault.write(blobs["sessions"]!, named: "sessions")
            #expect(try vault.read(named: "missing") == nil)
        }
        let directory = try fixture.openDirectory()
        defer { directory.close() }
        let vault = try fixture.openVault(on: directory)
        for (name, bytes) in blobs {
            #expect(try vault.read(named: name) == bytes, "\(name)")
        }
        try vault.remove(named: "identity")
        try vault.remove(named: "identity")
        #expect(try vault.read(named: "identity") == nil)
    }

    @Test func openingWhereThereIsNoVaultAndCreatingTwiceAreRefused() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let directory = try fixture.openDirectory()
        defer { directory.close() }
        #expect(!Vault.exists(at: directory))
        #expect(throws: VaultError.noVault(path: fixture.path)) { try fixture.openVault(on: directory) }
        _ = try Vault.create(at: directory, password: fixture.password, parameters: fastScrypt)
        #expect(throws: VaultError.alreadyExists(path: fixture.path)) {
            try Vault.create(at: directory, password: "another", parameters: fastScrypt)
        }
    }

    @Test func aWrongPasswordIsRefused() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let vault = try fixture.createVault()
        defer { vault.directory.close() }
        for wrong in ["", "correct horse battery stapler", "Correct horse battery staple"] {
            #expect(throws: VaultError.wrongPassword) { try fixture.openVault(on: vault.directory, password: wrong) }
        }
        _ = try fixture.openVault(on: vault.directory)
    }

    @Test func thePasswordIsComparedInNormalisedForm() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let directory = try fixture.openDirectory()
        defer { directory.close() }
        _ = try Vault.create(at: directory, password: "caf\u{E9}", parameters: fastScrypt)
        _ = try Vault.open(at: directory, password: "cafe\u{301}", parameters: fastScrypt)
    }

    @Test func changingThePasswordKeepsTheDataAndRetiresTheOldOne() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let vault = try fixture.createVault()
        defer { vault.directory.close() }
        try vault.write(Array("state".utf8), named: "sessions")
        let history = try vault.openHistory()
        try history.append(HistoryEntry(messageID: "m1", partner: "bob", direction: .sent, text: "hi", date: Date()))
        let keyBefore = try fixture.bytes(of: "vault.key")

        #expect(throws: VaultError.wrongPassword) { try vault.changePassword(from: "not it", to: "new password") }
        #expect(try fixture.bytes(of: "vault.key") == keyBefore, "a refused change leaves the key file alone")

        try vault.changePassword(from: fixture.password, to: "new password")
        #expect(throws: VaultError.wrongPassword) { try fixture.openVault(on: vault.directory) }
        let reopened = try fixture.openVault(on: vault.directory, password: "new password")
        #expect(try reopened.read(named: "sessions") == Array("state".utf8))
        #expect(try reopened.openHistory().contains(messageID: "m1"))
        #expect(try fixture.fileNames().filter { $0.hasPrefix(".") }.isEmpty, "no temporary file is left behind")
    }

    @Test func aFlippedByteInTheKeyFileIsRefused() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let vault = try fixture.createVault()
        defer { vault.directory.close() }
        let original = try fixture.bytes(of: "vault.key")
        #expect(original.count == KeyFile.length)
        for index in original.indices {
            try fixture.replace("vault.key", with: original.flipping(index))
            let error = #expect(throws: VaultError.self) { try fixture.openVault(on: vault.directory) }
            #expect(error == .wrongPassword || error == .corrupt("vault.key"), "byte \(index): \(String(describing: error))")
        }
        for cut in [Array(original.dropLast()), original + [0], []] {
            try fixture.replace("vault.key", with: cut)
            #expect(throws: VaultError.corrupt("vault.key")) { try fixture.openVault(on: vault.directory) }
        }
        try fixture.replace("vault.key", with: original)
        _ = try fixture.openVault(on: vault.directory)
    }

    @Test func aFlippedOrMissingByteInABlobIsCorrupt() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let vault = try fixture.createVault()
        defer { vault.directory.close() }
        try vault.write(Array("identity key material".utf8), named: "identity")
        let original = try fixture.bytes(of: "identity.sealed")
        for index in original.indices {
            try fixture.replace("identity.sealed", with: original.flipping(index))
            #expect(throws: VaultError.corrupt("identity"), "byte \(index)") { try vault.read(named: "identity") }
        }
        for cut in [Array(original.dropLast()), Array(original.prefix(5)), original + [0], []] {
            try fixture.replace("identity.sealed", with: cut)
            #expect(throws: VaultError.corrupt("identity")) { try vault.read(named: "identity") }
        }
    }

    @Test func blobsSwappedOrRenamedAreCorrupt() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let vault = try fixture.createVault()
        defer { vault.directory.close() }
        try vault.write(Array("alice's sessions".utf8), named: "sessions")
        try vault.write(Array("alice's trusted!".utf8), named: "trusted")
        let sessions = try fixture.bytes(of: "sessions.sealed")
        let trusted = try fixture.bytes(of: "trusted.sealed")
        try fixture.replace("sessions.sealed", with: trusted)
        try fixture.replace("trusted.sealed", with: sessions)
        #expect(throws: VaultError.corrupt("sessions")) { try vault.read(named: "sessions") }
        #expect(throws: VaultError.corrupt("trusted")) { try vault.read(named: "trusted") }

        try FileManager.default.moveItem(atPath: fixture.filePath("trusted.sealed"), toPath: fixture.filePath("prekeys.sealed"))
        #expect(throws: VaultError.corrupt("prekeys")) { try vault.read(named: "prekeys") }

        // Another vault's blob, under the same name, does not open with this key.
        let other = try VaultFixture()
        defer { other.remove() }
        let otherVault = try other.createVault()
        defer { otherVault.directory.close() }
        try otherVault.write(Array("mallory's sessions".utf8), named: "sessions")
        try fixture.replace("sessions.sealed", with: other.bytes(of: "sessions.sealed"))
        #expect(throws: VaultError.corrupt("sessions")) { try vault.read(named: "sessions") }
    }

    @Test func noPlaintextReachesTheDisk() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let marker = "MARKER-7f3a9c-do-not-store-in-clear"
        let vault = try fixture.createVault()
        defer { vault.directory.close() }
        try vault.write(Array(marker.utf8), named: "identity")
        let history = try vault.openHistory()
        try history.append(HistoryEntry(messageID: marker, partner: marker, direction: .received, text: marker, date: Date()))
        try history.append(HistoryEntry(messageID: "m2", partner: "bob", direction: .sent, text: "x \(marker) y", date: Date()))

        let names = try fixture.fileNames()
        #expect(names == ["history.log", "identity.sealed", "lock", "vault.key"])
        for name in names {
            let bytes = try fixture.bytes(of: name)
            #expect(!bytes.contains(Array(marker.utf8)), "\(name) holds the marker in clear")
            #expect(!bytes.contains(Array(fixture.password.utf8)), "\(name) holds the password")
        }
    }

    @Test func filesArePrivateToTheOwner() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let vault = try fixture.createVault()
        defer { vault.directory.close() }
        try vault.write([1, 2, 3], named: "identity")
        try vault.openHistory().append(HistoryEntry(messageID: "m", partner: "bob", direction: .sent, text: "t", date: Date()))
        try vault.changePassword(from: fixture.password, to: "new password")
        #expect(try VaultFixture.mode(of: fixture.path) == 0o700)
        for name in try fixture.fileNames() {
            #expect(try VaultFixture.mode(of: fixture.filePath(name)) == 0o600, "\(name)")
        }
    }

    @Test func namesMustBeSimpleIdentifiers() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let vault = try fixture.createVault()
        defer { vault.directory.close() }
        let longest = String(repeating: "n", count: Vault.maximumNameLength)
        for valid in ["a", "identity", "pre_keys-2", "ABC", longest] {
            #expect(Vault.isValidName(valid), "\(valid)")
        }
        for invalid in ["", "a/b", "../x", "vault.key", "x.sealed", ".hidden", "a b", "é", longest + "n"] {
            #expect(throws: VaultError.invalidName(invalid)) { try vault.write([1], named: invalid) }
            #expect(throws: VaultError.invalidName(invalid)) { try vault.read(named: invalid) }
        }
        #expect(throws: VaultError.tooLarge("big", limit: Vault.maximumBlobSize)) {
            try vault.write([UInt8](repeating: 0, count: Vault.maximumBlobSize + 1), named: "big")
        }
    }

    @Test func aClosedDirectoryEndsTheVault() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let vault = try fixture.createVault()
        try vault.write([1], named: "identity")
        let history = try vault.openHistory()
        vault.directory.close()
        #expect(!Vault.exists(at: vault.directory))
        #expect(throws: VaultError.closed) { try vault.write([2], named: "identity") }
        #expect(throws: VaultError.closed) { try vault.read(named: "identity") }
        #expect(throws: VaultError.closed) {
            try history.append(HistoryEntry(messageID: "m", partner: "bob", direction: .sent, text: "t", date: Date()))
        }
        // The next client, now allowed in, finds what the first one wrote.
        let directory = try fixture.openDirectory()
        defer { directory.close() }
        #expect(try fixture.openVault(on: directory).read(named: "identity") == [1])
    }

    @Test func concurrentWritersEachLeaveAWholeBlob() async throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let vault = try fixture.createVault()
        defer { vault.directory.close() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for round in 0..<10 {
                        try vault.write([UInt8](repeating: UInt8(writer), count: 100 + round), named: "blob\(writer % 2)")
                    }
                }
            }
            try await group.waitForAll()
        }
        for name in ["blob0", "blob1"] {
            let bytes = try #require(try vault.read(named: name))
            #expect(bytes.count >= 100 && Set(bytes).count == 1)
        }
    }

    /// The standard parameters (N = 2^15, r = 8: 32 MiB, above OpenSSL's default memory limit)
    /// really derive: the explicit maxmem is what makes this pass.
    @Test func theStandardParametersWork() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let directory = try fixture.openDirectory()
        defer { directory.close() }
        let created = try Vault.create(at: directory, password: fixture.password)
        try created.write([42], named: "identity")
        let header = try fixture.bytes(of: "vault.key")
        #expect(header[5] == 15, "logN is stored")
        #expect(throws: VaultError.wrongPassword) { try Vault.open(at: directory, password: "wrong") }
        #expect(try Vault.open(at: directory, password: fixture.password).read(named: "identity") == [42])
    }
}

@Suite("File chunks")
struct FileCipherTests {
    static let fileID = String(repeating: "5e", count: 16)

    @Test("a chunk opens only as itself: same file, index and count, unchanged, under its key")
    func boundToPlace() throws {
        let cipher = try FileCipher.random()
        let chunk = Array("chunk of a file".utf8)
        let sealed = try cipher.seal(chunk, fileID: Self.fileID, index: 3, of: 5)
        #expect(sealed.count == chunk.count + FileCipher.overhead)
        #expect(try cipher.open(sealed, fileID: Self.fileID, index: 3, of: 5) == chunk)
        #expect(try cipher.open(sealed, fileID: Self.fileID, index: 2, of: 5) == nil, "moved")
        #expect(try cipher.open(sealed, fileID: Self.fileID, index: 3, of: 4) == nil, "truncated file")
        #expect(try cipher.open(sealed, fileID: String(repeating: "5f", count: 16), index: 3, of: 5) == nil, "another file")
        var tampered = sealed
        tampered[20] ^= 1
        #expect(try cipher.open(tampered, fileID: Self.fileID, index: 3, of: 5) == nil, "changed")
        #expect(try FileCipher.random().open(sealed, fileID: Self.fileID, index: 3, of: 5) == nil, "another key")
        #expect(FileCipher(key: [1, 2, 3]) == nil)
    }

    @Test("ids are fresh 32-digit hex; SHA-256 matches the known digest")
    func idsAndDigest() throws {
        let id = try FileCipher.newFileID()
        #expect(id.count == 32 && id.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(try FileCipher.newFileID() != id)
        let hasher = try SHA256Hasher()
        try hasher.update(Array("ab".utf8))
        try hasher.update(Array("c".utf8))
        #expect(try hasher.hexDigest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}

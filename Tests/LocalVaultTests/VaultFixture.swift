import Foundation
@testable import LocalVault
import TestSupport

/// scrypt at 2^10 (1 MiB, a few milliseconds) instead of 2^15, so the tests stay fast; one
/// test runs the standard parameters.
let fastScrypt = ScryptParameters(logN: 10, r: 8, p: 1)

/// A state directory path inside a fresh temporary directory, with raw access to its files.
struct VaultFixture {
    let temporary: TemporaryDirectory
    /// The state directory (not created until a `StateDirectory` opens it).
    let path: String
    let password = "correct horse battery staple"

    init() throws {
        temporary = try TemporaryDirectory(prefix: "local-vault")
        path = temporary.appending("state")
    }

    func remove() {
        temporary.remove()
    }

    func openDirectory() throws -> StateDirectory {
        try StateDirectory(path: path)
    }

    /// A new directory and a vault created in it with the fast parameters.
    func createVault() throws -> Vault {
        try Vault.create(at: openDirectory(), password: password, parameters: fastScrypt)
    }

    func openVault(on directory: StateDirectory, password: String? = nil) throws(VaultError) -> Vault {
        try Vault.open(at: directory, password: password ?? self.password, parameters: fastScrypt)
    }

    func filePath(_ name: String) -> String {
        path + "/" + name
    }

    func bytes(of name: String) throws -> [UInt8] {
        try [UInt8](Data(contentsOf: URL(fileURLWithPath: filePath(name))))
    }

    func replace(_ name: String, with bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: filePath(name)))
    }

    /// Every regular file's name in the directory.
    func fileNames() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted()
    }

    /// The permission bits of `path`.
    static func mode(of path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as! NSNumber).intValue & 0o777
    }
}

extension Array where Element == UInt8 {
    /// A copy with the byte at `index` changed.
    func flipping(_ index: Int) -> [UInt8] {
        var copy = self
        copy[index] ^= 0x80
        return copy
    }

    /// Whether `needle` occurs anywhere in these bytes.
    func contains(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, count >= needle.count else { return false }
        return (0...(count - needle.count)).contains { self[$0..<$0 + needle.count].elementsEqual(needle) }
    }
}

import Foundation
@testable import LocalVault
import Testing

@Suite struct StateDirectoryTests {
    // MARK: - Where

    @Test func anExplicitPathIsTheDirectoryItself() throws {
        let path = try StateDirectory.resolvePath(
            explicitPath: "/srv/chat-state", host: "example.com", port: 7000, username: "alice",
            environment: ["XDG_DATA_HOME": "/data", "HOME": "/home/alice"]
        )
        #expect(path == "/srv/chat-state")
    }

    @Test func xdgDataHomeComesBeforeHome() throws {
        let path = try StateDirectory.resolvePath(
            explicitPath: nil, host: "Chat.Example.com", port: 7000, username: "Alice",
            environment: ["XDG_DATA_HOME": "/data", "HOME": "/home/alice"]
        )
        #expect(path == "/data/secure-chat/chat.example.com_7000/alice")
    }

    @Test func homeIsTheFallbackAndARelativeXDGDataHomeIsIgnored() throws {
        for environment in [["HOME": "/home/bob"], ["HOME": "/home/bob", "XDG_DATA_HOME": "relative/data"],
                            ["HOME": "/home/bob", "XDG_DATA_HOME": ""]] {
            let path = try StateDirectory.resolvePath(
                explicitPath: "", host: "localhost", port: 443, username: "bob", environment: environment
            )
            #expect(path == "/home/bob/.local/share/secure-chat/localhost_443/bob")
        }
    }

    @Test func withoutAnyLocationItSaysToPassStateDir() {
        #expect(throws: StateDirectoryError.noLocation) {
            try StateDirectory.resolvePath(explicitPath: nil, host: "h", port: 1, username: "u", environment: [:])
        }
        #expect(StateDirectoryError.noLocation.description.contains("--state-dir"))
    }

    @Test func hostsAndUsernamesBecomeSafeDistinctFileNames() throws {
        #expect(StateDirectory.fileNameComponent("::1") == "%3A%3A1")
        #expect(StateDirectory.fileNameComponent("..") == "%2E.")
        #expect(StateDirectory.fileNameComponent(".") == "%2E")
        #expect(StateDirectory.fileNameComponent("") == "%")
        #expect(StateDirectory.fileNameComponent("a/b") == "a%2Fb")
        #expect(StateDirectory.fileNameComponent("%2F") == "%252F")
        #expect(StateDirectory.fileNameComponent("j.doe_2-x") == "j.doe_2-x")
        #expect(StateDirectory.fileNameComponent("é") == "%C3%A9")
        let path = try StateDirectory.resolvePath(
            explicitPath: nil, host: "::1", port: 7000, username: "..", environment: ["HOME": "/h"]
        )
        #expect(path == "/h/.local/share/secure-chat/%3A%3A1_7000/%2E.")
        let samples = ["a", "A", ".a", "%2Ea", "a/b", "a%2Fb", "", "%", "a_b", "a-b", "a.b"]
        #expect(Set(samples.map(StateDirectory.fileNameComponent)).count == samples.count)
    }

    // MARK: - Making it

    @Test func createsTheDirectoryAndMissingParentsPrivate() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let path = fixture.temporary.appending("a/b/state")
        let directory = try StateDirectory(path: path)
        defer { directory.close() }
        #expect(directory.path == path)
        for created in [fixture.temporary.appending("a"), fixture.temporary.appending("a/b"), path] {
            #expect(try VaultFixture.mode(of: created) == 0o700, "\(created)")
        }
        #expect(try VaultFixture.mode(of: path + "/lock") == 0o600)
    }

    @Test func anExistingDirectoryOthersCanReadIsTightened() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        try FileManager.default.createDirectory(atPath: fixture.path, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o755])
        #expect(try VaultFixture.mode(of: fixture.path) == 0o755)
        let directory = try fixture.openDirectory()
        defer { directory.close() }
        #expect(try VaultFixture.mode(of: fixture.path) == 0o700)
    }

    @Test func thePathIsNormalised() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let directory = try StateDirectory(path: fixture.path + "/x/../y/")
        defer { directory.close() }
        #expect(directory.path == fixture.path + "/y")
    }

    @Test func aFileWhereTheDirectoryShouldBeIsRefused() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        #expect(FileManager.default.createFile(atPath: fixture.path, contents: Data("x".utf8)))
        #expect(throws: StateDirectoryError.notADirectory(path: fixture.path)) { try fixture.openDirectory() }
        #expect(throws: StateDirectoryError.notADirectory(path: fixture.path)) {
            try StateDirectory(path: fixture.path + "/below")
        }
    }

    // MARK: - The lock

    @Test func aSecondOpenIsRefusedUntilTheFirstCloses() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let first = try fixture.openDirectory()
        #expect(first.isOpen)
        let refusal = #expect(throws: StateDirectoryError.self) { try fixture.openDirectory() }
        #expect(refusal == .inUse(path: fixture.path))
        #expect(refusal?.description == "another chat-client is using \(fixture.path)")

        first.close()
        first.close()
        #expect(!first.isOpen)
        let second = try fixture.openDirectory()
        second.close()
    }

    @Test func deinitReleasesTheLock() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        do {
            let held = try fixture.openDirectory()
            #expect(held.isOpen)
        }
        let again = try fixture.openDirectory()
        again.close()
    }

    @Test func anotherProcessSeesTheLock() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let directory = try fixture.openDirectory()
        #expect(try flockTry(fixture.path + "/lock") != 0, "flock(1) must be refused while we hold it")
        directory.close()
        #expect(try flockTry(fixture.path + "/lock") == 0)
    }

    /// `flock -n FILE true`: 0 if the lock was free, 1 if someone holds it.
    private func flockTry(_ lockPath: String) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        process.arguments = ["-n", lockPath, "true"]
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

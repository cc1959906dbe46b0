import ArgumentParser
import NIOCore
import Testing

@testable import Server

/// The command line as a user types it: every default comes from `ServerConfiguration`,
/// and bad values are refused before anything starts.
@Suite("chat-server options")
struct ServerCommandTests {
    @Test("no options: exactly the configuration's defaults")
    func defaults() throws {
        let command = try ServerCommand.parse([])
        let parsed = command.serverConfiguration
        let defaults = ServerConfiguration.defaults
        #expect(parsed.host == defaults.host)
        #expect(parsed.port == defaults.port)
        #expect(parsed.certificateFile == defaults.certificateFile)
        #expect(parsed.privateKeyFile == defaults.privateKeyFile)
        #expect(parsed.storage == defaults.storage)
        #expect(parsed.eventLoops == defaults.eventLoops)
        #expect(parsed.handshakeTimeout == defaults.handshakeTimeout)
        #expect(parsed.idleTimeout == defaults.idleTimeout)
        #expect(parsed.maximumFrameLength == defaults.maximumFrameLength)
        #expect(parsed.maximumConnections == defaults.maximumConnections)
        #expect(parsed.maximumConnectionsPerAddress == defaults.maximumConnectionsPerAddress)
        #expect(parsed.maximumOutboundBytes == defaults.maximumOutboundBytes)
        #expect(parsed.inboxLimits == defaults.inboxLimits)
        #expect(parsed.messageExpiry == defaults.messageExpiry)
        #expect(parsed.sessionLimits == defaults.sessionLimits)
        #expect(parsed.scryptLogN == defaults.scryptLogN)
        #expect(parsed.throttleBaseDelay == defaults.throttleBaseDelay)
        #expect(command.logLevel == .info)
    }

    @Test("every option reaches the configuration")
    func everyOption() throws {
        let command = try ServerCommand.parse([
            "--host", "0.0.0.0", "--port", "0", "--cert", "c.pem", "--key", "k.pem", "--event-loops", "3",
            "--handshake-timeout", "4", "--max-frame", "2048", "--idle-timeout", "2m",
            "--max-connections-per-address", "7", "--max-connections", "99", "--max-outbound-bytes", "32768",
            "--data-dir", "/tmp/d", "--inbox-max-messages", "5", "--inbox-max-bytes", "4096", "--message-expiry", "12h",
            "--login-timeout", "9", "--message-rate", "2.5", "--message-burst", "3", "--stalled-reader-timeout", "1m",
            "--scrypt-log-n", "11", "--login-backoff", "0.5", "--log-level", "debug",
        ])
        let parsed = command.serverConfiguration
        #expect(parsed.host == "0.0.0.0")
        #expect(parsed.port == 0)
        #expect(parsed.certificateFile == "c.pem")
        #expect(parsed.privateKeyFile == "k.pem")
        #expect(parsed.eventLoops == 3)
        #expect(parsed.handshakeTimeout == .seconds(4))
        #expect(parsed.maximumFrameLength == 2048)
        #expect(parsed.idleTimeout == .seconds(120))
        #expect(parsed.maximumConnectionsPerAddress == 7)
        #expect(parsed.maximumConnections == 99)
        #expect(parsed.maximumOutboundBytes == 32768)
        #expect(parsed.storage == .gdbm(directory: "/tmp/d"))
        #expect(parsed.inboxLimits == InboxLimits(maximumMessages: 5, maximumBytes: 4096))
        #expect(parsed.messageExpiry == 12 * 3600)
        #expect(parsed.sessionLimits.loginTimeout == .seconds(9))
        #expect(parsed.sessionLimits.messageRate == 2.5)
        #expect(parsed.sessionLimits.messageBurst == 3)
        #expect(parsed.sessionLimits.stalledReaderTimeout == .seconds(60))
        #expect(parsed.scryptLogN == 11)
        #expect(parsed.throttleBaseDelay == 0.5)
        #expect(command.logLevel == .debug)
    }

    @Test(
        "bad values are refused with a message naming the option",
        arguments: [
            (["--port", "70000"], "--port"),
            (["--handshake-timeout", "0"], "--handshake-timeout"),
            (["--max-frame", "100"], "--max-frame"),
            (["--scrypt-log-n", "9"], "--scrypt-log-n"),
            (["--login-backoff", "301"], "--login-backoff"),
            (["--inbox-max-bytes", "1023"], "--inbox-max-bytes"),
            (["--message-expiry", "soon"], "--message-expiry"),
            (["--message-expiry", "0d"], "--message-expiry"),
            (["--idle-timeout", "0"], "--idle-timeout"),
            (["--max-connections", "0"], "--max-connections"),
            (["--message-rate", "0"], "--message-rate"),
            (["--max-outbound-bytes", "1000"], "--max-outbound-bytes"),
            (["--event-loops", "0"], "--event-loops"),
            (["--log-level", "loud"], "--log-level"),
            (["--admin-socket", "/tmp/" + String(repeating: "x", count: 120)], "admin socket path"),
        ])
    func badValues(arguments: [String], option: String) {
        do {
            _ = try ServerCommand.parse(arguments)
            Issue.record("\(arguments) was accepted")
        } catch {
            let message = ServerCommand.message(for: error)
            #expect(message.contains(option), "\(message)")
        }
    }

    @Test("time spans read s, m, h, d and bare seconds, and print in the largest whole unit")
    func timeSpans() {
        #expect(TimeSpan(argument: "45")?.seconds == 45)
        #expect(TimeSpan(argument: "45s")?.seconds == 45)
        #expect(TimeSpan(argument: "90m")?.seconds == 5_400)
        #expect(TimeSpan(argument: "12h")?.seconds == 43_200)
        #expect(TimeSpan(argument: "30d")?.seconds == 2_592_000)
        #expect(TimeSpan(argument: "1.5h") == nil)
        #expect(TimeSpan(argument: "-3s") == nil)
        #expect(TimeSpan(argument: "h") == nil)
        #expect(TimeSpan(seconds: 2_592_000).description == "30d")
        #expect(TimeSpan(seconds: 5_400).description == "90m")
        #expect(TimeSpan(seconds: 61).description == "61s")
    }

    @Test("the admin socket: admin.sock in a GDBM data directory, none for PostgreSQL, or the one chosen")
    func adminSocket() throws {
        #expect(try ServerCommand.parse([]).serverConfiguration.adminSocket == nil)
        let gdbm = try ServerCommand.parse(["--data-dir", "/srv/chat"]).serverConfiguration
        #expect(gdbm.adminSocketPath == "/srv/chat/admin.sock")
        let postgres = try ServerCommand.parse(["--store", "postgres://chat@db/chat"]).serverConfiguration
        #expect(postgres.adminSocketPath == nil)
        let chosen = try ServerCommand.parse(["--store", "postgres://chat@db/chat", "--admin-socket", "/run/chat.sock"])
        #expect(chosen.serverConfiguration.adminSocketPath == "/run/chat.sock")
    }

    @Test("chat-server admin SUBCOMMAND USER takes the server's storage options")
    func adminSubcommands() throws {
        let lock = try #require(
            try ServerCommand.parseAsRoot(["admin", "lock", "bob", "--data-dir", "/srv/chat"]) as? AdminCommand.Lock)
        #expect(lock.user == "bob")
        var configuration = ServerConfiguration()
        lock.store.apply(to: &configuration, environment: [:])
        #expect(configuration.storage == .gdbm(directory: "/srv/chat"))
        let reset = try #require(
            try ServerCommand.parseAsRoot(["admin", "reset-password", "carol", "--store", "postgres://chat@db/chat", "--admin-socket", "/run/c.sock"])
                as? AdminCommand.ResetPassword)
        #expect(reset.user == "carol" && reset.store.adminSocket == "/run/c.sock")
        #expect(try ServerCommand.parseAsRoot(["admin", "users"]) is AdminCommand.Users)
        #expect(throws: (any Error).self) { try ServerCommand.parseAsRoot(["admin", "lock"]) }
        #expect(throws: (any Error).self) { try ServerCommand.parseAsRoot(["admin", "dance"]) }
    }
}

import ChatSession
import Testing

@Suite struct ServerEndpointTests {
    @Test func parsesHostPortIPv6AndBareNames() {
        #expect(ServerEndpoint(parsing: "chat.example.org:6000", defaultPort: 5555) == ServerEndpoint(host: "chat.example.org", port: 6000))
        #expect(ServerEndpoint(parsing: "chat.example.org", defaultPort: 5555) == ServerEndpoint(host: "chat.example.org", port: 5555))
        #expect(ServerEndpoint(parsing: "[::1]:7000", defaultPort: 5555) == ServerEndpoint(host: "::1", port: 7000))
        #expect(ServerEndpoint(parsing: "[::1]", defaultPort: 5555) == ServerEndpoint(host: "::1", port: 5555))
        // Several colons without brackets: an IPv6 address, no port.
        #expect(ServerEndpoint(parsing: "fe80::1", defaultPort: 5555) == ServerEndpoint(host: "fe80::1", port: 5555))
        #expect(ServerEndpoint(host: "::1", port: 7000).description == "[::1]:7000")
        #expect(ServerEndpoint(host: "10.0.0.1", port: 7000).description == "10.0.0.1:7000")
    }

    @Test func refusesWhatIsNotAnEndpoint() {
        for text in ["", ":5555", "host:", "host:0", "host:65536", "host:abc", "[::1", "[::1]x", "[::1]:", "[]:5555"] {
            #expect(ServerEndpoint(parsing: text, defaultPort: 5555) == nil, "\(text)")
        }
    }

    @Test func resolvesEveryAddressOfAName() throws {
        let addresses = try ServerEndpoint(host: "localhost", port: 5555).addresses()
        #expect(!addresses.isEmpty)
        #expect(addresses.allSatisfy { $0.port == 5555 })
        #expect(Set(addresses.map(\.description)).count == addresses.count, "no address twice")
        #expect(throws: ServerEndpoint.UnknownHost.self) {
            try ServerEndpoint(host: "no-such-host.invalid", port: 5555).addresses()
        }
    }
}

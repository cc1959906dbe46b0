import NIOCore
import NIOEmbedded
import Testing

@testable import Server

@Suite("SessionRegistry")
struct SessionRegistryTests {
    @Test("the first claim displaces nobody; a later session's claim returns the earlier channel")
    func claim() throws {
        let registry = SessionRegistry()
        let first = EmbeddedChannel()
        let second = EmbeddedChannel()

        #expect(registry.isOnline("alice") == false)
        #expect(registry.claim(username: "alice", sessionID: 1, channel: first) == nil)
        #expect(registry.isOnline("alice"))

        let displaced = registry.claim(username: "alice", sessionID: 2, channel: second)
        #expect(displaced === first)
        #expect(registry.isOnline("alice"))

        #expect(try first.finish().isClean)
        #expect(try second.finish().isClean)
    }

    @Test("the same session claiming again displaces nobody")
    func reclaim() throws {
        let registry = SessionRegistry()
        let channel = EmbeddedChannel()
        #expect(registry.claim(username: "alice", sessionID: 1, channel: channel) == nil)
        #expect(registry.claim(username: "alice", sessionID: 1, channel: channel) == nil)
        #expect(try channel.finish().isClean)
    }

    @Test("users are independent")
    func independentUsers() throws {
        let registry = SessionRegistry()
        let alice = EmbeddedChannel()
        let bob = EmbeddedChannel()
        #expect(registry.claim(username: "alice", sessionID: 1, channel: alice) == nil)
        #expect(registry.claim(username: "bob", sessionID: 2, channel: bob) == nil)
        registry.release(username: "alice", sessionID: 1)
        #expect(registry.isOnline("alice") == false)
        #expect(registry.isOnline("bob"))
        #expect(try alice.finish().isClean)
        #expect(try bob.finish().isClean)
    }

    @Test("release by the holding session takes the user offline")
    func release() throws {
        let registry = SessionRegistry()
        let channel = EmbeddedChannel()
        _ = registry.claim(username: "alice", sessionID: 1, channel: channel)
        registry.release(username: "alice", sessionID: 1)
        #expect(registry.isOnline("alice") == false)
        // Releasing again, or releasing a name nobody holds, is harmless.
        registry.release(username: "alice", sessionID: 1)
        registry.release(username: "nobody", sessionID: 1)
        #expect(registry.isOnline("alice") == false)
        #expect(try channel.finish().isClean)
    }

    @Test("a displaced session's release leaves its successor online")
    func staleRelease() throws {
        let registry = SessionRegistry()
        let first = EmbeddedChannel()
        let second = EmbeddedChannel()
        _ = registry.claim(username: "alice", sessionID: 1, channel: first)
        _ = registry.claim(username: "alice", sessionID: 2, channel: second)

        registry.release(username: "alice", sessionID: 1)
        #expect(registry.isOnline("alice"))

        // Still held by session 2: a third login displaces the second channel, not the first.
        let third = EmbeddedChannel()
        #expect(registry.claim(username: "alice", sessionID: 3, channel: third) === second)

        #expect(try first.finish().isClean)
        #expect(try second.finish().isClean)
        #expect(try third.finish().isClean)
    }
}

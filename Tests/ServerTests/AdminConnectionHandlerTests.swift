import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Shared
import Testing

@testable import Server

/// One admin socket connection on an `EmbeddedChannel`: the request line in, the reply's
/// lines out, then the close.
@Suite("AdminConnectionHandler")
struct AdminConnectionHandlerTests {
    static func service() -> AdminService {
        AdminService(
            accounts: InMemoryAccountStore(), inbox: InMemoryInboxStore(), files: InMemoryFileStore(), deleteKeys: { _ in false },
            footprint: { StoreFootprint(description: "memory", bytes: 0) }, sessions: .noServer,
            hasher: try! PasswordHasher(parameters: .fastForTests),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    static func channel(peerUID: uid_t) throws -> EmbeddedChannel {
        let handler = AdminConnectionHandler(
            service: service(), peer: PeerCredentials(pid: 42, uid: peerUID),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: SocketAddress(unixDomainSocketPath: "/tmp/admin-test.sock")).wait()
        return channel
    }

    static func reply(_ channel: EmbeddedChannel) throws -> [String] {
        var text = ""
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += buffer.readString(length: buffer.readableBytes) ?? ""
        }
        return text.split(separator: "\n").map(String.init)
    }

    @Test("a peer that is neither the server's user nor root is refused, and the connection closed")
    func refusedPeer() throws {
        let channel = try Self.channel(peerUID: geteuid() == 0 ? 4_242 : geteuid() + 1)
        try channel.writeInbound(ByteBuffer(string: "users"))
        #expect(try Self.reply(channel) == ["error refused only the server's user and root may administer it"])
        #expect(!channel.isActive)
        #expect(try channel.finish(acceptAlreadyClosed: true).isClean)
    }

    @Test("a malformed request is invalid_request; a second line on the connection is ignored")
    func malformedRequest() throws {
        let channel = try Self.channel(peerUID: geteuid())
        try channel.writeInbound(ByteBuffer(string: "dance now please"))
        try channel.writeInbound(ByteBuffer(string: "users"))
        let lines = try Self.reply(channel)
        #expect(lines.count == 1 && lines[0].hasPrefix("error invalid_request not a request: 'dance now please'"), "\(lines)")
        #expect(!channel.isActive)
        #expect(try channel.finish(acceptAlreadyClosed: true).isClean)
    }

    @Test("the server's own user gets the service's answer")
    func answered() async throws {
        let service = Self.service()
        let channel = try await NIOAsyncTestingChannel { channel in
            try channel.pipeline.syncOperations.addHandler(
                AdminConnectionHandler(
                    service: service, peer: PeerCredentials(pid: 42, uid: geteuid()),
                    logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })))
        }
        try await channel.connect(to: SocketAddress(unixDomainSocketPath: "/tmp/admin-test.sock")).get()
        try await channel.writeInbound(ByteBuffer(string: "lock nobody"))
        var text = ""
        while !text.hasSuffix("\n") {
            var buffer = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            text += buffer.readString(length: buffer.readableBytes) ?? ""
        }
        #expect(text == "error unknown_user no such user: nobody\n")
        try await channel.closeFuture.get()
        #expect(try await channel.finish(acceptAlreadyClosed: true).isClean)
    }
}

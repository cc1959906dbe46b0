import ArgumentParser
import Foundation
import NIOCore
import Shared

/// `chat-client`: parses the command line and starts the session; nothing else.
@main
struct ClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-client",
        abstract: "Secure 1-1 chat client. Verifies the server's certificate; there is no way to turn that off.")

    @Option(help: "Server host name or IP address (must be in the server certificate).")
    var host = "127.0.0.1"

    @Option(help: "Server port.")
    var port = 5555

    @Option(help: "PEM file of the CA that signed the server certificate.")
    var ca = "certs/ca.pem"

    func validate() throws {
        guard (1...65_535).contains(port) else {
            throw ValidationError("--port must be between 1 and 65535")
        }
    }

    func run() async throws {
        let tls: TLSContext
        do {
            tls = try TLSContext.client(caFile: ca)
        } catch {
            Console.errorLine("chat-client: \(error)")
            throw ExitCode(2)
        }
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            let connected = try await TLSClientConnector.connect(host: host, port: port, context: tls) { channel in
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
            channel = connected.output
            Console.writeLine(
                "Connected to \(host):\(port) (\(connected.handshake.protocolVersion), "
                    + "\(connected.handshake.cipherSuite)), certificate verified against \(ca)")
        } catch {
            Console.errorLine("chat-client: cannot connect to \(host):\(port): \(error)")
            throw ExitCode(1)
        }
        try await channel.executeThenClose { inbound, outbound in
            var replies = inbound.makeAsyncIterator()
            while let line = readLine() {
                if line == "exit" { break }
                try await outbound.write(ByteBuffer(string: line + "\n"))
                guard let reply = try await replies.next() else {
                    Console.errorLine("chat-client: server closed the connection")
                    throw ExitCode(1)
                }
                Console.write(String(buffer: reply))
            }
        }
    }
}

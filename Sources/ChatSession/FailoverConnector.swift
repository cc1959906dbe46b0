import NIOCore
import NIOPosix
import Shared

/// Opens a session with the first of several servers that answers: each endpoint in the
/// order given, each of its addresses in turn, every one verified against the endpoint's
/// host name. A client that lost its server calls it again to fail over.
public struct FailoverConnector: Sendable {
    /// Where to try, in order.
    public let endpoints: [ServerEndpoint]
    /// The settings of every session (its host and port are replaced per endpoint).
    public let configuration: SessionConfiguration
    private let tls: TLSContext
    private let group: EventLoopGroup

    /// A connector over `endpoints`, loading the configuration's CA file once.
    public init(
        endpoints: [ServerEndpoint], configuration: SessionConfiguration,
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        precondition(!endpoints.isEmpty, "at least one server")
        self.endpoints = endpoints
        self.configuration = configuration
        self.tls = try TLSContext.client(caFile: configuration.caFile)
        self.group = group
    }

    /// A session with the first server that answers, and where it is ("host:port"); every
    /// event goes to `onEvent`, as with `SessionConnector.connect(onEvent:)`.
    ///
    /// - Throws: the last attempt's error when none answered; `SessionError.refused`
    ///   (a server that answered and refused the session) at once.
    public func connect(
        onEvent: @escaping @Sendable (SessionEvent) -> Void
    ) async throws -> (ChatConnection, ServerEndpoint) {
        var lastError: (any Error)?
        for endpoint in endpoints {
            var configuration = self.configuration
            configuration.host = endpoint.host
            configuration.port = endpoint.port
            let connector = SessionConnector(configuration: configuration, tls: tls, group: group)
            let addresses: [SocketAddress]
            do {
                addresses = try endpoint.addresses()
            } catch {
                lastError = error
                continue
            }
            for address in addresses {
                do {
                    return (try await connector.connecting(to: address).connect(onEvent: onEvent), endpoint)
                } catch SessionError.refused(let error) {
                    throw SessionError.refused(error)
                } catch {
                    lastError = error
                }
            }
        }
        throw lastError ?? SessionError.connectionClosed
    }
}

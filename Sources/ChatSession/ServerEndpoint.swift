#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// One server a client may use: a host name (what its certificate is checked against) and
/// a port. A name with several addresses is several places to try.
public struct ServerEndpoint: Hashable, Sendable, CustomStringConvertible {
    public let host: String
    public let port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Reads `HOST:PORT`, `[IPv6]:PORT`, or a bare `HOST` (then `defaultPort`); nil for
    /// anything else (an empty host, a port outside 1...65535).
    public init?(parsing text: String, defaultPort: Int) {
        var host = Substring(text)
        var port = defaultPort
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let parsed = Int(rest.dropFirst()) else { return nil }
                port = parsed
            }
        } else if let colon = host.lastIndex(of: ":"), host.firstIndex(of: ":") == colon {
            guard let parsed = Int(host[host.index(after: colon)...]) else { return nil }
            port = parsed
            host = host[..<colon]
        }
        guard !host.isEmpty, (1...65_535).contains(port) else { return nil }
        self.init(host: String(host), port: port)
    }

    /// The resolver found no address for `host`.
    public struct UnknownHost: Error, Hashable, Sendable {
        public let host: String
    }

    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Every address the host name has (TCP), in the resolver's order, without repeats.
    ///
    /// - Throws: `UnknownHost` when it has none.
    public func addresses() throws -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            throw UnknownHost(host: host)
        }
        defer { freeaddrinfo(first) }
        var found: [SocketAddress] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            if let address = current.pointee.ai_addr {
                let socketAddress: SocketAddress?
                switch current.pointee.ai_family {
                case AF_INET:
                    socketAddress = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                        SocketAddress($0.pointee, host: host)
                    }
                case AF_INET6:
                    socketAddress = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                        SocketAddress($0.pointee, host: host)
                    }
                default:
                    socketAddress = nil
                }
                if let socketAddress, !found.contains(socketAddress) { found.append(socketAddress) }
            }
            entry = current.pointee.ai_next
        }
        guard !found.isEmpty else { throw UnknownHost(host: host) }
        return found
    }
}

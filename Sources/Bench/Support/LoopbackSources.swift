import NIOCore

/// Source addresses for many connections to a server on loopback: all of 127/8 is the
/// machine's own, so connections can come from 127.0.0.2, 127.0.0.3, ..., each address with
/// its own range of local ports (about 28,000) and its own per-address caps on the server.
enum LoopbackSources {
    /// Whether connections to `host` can be spread this way: only when it is on loopback.
    static func canSpread(toward host: String) -> Bool {
        host.hasPrefix("127.")
    }

    /// The source address of connection `index` when each address takes `perAddress`.
    static func address(for index: Int, perAddress: Int) throws -> SocketAddress {
        try SocketAddress(ipAddress: "127.0.0.\(2 + index / perAddress)", port: 0)
    }
}

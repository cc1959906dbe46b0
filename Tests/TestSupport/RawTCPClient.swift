import Foundation

/// A plain blocking TCP socket for tests that must speak something other than TLS
/// (garbage, HTTP, silence) or count how a server treats raw connections.
public final class RawTCPClient {
    private let descriptor: Int32

    /// Connects to an IPv4 address; `receiveTimeout` bounds every read. `sourceAddress`
    /// binds the local end first (any 127.x.y.z works on Linux), so one test can look like
    /// many hosts to the server's per-address cap.
    public init(host: String = "127.0.0.1", port: Int, receiveTimeout: Int = 10, sourceAddress: String? = nil) throws {
        // CLOEXEC: other tests start processes at the same time, and a child that inherited
        // this socket would keep it open after we close it, so the server never sees the close.
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw FixtureError("socket: \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: receiveTimeout, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if let sourceAddress {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, sourceAddress, &local.sin_addr)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else { throw FixtureError("bind \(sourceAddress): \(String(cString: strerror(errno)))") }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            // No close here: self is fully initialised, so deinit runs and closes it; closing
            // twice could close a descriptor another test has opened meanwhile.
            throw FixtureError("connect: \(String(cString: strerror(errno)))")
        }
    }

    deinit {
        close(descriptor)
    }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw FixtureError("send: \(String(cString: strerror(errno)))") }
            offset += sent
        }
    }

    public func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    /// True once the server has closed (or reset) the connection; never blocks. Bytes the
    /// server sent are read and dropped.
    public var isClosedByPeer: Bool {
        var byte: UInt8 = 0
        while true {
            let count = recv(descriptor, &byte, 1, Int32(MSG_DONTWAIT))
            if count == 0 { return true }
            if count < 0 { return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR }
        }
    }

    /// How a read loop ended.
    public enum ReadEnd: Equatable {
        /// The peer closed the connection (EOF or reset).
        case closed
        /// Nothing arrived within the receive timeout.
        case timedOut
    }

    /// Reads until the peer closes or the timeout passes; returns what arrived and why it stopped.
    public func readUntilClosed() -> (bytes: [UInt8], end: ReadEnd) {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received.append(contentsOf: chunk[0..<count])
                continue
            }
            if count == 0 { return (received, .closed) }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return (received, .timedOut) }
            return (received, .closed)
        }
    }
}

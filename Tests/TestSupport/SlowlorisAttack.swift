import Foundation
import NIOConcurrencyHelpers
import Shared

/// A slowloris attack on a TLS server, from a background thread: sockets that connect and
/// never start a handshake, plus some that dribble a TLS record header one byte a second.
/// Whatever the server closes is reconnected at once, so the attack holds its sockets for
/// as long as it runs.
///
/// Sockets are spread over source addresses 127.0.0.2, 127.0.0.3, ... (`perAddress` each),
/// as a real attack comes from many hosts: from one address the per-address cap would
/// refuse all but a few, which proves nothing about the rest of the server.
public final class SlowlorisAttack: @unchecked Sendable {
    // @unchecked: the sockets are touched only by the attack thread; the counters are
    // behind `state`.
    private struct Counters {
        var stop = false
        var silentClosed = 0
        var dribblersClosed = 0
        var connectFailures = 0
        var held = 0
    }

    private struct Attacker {
        var socket: RawTCPClient?
        let source: String
        let dribbles: Bool
        var dribbled = 0
    }

    private let port: Int
    private var attackers: [Attacker] = []
    private let state = Locked(Counters())
    private let finished = ConditionLock(value: false)

    /// `silent` sockets that say nothing and `dribblers` that send a byte a second.
    public init(port: Int, silent: Int, dribblers: Int, perAddress: Int) {
        self.port = port
        for index in 0..<(silent + dribblers) {
            let source = "127.0.0.\(2 + index / perAddress)"
            attackers.append(Attacker(socket: nil, source: source, dribbles: index >= silent))
        }
    }

    /// Silent sockets the server has closed so far (its handshake timeout at work).
    public var silentClosed: Int { state.withLock { $0.silentClosed } }
    /// Dribbling sockets the server has closed so far.
    public var dribblersClosed: Int { state.withLock { $0.dribblersClosed } }
    /// Connects that failed (refused or timed out).
    public var connectFailures: Int { state.withLock { $0.connectFailures } }
    /// Sockets open right now.
    public var held: Int { state.withLock { $0.held } }

    public func start() {
        let thread = Thread { [self] in run() }
        thread.start()
    }

    /// Stops the attack and closes every socket.
    public func stop() {
        state.withLock { $0.stop = true }
        finished.lock(whenValue: true)
        finished.unlock()
    }

    private func run() {
        // A record header that promises 512 bytes, then never enough of them.
        let header: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00]
        var lastDribble = Date()
        while !state.withLock({ $0.stop }) {
            let dribbleNow = Date().timeIntervalSince(lastDribble) >= 1
            if dribbleNow { lastDribble = Date() }
            var held = 0
            for index in attackers.indices {
                if let socket = attackers[index].socket, socket.isClosedByPeer {
                    attackers[index].socket = nil
                    let dribbles = attackers[index].dribbles
                    state.withLock { dribbles ? ($0.dribblersClosed += 1) : ($0.silentClosed += 1) }
                }
                if attackers[index].socket == nil {
                    attackers[index].socket = try? RawTCPClient(port: port, receiveTimeout: 1, sourceAddress: attackers[index].source)
                    attackers[index].dribbled = 0
                    if attackers[index].socket == nil { state.withLock { $0.connectFailures += 1 } }
                }
                if dribbleNow, attackers[index].dribbles, let socket = attackers[index].socket {
                    let byte = attackers[index].dribbled < header.count ? header[attackers[index].dribbled] : 0x41
                    try? socket.send([byte])
                    attackers[index].dribbled += 1
                }
                if attackers[index].socket != nil { held += 1 }
            }
            state.withLock { $0.held = held }
            usleep(50_000)
        }
        for index in attackers.indices { attackers[index].socket = nil }
        state.withLock { $0.held = 0 }
        finished.lock()
        finished.unlock(withValue: true)
    }
}

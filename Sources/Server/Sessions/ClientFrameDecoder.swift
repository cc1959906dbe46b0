import NIOCore
import Shared

// Concrete, in the module that uses it, rather than generic in Shared: a generic handler
// from another module runs unspecialised code for every frame (metadata lookups and
// dynamic casts through `NIOAny`): 3,400 of 31,100 user-space instructions per relayed
// message by scripts/callgrind-relay.sh.

/// Turns each line from `LineFrameDecoder` into a `ClientFrame`, or into the `ProtocolError`
/// that says why it is not one: the handler above sees `Result<ClientFrame, ProtocolError>` and
/// never parses bytes itself.
final class ClientFrameDecoder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = Result<ClientFrame, ProtocolError>

    init() {}

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(wrapInboundOut(ClientFrame.decode(unwrapInboundIn(data))))
    }
}

@available(*, unavailable)
extension ClientFrameDecoder: Sendable {}

import NIOCore

/// Transport proof for the TLS foundation: answers every chunk of plaintext with
/// "echo: " and the same bytes. The wire protocol replaces it.
final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let received = unwrapInboundIn(data)
        var reply = context.channel.allocator.buffer(capacity: received.readableBytes + 6)
        reply.writeString("echo: ")
        reply.writeImmutableBuffer(received)
        context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
    }
}

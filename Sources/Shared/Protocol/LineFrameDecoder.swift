import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Splits the inbound byte stream into lines: one `ByteBuffer` per frame, without the `"\n"` and
/// without a `"\r"` just before it.
///
/// Like swift-nio-extras' `LineBasedFrameDecoder`, plus a maximum frame length: a peer must not be
/// able to make us buffer without bound by never sending a newline. The length counts the frame's
/// bytes, excluding the line terminator.
///
/// When a line is too long, or an unterminated prefix is already too long, decoding throws
/// `ProtocolError` with code `frameTooLarge` and this decoder discards everything after: the stream
/// cannot be resynchronised, so no later frame may be emitted. (`ByteToMessageHandler` also refuses
/// further input once a decoder threw; this decoder does not rely on that.)
///
/// Empty lines are skipped, so a bare newline works as a harmless keep-alive. A partial line left
/// at end of input is dropped: the peer never finished it, so there is nothing to answer.
public final class LineFrameDecoder: ByteToMessageDecoder, NIOSingleStepByteToMessageDecoder {
    /// One frame, without its line terminator.
    public typealias InboundOut = ByteBuffer

    /// The default maximum frame length: 64 KiB.
    public static let defaultMaxFrameLength = 64 * 1024

    /// The longest frame accepted, in bytes, excluding the line terminator.
    public let maxFrameLength: Int

    /// How far the unread bytes were already searched for a newline, so a frame trickling in byte
    /// by byte is not rescanned from its start on every read.
    private var scannedBytes = 0

    /// Set once a frame was too large; from then on all input is discarded.
    private var failed = false

    /// Creates a decoder accepting frames of up to `maxFrameLength` bytes.
    public init(maxFrameLength: Int = LineFrameDecoder.defaultMaxFrameLength) {
        precondition(maxFrameLength >= 0, "maxFrameLength must not be negative")
        self.maxFrameLength = maxFrameLength
    }

    /// Emits the next complete line, if the buffer holds one.
    public func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try self.nextFrame(&buffer) else {
            return .needMoreData
        }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    /// Emits the remaining complete lines at end of input and drops a trailing partial line.
    public func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        while try self.decode(context: context, buffer: &buffer) == .continue {}
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }

    /// Single-step form of `decode(context:buffer:)`, for `NIOSingleStepByteToMessageProcessor`.
    public func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        try self.nextFrame(&buffer)
    }

    /// Single-step form of `decodeLast(context:buffer:seenEOF:)`: drops a trailing partial line.
    public func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ByteBuffer? {
        if let frame = try self.nextFrame(&buffer) {
            return frame
        }
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return nil
    }

    private func nextFrame(_ buffer: inout ByteBuffer) throws(ProtocolError) -> ByteBuffer? {
        while !self.failed {
            // Offsets from the reader index: where the newline is, and whether a "\r" is just
            // before it (or, without a newline, is the last byte).
            let (newline, carriageReturn) = buffer.withUnsafeReadableBytes { bytes in
                let newline = Self.firstNewline(in: bytes, from: self.scannedBytes)
                let before = newline ?? bytes.count
                return (newline, before > 0 && bytes[before - 1] == UInt8(ascii: "\r"))
            }
            guard let newline else {
                let count = buffer.readableBytes
                self.scannedBytes = count
                // A prefix of max + 1 bytes may still be a full-length frame whose "\r\n" is split
                // across reads; anything longer cannot be.
                if count > self.maxFrameLength + 1 || (count == self.maxFrameLength + 1 && !carriageReturn) {
                    throw self.fail(&buffer)
                }
                return nil
            }
            self.scannedBytes = 0
            let length = carriageReturn ? newline - 1 : newline
            guard length <= self.maxFrameLength else {
                throw self.fail(&buffer)
            }
            let frame = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: newline + 1 - length)
            if length > 0 {
                return frame
            }
        }
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return nil
    }

    /// The offset of the first "\n" at or after `start`, by `memchr`: vectorised, where the
    /// generic `firstIndex(of:)` over the buffer's view went a byte at a time.
    private static func firstNewline(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard start < bytes.count, let base = bytes.baseAddress else { return nil }
        guard let found = memchr(base + start, Int32(UInt8(ascii: "\n")), bytes.count - start) else { return nil }
        return UnsafeRawPointer(found) - base
    }

    private func fail(_ buffer: inout ByteBuffer) -> ProtocolError {
        self.failed = true
        self.scannedBytes = 0
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .frameTooLarge(limit: self.maxFrameLength)
    }
}

// Channel handlers live on one event loop; the scan offset and failure flag are unsynchronised.
@available(*, unavailable)
extension LineFrameDecoder: Sendable {}

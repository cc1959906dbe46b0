import NIOCore

@testable import Shared

/// A frame decoder's fast path (`ClientFrameScanner`, `ServerFrameScanner`) held against
/// its general path on one line, through every way in: the scanner itself, `decode` on bytes,
/// and `decode` on a `ByteBuffer` whose reader index is past 0, as `LineFrameDecoder`'s
/// slices have.
struct ScannerAgreement<Frame: Equatable & Sendable>: Sendable {
    let general: @Sendable ([UInt8]) -> Result<Frame, ProtocolError>
    let scanner: @Sendable (UnsafeBufferPointer<UInt8>) -> Frame?
    let decode: @Sendable ([UInt8]) -> Result<Frame, ProtocolError>
    let decodeBuffer: @Sendable (ByteBuffer) -> Result<Frame, ProtocolError>

    /// Nil when every path agrees with the general one on `input`, else what differs.
    func disagreement(_ input: [UInt8]) -> String? {
        let general = self.general(input)
        let fast = input.withUnsafeBufferPointer { scanner($0) }
        if let fast, general != .success(fast) {
            return "scanner read \(fast), the general path \(general)"
        }
        let decoded = decode(input)
        if decoded != general {
            return "decode gave \(decoded), the general path \(general)"
        }
        var buffer = ByteBufferAllocator().buffer(capacity: input.count + 8)
        buffer.writeString("xx")
        buffer.moveReaderIndex(forwardBy: 2)
        buffer.writeBytes(input)
        let fromBuffer = decodeBuffer(buffer)
        if fromBuffer != general {
            return "decode(ByteBuffer) gave \(fromBuffer), the general path \(general)"
        }
        return nil
    }
}

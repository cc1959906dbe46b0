import NIOCore

/// Lines gathered until the next flush, and the promise of the writes they came from:
/// what `LineFrameEncoder` and the server's `SessionHandler` keep between a write and
/// the flush, so a flush passes on one buffer (one TLS record batch below) however many
/// lines it carries.
public struct GatheredLines {
    private var lines: ByteBuffer?
    private var promise: EventLoopPromise<Void>?

    public init() {}

    /// Appends one line: `body` writes its content, then the terminator is added. The
    /// write's `promise` completes with the write of the whole batch.
    public mutating func append(
        promise: EventLoopPromise<Void>?, allocator: ByteBufferAllocator, capacity: Int,
        _ body: (inout ByteBuffer) -> Void
    ) {
        // Taken out while appending, so the buffer stays uniquely referenced (no copy).
        var buffer = lines ?? allocator.buffer(capacity: capacity)
        lines = nil
        body(&buffer)
        buffer.writeInteger(UInt8(ascii: "\n"))
        lines = buffer
        gather(promise)
    }

    /// Appends what `body` writes: whole lines, terminators included (as
    /// `ServerFrame.encodeLine(into:)` writes one).
    public mutating func appendLines(allocator: ByteBufferAllocator, capacity: Int, _ body: (inout ByteBuffer) -> Void) {
        var buffer = lines ?? allocator.buffer(capacity: capacity)
        lines = nil
        body(&buffer)
        lines = buffer
    }

    /// Appends lines that carry their terminators already: taken as they are when nothing
    /// is gathered yet (no copy), copied after what is otherwise.
    public mutating func append(lines more: ByteBuffer, promise: EventLoopPromise<Void>?) {
        if var buffer = lines {
            lines = nil
            buffer.writeImmutableBuffer(more)
            lines = buffer
        } else {
            lines = more
        }
        gather(promise)
    }

    private mutating func gather(_ promise: EventLoopPromise<Void>?) {
        guard let promise else { return }
        if let gathered = self.promise {
            gathered.futureResult.cascade(to: promise)
        } else {
            self.promise = promise
        }
    }

    /// The gathered lines and their promise, emptied; nil when nothing was gathered.
    public mutating func take() -> (lines: ByteBuffer, promise: EventLoopPromise<Void>?)? {
        guard let lines else { return nil }
        defer {
            self.lines = nil
            self.promise = nil
        }
        return (lines, promise)
    }
}

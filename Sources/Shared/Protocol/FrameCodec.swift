import NIOCore

extension ClientFrame {
    /// The frame's JSON, without the line terminator, appended to `buffer`.
    public func encode(into buffer: inout ByteBuffer) {
        self.encodeAppending(to: &buffer)
    }
}

extension ServerFrame {
    /// The frame's JSON, without the line terminator, appended to `buffer`.
    public func encode(into buffer: inout ByteBuffer) {
        self.encodeAppending(to: &buffer)
    }

    /// The frame's JSON and its `"\n"` appended to `buffer`, which grows at most once.
    public func encodeLine(into buffer: inout ByteBuffer) {
        if HotFrameLines.append(self, to: &buffer) { return }
        self.encodeAppending(to: &buffer, terminated: true)
    }
}

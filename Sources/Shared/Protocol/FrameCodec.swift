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
}

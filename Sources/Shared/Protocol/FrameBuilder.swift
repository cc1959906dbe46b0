import NIOCore

/// Where an outgoing frame sets its JSON members: no intermediate tree, no dictionary, no
/// sorting at run time.
///
/// The wire format is compact JSON with keys in byte order, exactly what Foundation's
/// `JSONEncoder` wrote with `.sortedKeys` and `.withoutEscapingSlashes` (tests compare the two
/// byte for byte). Callers set the members in that order; debug builds check it. Absent
/// optional fields (nil) are left out, not sent as null.
///
/// A frame sets its members twice (`EncodableFrame.encode(allocator:)`): into a `FrameSizer`,
/// which counts the exact bytes, then into a `FrameWriter` over that many bytes of one new
/// buffer. Growing the buffer member by member, each write asking the buffer for room again,
/// cost more than the second pass does.
protocol FrameBuilder {
    /// Sets an integer field; nil leaves it out.
    mutating func set(_ name: StaticString, _ value: Int?)
    /// Sets a string field; nil leaves it out.
    mutating func set(_ name: StaticString, _ value: String?)
    /// Sets a string field known at compile time (a frame's `type`, a status), which must need no
    /// escaping.
    mutating func set(_ name: StaticString, constant value: StaticString)
    /// Sets a boolean field; nil leaves it out.
    mutating func set(_ name: StaticString, _ value: Bool?)
    /// Sets an object of integers (e.g. message counts per sender), its keys in byte order.
    mutating func set(_ name: StaticString, _ value: [String: Int])
    /// Sets an array of objects of strings (e.g. the `who` list), each object's keys in byte order.
    mutating func set(_ name: StaticString, _ value: [[String: String]])
    /// Sets an array of strings (e.g. the message ids of a `delivered`), in the given order.
    mutating func set(_ name: StaticString, _ value: [String])
    /// Sets a nested object whose members `build` sets, in byte order of their names as at
    /// the top level (e.g. the `signed_prekey` of the key frames).
    mutating func set(_ name: StaticString, object build: (inout Self) -> Void)
    /// Sets an array of nested objects, in the given order, each one's members set by `build`.
    mutating func set<Element>(_ name: StaticString, objects elements: [Element], _ build: (Element, inout Self) -> Void)
}

/// A frame that sets its members into a `FrameBuilder`, and so can be encoded.
protocol EncodableFrame {
    /// Sets every member, in byte order of their names. Called twice per encoding, so it must
    /// set the same members both times.
    func build(into builder: inout some FrameBuilder)
}

extension EncodableFrame {
    /// The frame's JSON, without a line terminator, in a new buffer of just the right size.
    ///
    /// The buffer is made here, not passed in, so it is uniquely owned and the write goes in
    /// place (a buffer the caller still held would be copied on the first write).
    func encodedBuffer(allocator: ByteBufferAllocator) -> ByteBuffer {
        var sizer = FrameSizer()
        self.build(into: &sizer)
        let size = sizer.count
        var buffer = allocator.buffer(capacity: size)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { space in
            var writer = FrameWriter(UnsafeMutableRawBufferPointer(rebasing: space[..<size]), isPlain: sizer.isPlain)
            self.build(into: &writer)
            return writer.finish()
        }
        return buffer
    }

    /// Appends the frame's JSON to `buffer`, followed by `"\n"` when `terminated`: one size
    /// pass, one reservation, one write in place (the buffer grows at most once).
    func encodeAppending(to buffer: inout ByteBuffer, terminated: Bool = false) {
        var sizer = FrameSizer()
        self.build(into: &sizer)
        let size = sizer.count
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: terminated ? size + 1 : size) { space in
            var writer = FrameWriter(UnsafeMutableRawBufferPointer(rebasing: space[..<size]), isPlain: sizer.isPlain)
            self.build(into: &writer)
            let written = writer.finish()
            guard terminated else { return written }
            space[written] = UInt8(ascii: "\n")
            return written + 1
        }
    }
}

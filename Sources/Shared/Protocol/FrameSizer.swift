/// The first pass of encoding a frame: counts the exact bytes `FrameWriter` will write for the
/// same members, so the frame's buffer is allocated once, at its final size.
///
/// Must agree with `FrameWriter` byte for byte; the writer checks that it never runs past the
/// count, and the codec tests compare whole frames with Foundation's encoder.
struct FrameSizer: FrameBuilder {
    /// Bytes so far, the object's braces included.
    private(set) var count = 2
    /// True while no string counted needs an escape, so the writer may copy every string as is
    /// instead of scanning it again (nearly every frame: escapes are rare in names and bodies).
    private(set) var isPlain = true
    private var isEmpty = true

    /// Counts `"name":` (after a comma unless first) and a value of `valueBytes` bytes.
    @inline(__always)
    private mutating func member(_ name: StaticString, valueBytes: Int) {
        count += (isEmpty ? 3 : 4) + name.utf8CodeUnitCount + valueBytes
        isEmpty = false
    }

    /// `FrameWriter.stringBytes`, noting whether the string needs escapes.
    @inline(__always)
    private mutating func stringBytes(_ utf8: UnsafeBufferPointer<UInt8>) -> Int {
        let bytes = FrameWriter.stringBytes(utf8)
        if bytes != utf8.count + 2 { isPlain = false }
        return bytes
    }

    @inline(__always)
    mutating func set(_ name: StaticString, _ value: Int?) {
        guard let value else { return }
        member(name, valueBytes: FrameWriter.integerBytes(value))
    }

    @inline(__always)
    mutating func set(_ name: StaticString, _ value: String?) {
        guard let value else { return }
        let bytes = FrameWriter.withUTF8(value) { stringBytes($0) }
        member(name, valueBytes: bytes)
    }

    @inline(__always)
    mutating func set(_ name: StaticString, constant value: StaticString) {
        member(name, valueBytes: value.utf8CodeUnitCount + 2)
    }

    @inline(__always)
    mutating func set(_ name: StaticString, _ value: Bool?) {
        guard let value else { return }
        member(name, valueBytes: value ? 4 : 5)
    }

    // The two below need no sorting: the size is the same in any order.

    mutating func set(_ name: StaticString, _ value: [String: Int]) {
        var bytes = 2 + max(0, value.count - 1)  // braces and commas
        for (key, number) in value {
            bytes += FrameWriter.withUTF8(key) { stringBytes($0) } + 1 + FrameWriter.integerBytes(number)
        }
        member(name, valueBytes: bytes)
    }

    mutating func set(_ name: StaticString, _ value: [[String: String]]) {
        var bytes = 2 + max(0, value.count - 1)  // brackets and commas
        for object in value {
            bytes += 2 + max(0, object.count - 1)
            for (key, text) in object {
                bytes += FrameWriter.withUTF8(key) { stringBytes($0) } + 1 + FrameWriter.withUTF8(text) { stringBytes($0) }
            }
        }
        member(name, valueBytes: bytes)
    }

    mutating func set(_ name: StaticString, _ value: [String]) {
        var bytes = 2 + max(0, value.count - 1)  // brackets and commas
        for text in value {
            bytes += FrameWriter.withUTF8(text) { stringBytes($0) }
        }
        member(name, valueBytes: bytes)
    }

    mutating func set(_ name: StaticString, object build: (inout FrameSizer) -> Void) {
        member(name, valueBytes: 2)  // braces
        nested(build)
    }

    mutating func set<Element>(_ name: StaticString, objects elements: [Element], _ build: (Element, inout FrameSizer) -> Void) {
        member(name, valueBytes: 2 + max(0, elements.count - 1) + 2 * elements.count)  // brackets, commas, braces
        for element in elements {
            nested { build(element, &$0) }
        }
    }

    /// Counts the members `build` sets as those of a fresh object (the first without a comma).
    private mutating func nested(_ build: (inout FrameSizer) -> Void) {
        let outerIsEmpty = isEmpty
        isEmpty = true
        build(&self)
        isEmpty = outerIsEmpty
    }
}

/// Big-endian integers and length-prefixed byte strings, for the vault's file formats.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    /// One byte.
    mutating func append(_ value: UInt8) {
        bytes.append(value)
    }

    /// Four bytes, most significant first.
    mutating func append(_ value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// Eight bytes, most significant first.
    mutating func append(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// The bytes as they are, with no length.
    mutating func append(raw: some Sequence<UInt8>) {
        bytes.append(contentsOf: raw)
    }

    /// A u32 length, then the bytes.
    mutating func appendPrefixed(_ value: [UInt8]) {
        append(UInt32(value.count))
        bytes.append(contentsOf: value)
    }
}

/// Reads what `ByteWriter` wrote; every read answers nil past the end instead of trapping.
struct ByteReader {
    private let bytes: [UInt8]
    private(set) var offset: Int

    /// A reader of `bytes` starting at `offset`.
    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    /// Bytes left after `offset`.
    var remaining: Int { bytes.count - offset }

    /// One byte.
    mutating func readByte() -> UInt8? {
        guard remaining >= 1 else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// A big-endian u32.
    mutating func readUInt32() -> UInt32? {
        guard let raw = read(count: 4) else { return nil }
        return raw.reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// A big-endian u64.
    mutating func readUInt64() -> UInt64? {
        guard let raw = read(count: 8) else { return nil }
        return raw.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The next `count` bytes, as a slice of the original (its indices are the original's).
    mutating func read(count: Int) -> ArraySlice<UInt8>? {
        guard count >= 0, remaining >= count else { return nil }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    /// A u32 length, then that many bytes.
    mutating func readPrefixed() -> ArraySlice<UInt8>? {
        let start = offset
        guard let length = readUInt32(), let value = read(count: Int(length)) else {
            offset = start
            return nil
        }
        return value
    }
}

/// Appends fixed-width big-endian integers and length-prefixed byte strings: the one encoding
/// used for bundles, messages and exported store state.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    mutating func append(_ value: UInt8) {
        bytes.append(value)
    }

    mutating func append(_ value: UInt32) {
        bytes.append(contentsOf: [
            UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
            UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value),
        ])
    }

    mutating func append(_ value: Int32) {
        append(UInt32(bitPattern: value))
    }

    /// Appends bytes as they are, for fields whose length the format fixes.
    mutating func appendRaw(_ value: [UInt8]) {
        bytes.append(contentsOf: value)
    }

    /// Appends a 32-bit length, then the bytes.
    mutating func appendPrefixed(_ value: [UInt8]) {
        append(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    /// Appends a UTF-8 string as a length-prefixed byte string.
    mutating func appendPrefixed(_ value: String) {
        appendPrefixed(Array(value.utf8))
    }
}

/// Reads what `ByteWriter` wrote; every read fails with `EncryptionError.malformed` naming
/// `what` rather than trapping on short or trailing input.
struct ByteReader {
    private let bytes: [UInt8]
    private var offset = 0
    private let what: String

    init(_ bytes: [UInt8], what: String) {
        self.bytes = bytes
        self.what = what
    }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func readUInt8() throws(EncryptionError) -> UInt8 {
        try readRaw(count: 1)[0]
    }

    mutating func readUInt32() throws(EncryptionError) -> UInt32 {
        let raw = try readRaw(count: 4)
        return raw.reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func readInt32() throws(EncryptionError) -> Int32 {
        Int32(bitPattern: try readUInt32())
    }

    mutating func readRaw(count: Int) throws(EncryptionError) -> [UInt8] {
        guard count >= 0, bytes.count - offset >= count else {
            throw .malformed("\(what): \(bytes.count) bytes end before the field at offset \(offset)")
        }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func readPrefixed() throws(EncryptionError) -> [UInt8] {
        let count = try readUInt32()
        return try readRaw(count: Int(count))
    }

    mutating func readPrefixedString() throws(EncryptionError) -> String {
        let raw = try readPrefixed()
        guard let value = String(validating: raw, as: UTF8.self) else {
            throw .malformed("\(what): a name is not UTF-8")
        }
        return value
    }

    /// Fails unless every byte was read.
    func expectEnd() throws(EncryptionError) {
        guard isAtEnd else {
            throw .malformed("\(what): \(bytes.count - offset) bytes left over at offset \(offset)")
        }
    }
}

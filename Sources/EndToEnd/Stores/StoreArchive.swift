/// The header of every exported store: a tag naming the store and a format number, so that
/// bytes of one store are never read as another's.
enum StoreArchive: UInt8 {
    case identity = 0x49 // "I"
    case preKeys = 0x50 // "P"
    case signedPreKeys = 0x53 // "S"
    case sessions = 0x52 // "R"

    /// The layout of the fields after the header; a new layout gets a new number.
    static let format: UInt8 = 1

    var name: String {
        switch self {
        case .identity: "identity store"
        case .preKeys: "prekey store"
        case .signedPreKeys: "signed prekey store"
        case .sessions: "session store"
        }
    }

    /// A writer that has written this store's header.
    func writer() -> ByteWriter {
        var writer = ByteWriter()
        writer.append(rawValue)
        writer.append(Self.format)
        return writer
    }

    /// A reader past this store's header; `.malformed` if the bytes are another store's or
    /// another format's.
    func reader(_ bytes: [UInt8]) throws(EncryptionError) -> ByteReader {
        var reader = ByteReader(bytes, what: name)
        guard try reader.readUInt8() == rawValue, try reader.readUInt8() == Self.format else {
            throw .malformed("\(name): not an exported \(name) of format \(Self.format)")
        }
        return reader
    }
}

extension ByteWriter {
    mutating func append(_ peer: PeerAddress) {
        appendPrefixed(peer.name)
        append(peer.deviceID)
    }
}

extension ByteReader {
    mutating func readPeer() throws(EncryptionError) -> PeerAddress {
        let name = try readPrefixedString()
        let deviceID = try readInt32()
        guard !name.isEmpty, !name.utf8.contains(0) else { throw .malformed("a peer name is empty or has a NUL byte") }
        return PeerAddress(name: name, deviceID: deviceID)
    }
}

import Foundation

/// One message in the local history, as the user saw it: decrypted text, sent or received.
public struct HistoryEntry: Sendable, Hashable {
    /// Which way the message went.
    public enum Direction: UInt8, Sendable, Hashable {
        case sent = 0
        case received = 1
    }

    /// The server's message id: how a message delivered twice is recognised.
    public var messageID: String
    /// The other user of the conversation (their canonical lower-case username).
    public var partner: String
    public var direction: Direction
    public var text: String
    public var date: Date

    public init(messageID: String, partner: String, direction: Direction, text: String, date: Date) {
        self.messageID = messageID
        self.partner = partner
        self.direction = direction
        self.text = text
        self.date = date
    }
}

extension HistoryEntry {
    private static let encodingVersion: UInt8 = 1

    /// The entry as a record's plaintext: version 1, direction (u8), the date as the bit
    /// pattern of its `timeIntervalSinceReferenceDate` (u64, so it reads back equal), then
    /// message id, partner and text, each a u32 length and UTF-8.
    var encoded: [UInt8] {
        var writer = ByteWriter()
        writer.append(Self.encodingVersion)
        writer.append(direction.rawValue)
        writer.append(date.timeIntervalSinceReferenceDate.bitPattern)
        writer.appendPrefixed(Array(messageID.utf8))
        writer.appendPrefixed(Array(partner.utf8))
        writer.appendPrefixed(Array(text.utf8))
        return writer.bytes
    }

    /// Reads what `encoded` wrote; nil for anything else.
    init?(decoding bytes: [UInt8]) {
        var reader = ByteReader(bytes)
        guard reader.readByte() == Self.encodingVersion,
              let direction = reader.readByte().flatMap(Direction.init(rawValue:)),
              let date = reader.readUInt64(),
              let messageID = reader.readPrefixed().flatMap({ String(validating: $0, as: UTF8.self) }),
              let partner = reader.readPrefixed().flatMap({ String(validating: $0, as: UTF8.self) }),
              let text = reader.readPrefixed().flatMap({ String(validating: $0, as: UTF8.self) }),
              reader.remaining == 0
        else { return nil }
        self.init(
            messageID: messageID,
            partner: partner,
            direction: direction,
            text: text,
            date: Date(timeIntervalSinceReferenceDate: Double(bitPattern: date))
        )
    }
}

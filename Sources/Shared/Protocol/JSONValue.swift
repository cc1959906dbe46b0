#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A parsed JSON value: the neutral form between frame bytes and typed frames.
///
/// Frames go through this type instead of `Codable` structs so that a decoding failure can name the
/// exact field that was missing or wrong, and echo the request `id` even when another field is bad.
/// Parsing and serialising sit behind `parse(_:)` and `serialize()` so a faster hand-written JSON
/// codec can replace Foundation later without touching the frame types.
enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses one JSON document. The bytes must already be known to be valid UTF-8.
    ///
    /// Foundation's scanner limits nesting depth, so a line of 60 000 `[` fails here instead of
    /// overflowing the stack in the recursive `init(from:)` below.
    static func parse(_ bytes: some Collection<UInt8>) -> JSONValue? {
        try? Self.decoder.decode(JSONValue.self, from: Data(bytes))
    }

    /// Renders compact JSON with sorted keys, so equal values always give equal bytes.
    ///
    /// String escaping guarantees the output never contains a raw newline, which would split a frame.
    func serialize() -> [UInt8] {
        // Encoding a tree of strings, numbers and containers cannot fail; a failure here would be a
        // Foundation bug, and `null` is the least harmful thing to put on the wire.
        guard let data = try? Self.encoder.encode(self) else { return Array("null".utf8) }
        return Array(data)
    }

    // Both are Sendable and configured once here; sharing them saves an allocation per frame.
    private static let decoder = JSONDecoder()
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}

extension JSONValue: Codable {
    /// A coding key for arbitrary object member names.
    private struct MemberKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        if let object = try? decoder.container(keyedBy: MemberKey.self) {
            var members: [String: JSONValue] = [:]
            members.reserveCapacity(object.allKeys.count)
            for key in object.allKeys {
                members[key.stringValue] = try object.decode(JSONValue.self, forKey: key)
            }
            self = .object(members)
            return
        }
        if var array = try? decoder.unkeyedContainer() {
            var elements: [JSONValue] = []
            while !array.isAtEnd {
                elements.append(try array.decode(JSONValue.self))
            }
            self = .array(elements)
            return
        }
        let single = try decoder.singleValueContainer()
        // Order matters: Bool before Int so `true` stays a boolean, Int before Double so `1` and
        // `1.0` are integers (ids), and integers too big for Int fall through to Double.
        if single.decodeNil() {
            self = .null
        } else if let value = try? single.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? single.decode(Int.self) {
            self = .int(value)
        } else if let value = try? single.decode(Double.self) {
            self = .double(value)
        } else {
            self = .string(try single.decode(String.self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var single = encoder.singleValueContainer()
            try single.encodeNil()
        case .bool(let value):
            var single = encoder.singleValueContainer()
            try single.encode(value)
        case .int(let value):
            var single = encoder.singleValueContainer()
            try single.encode(value)
        case .double(let value):
            var single = encoder.singleValueContainer()
            try single.encode(value)
        case .string(let value):
            var single = encoder.singleValueContainer()
            try single.encode(value)
        case .array(let elements):
            var array = encoder.unkeyedContainer()
            for element in elements {
                try array.encode(element)
            }
        case .object(let members):
            var object = encoder.container(keyedBy: MemberKey.self)
            for (key, value) in members {
                try object.encode(value, forKey: MemberKey(stringValue: key))
            }
        }
    }
}

extension JSONValue {
    /// A short name of the value's JSON type, for error messages ("expected integer, got string").
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int, .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

import Foundation
import NIOCore

@testable import Shared

/// The Foundation JSON codec the frames used before the hand-written one, kept in the tests as an
/// oracle: the new parser must read what it read (bar the documented tightenings) and the new
/// writer must produce its exact bytes.
enum FoundationJSONOracle {
    /// What Foundation's `JSONDecoder` made of `bytes`, through the same Codable value rules the
    /// old `JSONValue` had; nil when it refused them.
    static func parse(_ bytes: [UInt8]) -> JSONValue? {
        (try? JSONDecoder().decode(OracleValue.self, from: Data(bytes)))?.value
    }

    /// `value` as `JSONEncoder` wrote it with `.sortedKeys` and `.withoutEscapingSlashes`.
    static func serialize(_ value: JSONValue) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try! encoder.encode(OracleValue(value)))
    }

    /// The tree behind an encoded frame, rebuilt by Foundation from the new encoder's output.
    static func reference(_ encoded: ByteBuffer) -> [UInt8] {
        serialize(parse(Array(encoded.readableBytesView))!)
    }

    private struct OracleValue: Codable {
        var value: JSONValue

        init(_ value: JSONValue) {
            self.value = value
        }

        private struct MemberKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            if let object = try? decoder.container(keyedBy: MemberKey.self) {
                var members: [String: JSONValue] = [:]
                for key in object.allKeys {
                    members[key.stringValue] = try object.decode(OracleValue.self, forKey: key).value
                }
                value = .object(members)
                return
            }
            if var array = try? decoder.unkeyedContainer() {
                var elements: [JSONValue] = []
                while !array.isAtEnd {
                    elements.append(try array.decode(OracleValue.self).value)
                }
                value = .array(elements)
                return
            }
            let single = try decoder.singleValueContainer()
            if single.decodeNil() {
                value = .null
            } else if let bool = try? single.decode(Bool.self) {
                value = .bool(bool)
            } else if let int = try? single.decode(Int.self) {
                value = .int(int)
            } else if let double = try? single.decode(Double.self) {
                value = .double(double)
            } else {
                value = .string(try single.decode(String.self))
            }
        }

        func encode(to encoder: any Encoder) throws {
            switch value {
            case .null:
                var single = encoder.singleValueContainer()
                try single.encodeNil()
            case .bool(let bool):
                var single = encoder.singleValueContainer()
                try single.encode(bool)
            case .int(let int):
                var single = encoder.singleValueContainer()
                try single.encode(int)
            case .double(let double):
                var single = encoder.singleValueContainer()
                try single.encode(double)
            case .string(let string):
                var single = encoder.singleValueContainer()
                try single.encode(string)
            case .array(let elements):
                var array = encoder.unkeyedContainer()
                for element in elements { try array.encode(OracleValue(element)) }
            case .object(let members):
                var object = encoder.container(keyedBy: MemberKey.self)
                for (key, member) in members {
                    try object.encode(OracleValue(member), forKey: MemberKey(stringValue: key))
                }
            }
        }
    }
}

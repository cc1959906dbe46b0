/// A parsed JSON value: the neutral form between frame bytes and typed frames.
///
/// Frames go through this type instead of `Codable` structs so that a decoding failure can name the
/// exact field that was missing or wrong, and echo the request `id` even when another field is bad.
/// Parsing is `JSONParser`'s job (hand-written, no Foundation); outgoing frames are written straight
/// to bytes by `FrameWriter` and never pass through this type.
enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    /// A number with an integral value that fits `Int` (`1`, `1.0`, `1e2`, `-0`).
    case int(Int)
    /// Any other finite number (`1.5`, `1e300`, integers beyond `Int`).
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

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

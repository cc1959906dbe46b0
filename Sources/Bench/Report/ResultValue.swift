/// One value of a scenario's JSON line.
enum ResultValue: Sendable {
    case int(Int)
    case number(Double, digits: Int)
    case string(String)
    case bool(Bool)
    case null

    /// The value as JSON.
    var json: String {
        switch self {
        case .int(let value):
            return String(value)
        case .number(let value, let digits):
            guard value.isFinite else { return "null" }
            return Format.decimal(value, digits: digits)
        case .string(let text):
            return Self.quoted(text)
        case .bool(let value):
            return value ? "true" : "false"
        case .null:
            return "null"
        }
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let other where other.value < 0x20:
                let hex = String(other.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

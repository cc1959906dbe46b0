/// Builds the JSON object of an outgoing frame; absent optional fields are left out, not sent as null.
struct FrameBuilder {
    private var members: [String: JSONValue]

    /// Starts a frame of the given `type`.
    init(type: String) {
        self.members = ["type": .string(type)]
    }

    /// Sets an integer field; nil leaves it out.
    mutating func set(_ name: String, _ value: Int?) {
        if let value { self.members[name] = .int(value) }
    }

    /// Sets a string field; nil leaves it out.
    mutating func set(_ name: String, _ value: String?) {
        if let value { self.members[name] = .string(value) }
    }

    /// Sets a boolean field; nil leaves it out.
    mutating func set(_ name: String, _ value: Bool?) {
        if let value { self.members[name] = .bool(value) }
    }

    /// Sets an object of integers (e.g. message counts per sender).
    mutating func set(_ name: String, _ value: [String: Int]) {
        self.members[name] = .object(value.mapValues { .int($0) })
    }

    /// Sets an array of objects of strings (e.g. the `who` list).
    mutating func set(_ name: String, _ value: [[String: String]]) {
        self.members[name] = .array(value.map { .object($0.mapValues { .string($0) }) })
    }

    /// The compact, key-sorted JSON bytes, without the newline the line encoder adds.
    func serialize() -> [UInt8] {
        JSONValue.object(self.members).serialize()
    }
}

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

    /// The compact, key-sorted JSON bytes, without the newline the line encoder adds.
    func serialize() -> [UInt8] {
        JSONValue.object(self.members).serialize()
    }
}

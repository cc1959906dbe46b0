/// One received line, checked to be a UTF-8 JSON object with a string `type`, whose other fields
/// are read on demand with the error the peer should get when one is missing or wrong.
///
/// Shared by `ClientFrame` and `ServerFrame` decoding so both sides report bad input the same way.
struct FrameFields {
    /// The object's members.
    let members: [String: JSONValue]
    /// The frame's `type`.
    let type: String
    /// The request `id` if present and an integer; read before anything can fail so that every
    /// later error can echo it.
    let id: Int?
    /// Where these members sit in the frame, for error messages: empty at the top level,
    /// `signed_prekey.` or `prekeys[3].` inside a nested object.
    var path = ""

    /// Runs the checks common to every frame, in order: UTF-8, JSON, object, `type`.
    static func parse(_ bytes: some Collection<UInt8>) -> Result<FrameFields, ProtocolError> {
        if let result = bytes.withContiguousStorageIfAvailable({ Self.parse(buffer: $0) }) {
            return result
        }
        return Array(bytes).withUnsafeBufferPointer { Self.parse(buffer: $0) }
    }

    private static func parse(buffer bytes: UnsafeBufferPointer<UInt8>) -> Result<FrameFields, ProtocolError> {
        // One pass: the parser validates UTF-8 inside strings, and outside them accepts only
        // ASCII, so a parsed frame is valid UTF-8. Only when parsing fails is the whole line
        // checked, so the peer learns the real problem (invalid_utf8), not a vague invalid_json,
        // exactly as when UTF-8 was checked first.
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            return .failure(ProtocolError(JSONParser.isValidUTF8(bytes) ? .invalidJSON : .invalidUTF8))
        }
        guard case .object(let members) = value else {
            return .failure(ProtocolError(.invalidJSON, message: "frame must be a JSON object, got \(value.typeName)"))
        }
        let id: Int? =
            if case .int(let id) = members["id"] { id } else { nil }
        switch members["type"] {
        case .string(let type):
            return .success(FrameFields(members: members, type: type, id: id))
        case nil, .null:
            return .failure(.missingField("type", id: id))
        case .some:
            return .failure(.invalidField("type", expected: "a string", id: id))
        }
    }

    /// The request `id`, which every request except `hello` must carry.
    func requiredID() throws(ProtocolError) -> Int {
        try self.int("id")
    }

    /// A required integer field. JSON `null` counts as absent.
    func int(_ name: String) throws(ProtocolError) -> Int {
        guard let value = try self.optionalInt(name) else {
            throw .missingField(path + name, id: self.id)
        }
        return value
    }

    /// A required string field. JSON `null` counts as absent.
    func string(_ name: String) throws(ProtocolError) -> String {
        guard let value = try self.optionalString(name) else {
            throw .missingField(path + name, id: self.id)
        }
        return value
    }

    /// An optional integer field: nil when absent or `null`, an error when of another type.
    func optionalInt(_ name: String) throws(ProtocolError) -> Int? {
        switch self.members[name] {
        case nil, .null: return nil
        case .int(let value): return value
        case .some: throw .invalidField(path + name, expected: "an integer", id: self.id)
        }
    }

    /// An optional boolean field: nil when absent or `null`.
    func optionalBool(_ name: String) throws(ProtocolError) -> Bool? {
        switch self.members[name] {
        case nil, .null: return nil
        case .bool(let value): return value
        case .some: throw .invalidField(path + name, expected: "true or false", id: self.id)
        }
    }

    /// A required object whose values are all integers.
    func intObject(_ name: String) throws(ProtocolError) -> [String: Int] {
        guard case .object(let members) = self.members[name] else {
            throw self.members[name] == nil ? .missingField(path + name, id: self.id)
                : .invalidField(path + name, expected: "an object of integers", id: self.id)
        }
        var result: [String: Int] = [:]
        for (key, value) in members {
            guard case .int(let number) = value else {
                throw .invalidField(path + name, expected: "an object of integers", id: self.id)
            }
            result[key] = number
        }
        return result
    }

    /// A required array of objects whose values are all strings.
    func stringObjects(_ name: String) throws(ProtocolError) -> [[String: String]] {
        guard case .array(let items) = self.members[name] else {
            throw self.members[name] == nil ? .missingField(path + name, id: self.id)
                : .invalidField(path + name, expected: "an array of objects", id: self.id)
        }
        var result: [[String: String]] = []
        for item in items {
            guard case .object(let members) = item else {
                throw .invalidField(path + name, expected: "an array of objects", id: self.id)
            }
            var entry: [String: String] = [:]
            for (key, value) in members {
                if case .string(let text) = value { entry[key] = text }
            }
            result.append(entry)
        }
        return result
    }

    /// A required array of strings.
    func strings(_ name: String) throws(ProtocolError) -> [String] {
        guard case .array(let items) = self.members[name] else {
            throw self.members[name] == nil ? .missingField(path + name, id: self.id)
                : .invalidField(path + name, expected: "an array of strings", id: self.id)
        }
        var result: [String] = []
        result.reserveCapacity(items.count)
        for item in items {
            guard case .string(let text) = item else {
                throw .invalidField(path + name, expected: "an array of strings", id: self.id)
            }
            result.append(text)
        }
        return result
    }

    /// An optional string field: nil when absent or `null`, an error when of another type.
    func optionalString(_ name: String) throws(ProtocolError) -> String? {
        switch self.members[name] {
        case nil, .null: return nil
        case .string(let value): return value
        case .some: throw .invalidField(path + name, expected: "a string", id: self.id)
        }
    }

    // MARK: - Nested objects

    /// A required nested object, its members read with errors that name their place
    /// (`signed_prekey.signature`).
    func object(_ name: String) throws(ProtocolError) -> FrameFields {
        guard let object = try self.optionalObject(name) else {
            throw .missingField(path + name, id: self.id)
        }
        return object
    }

    /// An optional nested object: nil when absent or `null`.
    func optionalObject(_ name: String) throws(ProtocolError) -> FrameFields? {
        switch self.members[name] {
        case nil, .null: return nil
        case .object(let members): return FrameFields(members: members, type: type, id: id, path: path + name + ".")
        case .some: throw .invalidField(path + name, expected: "an object", id: self.id)
        }
    }

    /// A required array of objects (`prekeys[3].id` in errors), refused past `maximumCount`
    /// before any of them is read.
    func objects(_ name: String, maximumCount: Int) throws(ProtocolError) -> [FrameFields] {
        guard case .array(let items) = self.members[name] else {
            throw self.members[name] == nil ? .missingField(path + name, id: self.id)
                : .invalidField(path + name, expected: "an array of objects", id: self.id)
        }
        guard items.count <= maximumCount else {
            throw .invalidField(path + name, expected: "at most \(maximumCount) entries, got \(items.count)", id: self.id)
        }
        var result: [FrameFields] = []
        result.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            guard case .object(let members) = item else {
                throw .invalidField(path + name, expected: "an array of objects", id: self.id)
            }
            result.append(FrameFields(members: members, type: type, id: id, path: path + name + "[\(index)]."))
        }
        return result
    }

    // MARK: - Checked values

    /// A required integer within `range`.
    func int(_ name: String, in range: ClosedRange<Int>) throws(ProtocolError) -> Int {
        let value = try self.int(name)
        guard range.contains(value) else {
            throw .invalidField(
                path + name, expected: "an integer from \(range.lowerBound) to \(range.upperBound)", id: self.id)
        }
        return value
    }

    /// A required string of standard base64 (padded) spelling exactly `length` bytes.
    func base64(_ name: String, length: Int) throws(ProtocolError) -> [UInt8] {
        guard let bytes = Base64.decode(try self.string(name)), bytes.count == length else {
            throw .invalidField(path + name, expected: "\(length) bytes in standard base64", id: self.id)
        }
        return bytes
    }
}

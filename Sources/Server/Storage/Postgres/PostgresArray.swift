/// PostgreSQL array literals (`{"a","b"}`), to send a whole batch of values as one
/// parameter (`unnest($1::text[])`): one statement for a batch, whatever its size, with the
/// values still apart from the SQL text.
enum PostgresArray {
    /// A `text[]` literal: every element quoted, `"` and `\` escaped, so any text
    /// (commas, braces, quotes, the word NULL) comes back unchanged.
    static func literal(_ values: some Sequence<String>) -> String {
        var literal = "{"
        var first = true
        for value in values {
            if !first {
                literal.append(",")
            }
            first = false
            literal.append("\"")
            for character in value.unicodeScalars {
                if character == "\"" || character == "\\" {
                    literal.append("\\")
                }
                literal.unicodeScalars.append(character)
            }
            literal.append("\"")
        }
        literal.append("}")
        return literal
    }

    /// A `bigint[]` or `integer[]` literal.
    static func literal<Number: BinaryInteger>(_ values: some Sequence<Number>) -> String {
        "{" + values.map { String($0) }.joined(separator: ",") + "}"
    }
}

internal import CPostgreSQL

/// A PostgreSQL database to keep the server's data in: a libpq URL
/// (`postgres://USER@HOST/DB`, `postgresql://...`) or keyword string
/// (`host=/run/postgresql dbname=chat`), checked by libpq's own parser when it is read.
///
/// Its `description` never shows a password: the location is logged at start-up and
/// printed in errors, and a password belongs in the environment (`CHAT_STORE`) or in
/// `~/.pgpass`, never in a log.
struct PostgresLocation: Sendable, Hashable, CustomStringConvertible {
    /// What libpq connects with, password included. Never log it.
    let connectionString: String

    /// The connection string with any password replaced by `***`.
    let description: String

    /// Reads `text`, a URL or a keyword string.
    ///
    /// - Throws: a sentence naming what libpq found wrong (passwords redacted).
    init(parsing text: String) throws(StorageLocation.ParseError) {
        var message: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(text, &message) else {
            let reason = message.map { String(cString: $0) } ?? "out of memory"
            if let message { PQfreemem(message) }
            let oneLine = reason.split(whereSeparator: \.isNewline).joined(separator: " ")
            throw StorageLocation.ParseError(
                description: "'\(Self.redact(text))' is not a PostgreSQL connection string: \(oneLine)")
        }
        defer { PQconninfoFree(options) }
        var hasPassword = false
        var index = 0
        while let keyword = options[index].keyword {
            if String(cString: keyword) == "password", options[index].val != nil {
                hasPassword = true
            }
            index += 1
        }
        connectionString = text
        description = hasPassword ? Self.redact(text) : text
    }

    /// `text` with the password taken out: the `user:password@` of a URL, a `password=`
    /// query parameter, or a `password=` keyword (quoted or not).
    static func redact(_ text: String) -> String {
        if let scheme = text.range(of: "://") {
            var result = String(text[..<scheme.upperBound])
            let rest = text[scheme.upperBound...]
            let authorityEnd = rest.firstIndex(where: { "/?#".contains($0) }) ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                result += authority[..<colon] + ":***" + authority[at...]
            } else {
                result += authority
            }
            let tail = rest[authorityEnd...]
            guard let question = tail.firstIndex(of: "?") else {
                return result + tail
            }
            result += tail[...question]
            let parameters = tail[tail.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false)
            result += parameters.map { $0.hasPrefix("password=") ? "password=***" : String($0) }.joined(separator: "&")
            return result
        }
        return redactKeywords(text)
    }

    /// A keyword string with every `password` value replaced, following libpq's quoting
    /// (single quotes, backslash escapes).
    private static func redactKeywords(_ text: String) -> String {
        let characters = Array(text)
        var result = ""
        var index = 0
        while index < characters.count {
            // Whitespace between pairs.
            while index < characters.count, characters[index].isWhitespace {
                result.append(characters[index])
                index += 1
            }
            var keyword = ""
            while index < characters.count, characters[index] != "=", !characters[index].isWhitespace {
                keyword.append(characters[index])
                index += 1
            }
            result += keyword
            while index < characters.count, characters[index].isWhitespace {
                result.append(characters[index])
                index += 1
            }
            guard index < characters.count, characters[index] == "=" else {
                continue
            }
            result.append("=")
            index += 1
            while index < characters.count, characters[index].isWhitespace {
                result.append(characters[index])
                index += 1
            }
            var value = ""
            if index < characters.count, characters[index] == "'" {
                value.append("'")
                index += 1
                while index < characters.count, characters[index] != "'" {
                    if characters[index] == "\\", index + 1 < characters.count {
                        value.append(characters[index])
                        index += 1
                    }
                    value.append(characters[index])
                    index += 1
                }
                if index < characters.count {
                    value.append("'")
                    index += 1
                }
            } else {
                while index < characters.count, !characters[index].isWhitespace {
                    if characters[index] == "\\", index + 1 < characters.count {
                        value.append(characters[index])
                        index += 1
                    }
                    value.append(characters[index])
                    index += 1
                }
            }
            result += keyword == "password" ? "***" : value
        }
        return result
    }
}

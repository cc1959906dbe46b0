import Foundation

/// The admin socket's line protocol (docs/ADMIN.md), without I/O: a request is one line, a
/// reply is zero or more data lines and one final line (`ok ...` or `error CODE ...`).
///
/// Data lines are a tag and `key=value` fields separated by single spaces; a value has its
/// spaces, percent signs and control characters percent-encoded, so a field never breaks a
/// line or another field. A reader ignores keys it does not know, so a later server can add
/// fields.
enum AdminLineCodec {
    /// Longest request line the server reads: a command and a username are far shorter.
    static let maximumRequestLength = 512

    /// Why lines could not be read; the description is a sentence for the operator.
    struct DecodingError: Error, Equatable, CustomStringConvertible {
        let description: String
    }

    // MARK: - Requests

    /// `lock alice`, `users`.
    static func encode(_ request: AdminRequest) -> String {
        [request.command, request.username].compactMap { $0 }.joined(separator: " ")
    }

    /// The request on `line`.
    ///
    /// - Throws: `AdminFailure` (`invalid_request`) naming what is wrong.
    static func decodeRequest(_ line: String) throws(AdminFailure) -> AdminRequest {
        let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let command = words.first, words.count <= 2,
            let request = AdminRequest(command: command, username: words.count == 2 ? words[1] : nil)
        else {
            throw AdminFailure(
                code: .invalidRequest,
                message: "not a request: '\(line)'; expected users, stats, or lock, unlock, delete or reset-password and a username")
        }
        return request
    }

    // MARK: - Replies

    /// The lines of `reply`, the final one last.
    static func encode(_ reply: AdminReply) -> [String] {
        switch reply {
        case .users(let users):
            return users.map(userLine) + ["ok"]
        case .statistics(let statistics):
            return [statisticsLine(statistics), "ok"]
        case .done(let text):
            return ["ok \(escapeText(text))"]
        case .oneTimePassword(let username, let password, let session):
            return ["password \(fields([("user", username), ("password", password)]))", session.map { "ok \(escapeText($0))" } ?? "ok"]
        case .failed(let failure):
            return ["error \(failure.code.rawValue) \(escapeText(failure.message))"]
        }
    }

    /// Whether `line` ends a reply.
    static func isFinal(_ line: String) -> Bool {
        line == "ok" || line.hasPrefix("ok ") || line.hasPrefix("error ")
    }

    /// The reply to `request` that `lines` carry (the final line last; a reply cut short
    /// is an error).
    ///
    /// - Throws: `DecodingError` for lines out of shape.
    static func decodeReply(_ lines: [String], to request: AdminRequest) throws(DecodingError) -> AdminReply {
        guard let final = lines.last, isFinal(final) else {
            throw DecodingError(description: "the server's reply ended before its last line")
        }
        if final.hasPrefix("error ") {
            let rest = final.dropFirst("error ".count)
            let code = rest.prefix { $0 != " " }
            let message = rest.dropFirst(code.count).drop { $0 == " " }
            let known = AdminFailure.Code(rawValue: String(code))
            return .failed(
                AdminFailure(code: known ?? .storage, message: unescapeText(String(message))))
        }
        let data = lines.dropLast()
        switch request {
        case .users:
            return .users(try data.map { line throws(DecodingError) in try user(from: line) })
        case .stats:
            guard let line = data.first(where: { $0.hasPrefix("stats ") }) else {
                throw DecodingError(description: "the server's reply to stats has no stats line")
            }
            return .statistics(try statistics(from: line))
        case .resetPassword:
            guard let line = data.first(where: { $0.hasPrefix("password ") }) else {
                throw DecodingError(description: "the server's reply to reset-password has no password line")
            }
            let values = try parseFields(line, tag: "password")
            return .oneTimePassword(
                username: try required("user", in: values), password: try required("password", in: values),
                session: final == "ok" ? nil : unescapeText(String(final.dropFirst("ok ".count))))
        case .lock, .unlock, .delete:
            return .done(final == "ok" ? "" : unescapeText(String(final.dropFirst("ok ".count))))
        }
    }

    // MARK: - Data lines

    private static func userLine(_ user: UserSummary) -> String {
        "user "
            + fields([
                ("name", user.username),
                ("created", timestamp(user.createdAt)),
                ("last_login", user.lastLoginAt.map(timestamp) ?? "-"),
                ("inbox_messages", String(user.inbox.messages)),
                ("inbox_bytes", String(user.inbox.bytes)),
                ("locked", user.isLocked ? "yes" : "no"),
                ("must_change_password", user.mustChangePassword ? "yes" : "no"),
            ])
    }

    private static func user(from line: String) throws(DecodingError) -> UserSummary {
        let values = try parseFields(line, tag: "user")
        let lastLogin = try required("last_login", in: values)
        return UserSummary(
            username: try required("name", in: values),
            createdAt: try date(required("created", in: values)),
            lastLoginAt: lastLogin == "-" ? nil : try date(lastLogin),
            inbox: InboxUsage(
                messages: try integer(required("inbox_messages", in: values)),
                bytes: try integer(required("inbox_bytes", in: values))),
            isLocked: try flag(required("locked", in: values)),
            mustChangePassword: try flag(required("must_change_password", in: values)))
    }

    private static func statisticsLine(_ statistics: ServerStatistics) -> String {
        "stats "
            + fields([
                ("sessions", String(statistics.sessions)),
                ("accounts", String(statistics.accounts)),
                ("locked", String(statistics.lockedAccounts)),
                ("inboxes", String(statistics.inboxes)),
                ("inbox_messages", String(statistics.inbox.messages)),
                ("inbox_bytes", String(statistics.inbox.bytes)),
                ("file_recipients", String(statistics.fileRecipients)),
                ("file_bytes", String(statistics.fileBytes)),
                ("store", statistics.store),
                ("store_bytes", String(statistics.storeBytes)),
            ])
    }

    private static func statistics(from line: String) throws(DecodingError) -> ServerStatistics {
        let values = try parseFields(line, tag: "stats")
        return ServerStatistics(
            sessions: try integer(required("sessions", in: values)),
            accounts: try integer(required("accounts", in: values)),
            lockedAccounts: try integer(required("locked", in: values)),
            inboxes: try integer(required("inboxes", in: values)),
            inbox: InboxUsage(
                messages: try integer(required("inbox_messages", in: values)),
                bytes: try integer(required("inbox_bytes", in: values))),
            fileRecipients: try integer(required("file_recipients", in: values)),
            fileBytes: try integer(required("file_bytes", in: values)),
            store: try required("store", in: values),
            storeBytes: Int64(try integer(required("store_bytes", in: values))))
    }

    // MARK: - Fields

    private static func fields(_ pairs: [(String, String)]) -> String {
        pairs.map { "\($0.0)=\(escape($0.1))" }.joined(separator: " ")
    }

    /// The fields of a data line tagged `tag`, by key, unescaped.
    private static func parseFields(_ line: String, tag: String) throws(DecodingError) -> [String: String] {
        var words = line.split(separator: " ", omittingEmptySubsequences: false)
        guard words.first.map(String.init) == tag else {
            throw DecodingError(description: "expected a '\(tag)' line, got '\(escape(line))'")
        }
        words.removeFirst()
        var values: [String: String] = [:]
        for word in words {
            guard let equals = word.firstIndex(of: "="), equals != word.startIndex else {
                throw DecodingError(description: "'\(escape(String(word)))' in a '\(tag)' line is not key=value")
            }
            values[String(word[..<equals])] = unescape(String(word[word.index(after: equals)...]))
        }
        return values
    }

    private static func required(_ key: String, in values: [String: String]) throws(DecodingError) -> String {
        guard let value = values[key] else {
            throw DecodingError(description: "the server's reply has no '\(key)'")
        }
        return value
    }

    private static func integer(_ text: String) throws(DecodingError) -> Int {
        guard let value = Int(text), value >= 0 else {
            throw DecodingError(description: "'\(escape(text))' is not a count")
        }
        return value
    }

    private static func flag(_ text: String) throws(DecodingError) -> Bool {
        switch text {
        case "yes": return true
        case "no": return false
        default: throw DecodingError(description: "'\(escape(text))' is not yes or no")
        }
    }

    /// ISO 8601 in UTC to the second, as the account records keep dates.
    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    private static func date(_ text: String) throws(DecodingError) -> Date {
        do {
            return try Date(text, strategy: .iso8601)
        } catch {
            throw DecodingError(description: "'\(escape(text))' is not an ISO 8601 time")
        }
    }

    // MARK: - Escaping

    /// `text` with `%`, spaces and control characters percent-encoded (UTF-8 bytes).
    static func escape(_ text: String) -> String {
        var escaped: [UInt8] = []
        escaped.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if byte == UInt8(ascii: "%") || byte == UInt8(ascii: " ") || byte < 0x20 || byte == 0x7F {
                escaped.append(contentsOf: Array(String(format: "%%%02X", byte).utf8))
            } else {
                escaped.append(byte)
            }
        }
        return String(decoding: escaped, as: UTF8.self)
    }

    /// Undoes `escape`; a `%` not followed by two hex digits stays as it is.
    static func unescape(_ text: String) -> String {
        guard text.contains("%") else { return text }
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
                let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Free text at the end of a final line: only line breaks and other controls, and `%`,
    /// are encoded, so it stays readable.
    private static func escapeText(_ text: String) -> String {
        escape(text).replacingOccurrences(of: "%20", with: " ")
    }

    private static func unescapeText(_ text: String) -> String {
        unescape(text)
    }
}

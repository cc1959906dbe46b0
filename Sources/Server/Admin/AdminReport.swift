import Foundation

/// How `chat-server admin` shows a reply on the terminal.
enum AdminReport {
    /// Where a request was carried out, which `stats` mentions.
    enum Origin: Sendable {
        /// By a running server, through its admin socket.
        case server
        /// On a GDBM data directory no server runs on.
        case stoppedStore
        /// On a database servers may share, opened by the command itself.
        case sharedDatabase
    }

    /// The text for `reply` (not a failure: those go to standard error).
    static func render(_ reply: AdminReply, origin: Origin) -> String {
        switch reply {
        case .users(let users):
            return table(users)
        case .statistics(let statistics):
            return summary(statistics, origin: origin)
        case .done(let text):
            return sentence(text)
        case .oneTimePassword(let username, let password, let session):
            return """
                One-time password for \(username): \(password)
                Give it to \(username) privately: it logs in once, and chat-client then asks for a new password.
                """ + (session.map { "\n" + sentence($0) } ?? "")
        case .failed(let failure):
            return failure.message
        }
    }

    /// One row per account, columns aligned.
    static func table(_ users: [UserSummary]) -> String {
        guard !users.isEmpty else { return "No accounts." }
        let header = ["USER", "CREATED (UTC)", "LAST LOGIN (UTC)", "MESSAGES", "BYTES", "LOCKED", "MUST CHANGE PASSWORD"]
        let rows = users.map { user in
            [
                user.username,
                time(user.createdAt),
                user.lastLoginAt.map(time) ?? "never",
                String(user.inbox.messages),
                String(user.inbox.bytes),
                user.isLocked ? "yes" : "no",
                user.mustChangePassword ? "yes" : "no",
            ]
        }
        // Counts right-aligned, the rest left-aligned.
        let numeric: Set<Int> = [3, 4]
        let widths = header.indices.map { column in
            ([header] + rows).map { $0[column].count }.max() ?? 0
        }
        return ([header] + rows).map { row in
            row.indices.map { column in
                let padding = String(repeating: " ", count: widths[column] - row[column].count)
                return numeric.contains(column) ? padding + row[column] : row[column] + padding
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }

    /// `text` as a sentence: capitalised, with a full stop.
    private static func sentence(_ text: String) -> String {
        text.prefix(1).uppercased() + text.dropFirst() + "."
    }

    private static func summary(_ statistics: ServerStatistics, origin: Origin) -> String {
        let sessions =
            switch origin {
            case .server: "\(statistics.sessions)"
            case .stoppedStore: "\(statistics.sessions) (the server is not running)"
            case .sharedDatabase: "\(statistics.sessions) (on every server using the database)"
            }
        let inbox = statistics.inbox
        let messages = inbox.messages == 1 ? "1 message" : "\(inbox.messages) messages"
        let users = statistics.inboxes == 1 ? "1 user" : "\(statistics.inboxes) users"
        let fileUsers = statistics.fileRecipients == 1 ? "1 user" : "\(statistics.fileRecipients) users"
        return """
            sessions online  \(sessions)
            accounts         \(statistics.accounts) (\(statistics.lockedAccounts) locked)
            inboxes          \(messages), \(bytes(Int64(inbox.bytes))), waiting for \(users)
            files            \(bytes(Int64(statistics.fileBytes))) held for \(fileUsers)
            store            \(statistics.store): \(bytes(statistics.storeBytes)) on disk
            """
    }

    /// "2026-12-07 10:14:51".
    private static func time(_ date: Date) -> String {
        AdminLineCodec.timestamp(date).replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "")
    }

    /// "512 bytes", "3.4 KiB", "12.0 MiB".
    static func bytes(_ count: Int64) -> String {
        if count < 1024 { return count == 1 ? "1 byte" : "\(count) bytes" }
        let units = ["KiB", "MiB", "GiB", "TiB"]
        var value = Double(count) / 1024
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return String(format: "%.1f %@", value, units[unit])
    }
}

import Foundation

/// One chat message as the server keeps it: in a recipient's inbox, or in flight to them.
struct StoredMessage: Codable, Sendable, Hashable, CustomStringConvertible {
    /// Server-assigned unique id (a UUID string); clients drop duplicates by it.
    let id: String
    /// Sender's normalised username.
    let from: String
    /// Recipient's normalised username.
    let to: String
    /// The text, UTF-8.
    let body: String
    /// When the server accepted it, in whole milliseconds since 1970.
    let sentAtMilliseconds: Int64

    /// Bytes this message counts against the recipient's inbox size cap.
    var storageSize: Int { body.utf8.count + from.utf8.count + id.utf8.count }

    var sentAt: Date { Date(timeIntervalSince1970: Double(sentAtMilliseconds) / 1000) }

    /// Without the body: message text must never reach a log by accident.
    var description: String {
        "StoredMessage(id: \(id), from: \(from), to: \(to), body: <\(body.utf8.count) bytes>, sentAt: \(sentAtMilliseconds))"
    }
}

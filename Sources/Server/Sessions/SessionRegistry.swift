import NIOConcurrencyHelpers
import NIOCore

/// Who is logged in, on which connection. One entry per user: a second login takes the
/// name over and the registry hands back the connection it displaced.
final class SessionRegistry: Sendable {
    private struct Entry {
        let sessionID: UInt64
        let channel: Channel
    }

    private let entries = NIOLockedValueBox<[String: Entry]>([:])

    /// Records `sessionID` as `username`'s session and returns the channel of the session
    /// it replaces, if any (the caller tells that one it was displaced).
    func claim(username: String, sessionID: UInt64, channel: Channel) -> Channel? {
        entries.withLockedValue { entries in
            let previous = entries[username]
            entries[username] = Entry(sessionID: sessionID, channel: channel)
            return previous?.sessionID == sessionID ? nil : previous?.channel
        }
    }

    /// Forgets `username` if `sessionID` still holds the name (a displaced session must not
    /// log out its successor).
    func release(username: String, sessionID: UInt64) {
        entries.withLockedValue { entries in
            if entries[username]?.sessionID == sessionID {
                entries.removeValue(forKey: username)
            }
        }
    }

    /// Whether `username` is logged in right now.
    func isOnline(_ username: String) -> Bool {
        entries.withLockedValue { $0[username] != nil }
    }
}

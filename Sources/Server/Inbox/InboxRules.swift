import Foundation

/// Limits of one user's inbox.
struct InboxLimits: Sendable, Equatable {
    /// Most messages one inbox holds.
    var maximumMessages = 1_000
    /// Most bytes (sum of `StoredMessage.storageSize`) one inbox holds.
    var maximumBytes = 1 << 20
}

/// What one inbox holds, as far as its caps are concerned.
struct InboxUsage: Sendable, Equatable {
    /// How many messages wait in it.
    var messages = 0
    /// Sum of their `StoredMessage.storageSize`.
    var bytes = 0
}

/// The rules of an offline inbox, whatever backend stores it: caps, order, duplicates and
/// expiry. Every `InboxStore` follows them, and the decisions are made here, once, so no
/// backend can drift from the others.
///
/// - Caps: a backend works out the inbox's current usage and asks `refusal(adding:to:of:limits:)`
///   inside its own critical section (the lock, the writer thread or the transaction that
///   also adds the message), so two concurrent appends cannot both take the last place.
/// - Order: an inbox hands its messages back in the order they were appended, across all
///   senders; the time a message was sent plays no part. An append's place is taken when
///   the call starts (see `InboxStore`).
/// - Duplicates: ids are unique, so an id already in the inbox is the same message again:
///   it is not stored twice, and the answer is "stored".
/// - Expiry: judged by the time each message was sent alone, wherever it is in the order
///   (`isExpired(sentAtMilliseconds:before:)`).
enum InboxRules {
    /// Why a message of `size` bytes (`StoredMessage.storageSize`) may not join
    /// `recipient`'s inbox, which holds `usage`, under `limits`; nil if it fits.
    ///
    /// Full means the inbox already holds `maximumMessages`, or the message would take it
    /// past `maximumBytes` (exactly at the cap still fits). The reason is fit to show the
    /// sender, e.g. "bob's inbox is full (1000 messages)".
    static func refusal(adding size: Int, to usage: InboxUsage, of recipient: String, limits: InboxLimits) -> String? {
        if usage.messages >= limits.maximumMessages {
            let unit = limits.maximumMessages == 1 ? "message" : "messages"
            return "\(recipient)'s inbox is full (\(limits.maximumMessages) \(unit))"
        }
        if usage.bytes + size > limits.maximumBytes {
            return "\(recipient)'s inbox is full (\(describe(bytes: limits.maximumBytes)))"
        }
        return nil
    }

    /// Whether a message sent at `sentAtMilliseconds` is expired at `cutoff`: sent before it.
    static func isExpired(sentAtMilliseconds: Int64, before cutoff: Date) -> Bool {
        sentAtMilliseconds < expiryThreshold(before: cutoff)
    }

    /// The first whole millisecond that is not expired at `cutoff`, for backends that
    /// select expired messages themselves (`sentAtMilliseconds < threshold`).
    ///
    /// Rounded up: a message sent at m ms is before a cutoff c exactly when m < ceil(c), so
    /// a cutoff between two milliseconds neither keeps nor drops a message it should not.
    static func expiryThreshold(before cutoff: Date) -> Int64 {
        let milliseconds = (cutoff.timeIntervalSince1970 * 1000).rounded(.up)
        // Clamped: a Double past Int64's range would trap the conversion.
        if milliseconds >= 0x1p63 {
            return .max
        }
        if milliseconds < -0x1p63 {
            return .min
        }
        return Int64(milliseconds)
    }

    /// "1 MiB", "64 KiB" or "1000 bytes".
    static func describe(bytes: Int) -> String {
        if bytes > 0 && bytes % (1 << 20) == 0 {
            return "\(bytes >> 20) MiB"
        }
        if bytes > 0 && bytes % (1 << 10) == 0 {
            return "\(bytes >> 10) KiB"
        }
        return bytes == 1 ? "1 byte" : "\(bytes) bytes"
    }
}

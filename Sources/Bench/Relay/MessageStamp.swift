/// Message bodies that carry their own send time, so the receiving connection (in this
/// same process, on the same monotonic clock) can compute the latency without any state
/// shared with the sender.
///
/// Layout: 20 decimal digits of the send time in nanoseconds, then "." padding up to the
/// requested size. Plain ASCII, so the byte size is the character count.
enum MessageStamp {
    /// The smallest body that holds a stamp (the 20 digits, plus a little padding).
    static let minimumSize = 24

    private static let digits = 20

    /// A body of exactly `size` bytes (at least `minimumSize`) stamped with `sentAt`.
    static func body(sentAt: UInt64, size: Int) -> String {
        var bytes = [UInt8](repeating: UInt8(ascii: "."), count: max(size, minimumSize))
        var value = sentAt
        var index = digits - 1
        while index >= 0 {
            bytes[index] = UInt8(ascii: "0") + UInt8(value % 10)
            value /= 10
            index -= 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The send time stamped in `body`, or nil if it carries none.
    static func sentAt(_ body: String) -> UInt64? {
        var value: UInt64 = 0
        var count = 0
        for byte in body.utf8.prefix(digits) {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value &* 10 &+ UInt64(byte - UInt8(ascii: "0"))
            count += 1
        }
        return count == digits ? value : nil
    }
}

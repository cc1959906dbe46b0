import Foundation
import Testing

@testable import Server

/// The inbox's rules on their own; `InboxStoreTests` checks every backend applies them.
@Suite("InboxRules")
struct InboxRulesTests {
    @Test("the default limits' reasons: 1000 messages and 1 MiB")
    func defaultReasons() {
        let limits = InboxLimits()
        #expect(
            InboxRules.refusal(adding: 1, to: InboxUsage(messages: 1_000, bytes: 1_000), of: "bob", limits: limits)
                == "bob's inbox is full (1000 messages)")
        #expect(
            InboxRules.refusal(adding: 1, to: InboxUsage(messages: 1, bytes: 1 << 20), of: "bob", limits: limits)
                == "bob's inbox is full (1 MiB)")
        #expect(InboxRules.describe(bytes: 64 << 10) == "64 KiB")
        #expect(InboxRules.describe(bytes: 1) == "1 byte")
        #expect(InboxRules.describe(bytes: 1_000) == "1000 bytes")
    }

    @Test("the message cap: one below fits, at the cap is full; one message is singular")
    func messageCap() {
        let limits = InboxLimits(maximumMessages: 3, maximumBytes: 100)
        #expect(InboxRules.refusal(adding: 1, to: InboxUsage(messages: 2, bytes: 2), of: "bob", limits: limits) == nil)
        #expect(
            InboxRules.refusal(adding: 1, to: InboxUsage(messages: 3, bytes: 3), of: "bob", limits: limits)
                == "bob's inbox is full (3 messages)")
        let one = InboxLimits(maximumMessages: 1, maximumBytes: 100)
        #expect(
            InboxRules.refusal(adding: 0, to: InboxUsage(messages: 1, bytes: 0), of: "carol", limits: one)
                == "carol's inbox is full (1 message)")
    }

    @Test("the byte cap: exactly at it fits, one byte past it does not")
    func byteCap() {
        let limits = InboxLimits(maximumMessages: 10, maximumBytes: 31)
        #expect(InboxRules.refusal(adding: 7, to: InboxUsage(messages: 2, bytes: 24), of: "bob", limits: limits) == nil)
        #expect(
            InboxRules.refusal(adding: 8, to: InboxUsage(messages: 2, bytes: 24), of: "bob", limits: limits)
                == "bob's inbox is full (31 bytes)")
        // An empty inbox still refuses a message bigger than the whole cap.
        #expect(
            InboxRules.refusal(adding: 32, to: InboxUsage(), of: "bob", limits: limits)
                == "bob's inbox is full (31 bytes)")
    }

    @Test("the message cap is reported before the byte cap")
    func messageCapFirst() {
        let limits = InboxLimits(maximumMessages: 2, maximumBytes: 10)
        #expect(
            InboxRules.refusal(adding: 50, to: InboxUsage(messages: 2, bytes: 10), of: "bob", limits: limits)
                == "bob's inbox is full (2 messages)")
    }

    @Test("expired means sent before the cutoff, in whole milliseconds")
    func expiry() {
        let cutoff = Date(timeIntervalSince1970: 2)
        #expect(InboxRules.isExpired(sentAtMilliseconds: 1_999, before: cutoff))
        #expect(!InboxRules.isExpired(sentAtMilliseconds: 2_000, before: cutoff))
        #expect(InboxRules.expiryThreshold(before: cutoff) == 2_000)
        // Between two milliseconds: 2000 ms is before 2000.5 ms, 2001 ms is not.
        let between = Date(timeIntervalSince1970: 2.0005)
        #expect(InboxRules.isExpired(sentAtMilliseconds: 2_000, before: between))
        #expect(!InboxRules.isExpired(sentAtMilliseconds: 2_001, before: between))
        #expect(InboxRules.expiryThreshold(before: between) == 2_001)
        // Before 1970 too, and far past Int64's milliseconds without trapping.
        #expect(InboxRules.expiryThreshold(before: Date(timeIntervalSince1970: -1.5)) == -1_500)
        #expect(InboxRules.expiryThreshold(before: Date(timeIntervalSince1970: 1e300)) == .max)
        #expect(InboxRules.expiryThreshold(before: Date(timeIntervalSince1970: -1e300)) == .min)
    }
}

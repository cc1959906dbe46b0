import Foundation
@testable import LocalVault
import Testing

@Suite struct HistoryLogTests {
    private static let start = Date(timeIntervalSinceReferenceDate: 780_000_000.123_456)

    private static func entry(_ number: Int, partner: String = "bob", text: String? = nil) -> HistoryEntry {
        HistoryEntry(
            messageID: "m\(number)",
            partner: partner,
            direction: number.isMultiple(of: 2) ? .sent : .received,
            text: text ?? "message number \(number) ✓",
            date: start.addingTimeInterval(Double(number) / 3)
        )
    }

    /// Opens the history afresh: a new vault on `directory` (its own history, read from disk).
    private func reopen(_ fixture: VaultFixture, _ directory: StateDirectory) throws(VaultError) -> HistoryLog {
        try fixture.openVault(on: directory).openHistory()
    }

    @Test func entriesComeBackEqualAfterReopening() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let vault = try fixture.createVault()
        defer { vault.directory.close() }
        let history = try vault.openHistory()
        #expect(try vault.openHistory() === history, "one log per vault")
        let written = (0..<10).map { Self.entry($0, partner: $0 < 6 ? "bob" : "carol") }
            + [Self.entry(10, text: ""), Self.entry(11, text: "line one\nline two\u{0}")]
        for entry in written {
            try history.append(entry)
        }
        for log in [history, try reopen(fixture, vault.directory)] {
            #expect(log.count == written.count)
            #expect(log.last(100, with: "bob") == written.filter { $0.partner == "bob" })
            #expect(log.last(2, with: "carol") == [written[8], written[9]])
            #expect(log.last(3, with: "bob") == [written[5], written[10], written[11]])
            #expect(log.last(0, with: "bob") == [])
            #expect(log.last(5, with: "dave") == [])
            #expect(log.contains(messageID: "m0") && log.contains(messageID: "m11"))
            #expect(!log.contains(messageID: "m12"))
        }
    }

    @Test func aThousandEntriesAreIndexed() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let vault = try fixture.createVault()
        defer { vault.directory.close() }
        let history = try vault.openHistory()
        for number in 0..<1_000 {
            try history.append(Self.entry(number, partner: "p\(number % 7)"))
        }
        let reopened = try reopen(fixture, vault.directory)
        #expect(reopened.count == 1_000)
        #expect((0..<1_000).allSatisfy { reopened.contains(messageID: "m\($0)") })
        #expect(reopened.last(2, with: "p3").map(\.messageID) == ["m990", "m997"])
    }

    @Test func aTornLastRecordIsDroppedAndTheLogGoesOn() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let vault = try fixture.createVault()
        defer { vault.directory.close() }
        let history = try vault.openHistory()
        for number in 0..<3 {
            try history.append(Self.entry(number))
        }
        let good = try fixture.bytes(of: "history.log")
        // Long enough to cross several sector boundaries.
        try history.append(Self.entry(3, text: String(repeating: "long message ", count: 200)))
        let full = try fixture.bytes(of: "history.log")
        let lastRecord = good.count..<full.count
        let zeroed = { (start: Int) in Array(full.prefix(start)) + [UInt8](repeating: 0, count: full.count - start) }

        // Cut short inside the last record: everywhere near its ends, and every 61st byte
        // between (each case reopens the vault).
        let cuts = lastRecord.filter { $0 < good.count + 40 || $0 > full.count - 40 || $0.isMultiple(of: 61) }
        var torn: [[UInt8]] = cuts.map { Array(full.prefix($0)) }
        // Or at full length, with the sectors from a boundary on never written (zeros); or
        // zeros from the record's start or inside its length fields.
        torn += stride(from: 0, to: full.count, by: 512).filter(lastRecord.contains).map(zeroed)
        torn += (good.count..<good.count + 8).map(zeroed)
        for (index, bytes) in torn.enumerated() {
            try fixture.replace("history.log", with: bytes)
            #expect(try reopen(fixture, vault.directory).count == 3, "case \(index)")
            #expect(try fixture.bytes(of: "history.log") == good, "case \(index) is truncated to the last good record")
        }

        // Zeros after a whole record are dropped too.
        try fixture.replace("history.log", with: full + [UInt8](repeating: 0, count: 40))
        #expect(try reopen(fixture, vault.directory).count == 4)
        #expect(try fixture.bytes(of: "history.log") == full)

        // Zeros that do not start at a sector boundary are not what a crash leaves.
        let unaligned = full.count - 20
        try #require(!(unaligned..<full.count).contains { $0.isMultiple(of: 512) })
        try fixture.replace("history.log", with: zeroed(unaligned))
        #expect(throws: VaultError.corrupt("history.log")) { try reopen(fixture, vault.directory) }

        try fixture.replace("history.log", with: Array(full.prefix(full.count - 5)))
        let recovered = try reopen(fixture, vault.directory)
        try recovered.append(Self.entry(4))
        let again = try reopen(fixture, vault.directory)
        #expect(again.last(10, with: "bob").map(\.messageID) == ["m0", "m1", "m2", "m4"])
    }

    @Test func aHistoryCutInsideItsHeaderStartsOver() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let vault = try fixture.createVault()
        defer { vault.directory.close() }
        for cut in [[], Array("SC".utf8)] {
            try fixture.replace("history.log", with: cut)
            let history = try reopen(fixture, vault.directory)
            #expect(history.count == 0)
            try history.append(Self.entry(1))
            #expect(try reopen(fixture, vault.directory).count == 1)
        }
    }

    @Test func aFlippedByteAnywhereIsCorrupt() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let vault = try fixture.createVault()
        defer { vault.directory.close() }
        let history = try vault.openHistory()
        for number in 0..<3 {
            try history.append(Self.entry(number))
        }
        let original = try fixture.bytes(of: "history.log")
        for index in original.indices {
            try fixture.replace("history.log", with: original.flipping(index))
            #expect(throws: VaultError.corrupt("history.log"), "byte \(index)") { try reopen(fixture, vault.directory) }
            #expect(try fixture.bytes(of: "history.log") == original.flipping(index), "a refused log is left alone")
        }
    }

    @Test func recordsReorderedOrDroppedFromTheMiddleAreCorrupt() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let vault = try fixture.createVault()
        defer { vault.directory.close() }
        let history = try vault.openHistory()
        var sizes = [try fixture.bytes(of: "history.log").count]
        for number in 0..<3 {
            // Equal lengths, so the records can be swapped whole.
            try history.append(Self.entry(number, text: "same length \(number)"))
            sizes.append(try fixture.bytes(of: "history.log").count)
        }
        let file = try fixture.bytes(of: "history.log")
        let header = Array(file[..<sizes[0]])
        let records = (0..<3).map { Array(file[sizes[$0]..<sizes[$0 + 1]]) }
        #expect(records[0].count == records[1].count)

        for rearranged in [[records[1], records[0], records[2]], [records[0], records[2]], [records[1], records[2]]] {
            try fixture.replace("history.log", with: header + rearranged.flatMap { $0 })
            #expect(throws: VaultError.corrupt("history.log")) { try reopen(fixture, vault.directory) }
        }
        // A blob's sealed bytes framed as a record do not pass either.
        try vault.write(Array("same length 9".utf8), named: "identity")
        let blob = try fixture.bytes(of: "identity.sealed").dropFirst(5)
        let framed = [UInt8](withUnsafeBytes(of: UInt32(blob.count).bigEndian, Array.init))
            + [UInt8](withUnsafeBytes(of: (~UInt32(blob.count)).bigEndian, Array.init)) + blob
        try fixture.replace("history.log", with: header + framed + records[1])
        #expect(throws: VaultError.corrupt("history.log")) { try reopen(fixture, vault.directory) }
    }

    @Test func anEntryOverTheLimitIsRefused() throws {
        let fixture = try VaultFixture()
        defer { fixture.remove() }
        let vault = try fixture.createVault()
        defer { vault.directory.close() }
        let history = try vault.openHistory()
        let huge = String(repeating: "x", count: HistoryLog.maximumEntrySize)
        #expect(throws: VaultError.tooLarge("history entry", limit: HistoryLog.maximumEntrySize)) {
            try history.append(Self.entry(1, text: huge))
        }
        #expect(history.count == 0)
        try history.append(Self.entry(2))
        #expect(try reopen(fixture, vault.directory).count == 1)
    }
}

import Foundation
import Testing

@testable import Server

@Suite("MessageID")
struct MessageIDTests {
    @Test("ids are this process's prefix and a counter, in lower-case hex")
    func form() {
        let first = MessageID.next()
        let second = MessageID.next()
        for id in [first, second] {
            #expect(id.count == 33, "\(id)")
            #expect(id.split(separator: "-").map(\.count) == [16, 16], "\(id)")
            #expect(id.allSatisfy { "0123456789abcdef-".contains($0) }, "\(id)")
        }
        #expect(first.prefix(16) == second.prefix(16), "one prefix per process")
        let counters = [first, second].map { UInt64($0.suffix(16), radix: 16) }
        // Up, not necessarily by one: other tests (the one below, running alongside) take
        // ids from the same counter meanwhile.
        #expect(counters[0]! < counters[1]!, "the counter counts up")
    }

    @Test("100,000 ids from four threads at once have no duplicate")
    func unique() async {
        let ids = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<4 {
                group.addTask { (0..<25_000).map { _ in MessageID.next() } }
            }
            var all: [String] = []
            for await batch in group { all += batch }
            return all
        }
        #expect(Set(ids).count == 100_000)
    }
}

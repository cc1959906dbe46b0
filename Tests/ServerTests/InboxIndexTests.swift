import Testing

@testable import Server

@Suite("InboxIndex")
struct InboxIndexTests {
    private func entry(_ id: String, from: String = "alice", size: Int = 1, at milliseconds: Int64 = 0) -> InboxIndex.Entry {
        InboxIndex.Entry(id: id, from: from, size: size, sentAtMilliseconds: milliseconds)
    }

    @Test("removals leave the order, counts and sizes right, through every compaction")
    func removalsKeepOrder() {
        var index = InboxIndex()
        var expected: [InboxIndex.Entry] = []
        for number in 0..<500 {
            let added = entry("m\(number)", from: number % 3 == 0 ? "carol" : "alice", size: number)
            index.append(added)
            expected.append(added)
        }
        // Remove from the front, the back and the middle, checking as the holes pile up.
        var step = 0
        while !expected.isEmpty {
            let position = [0, expected.count - 1, expected.count / 2][step % 3]
            let removed = expected.remove(at: position)
            #expect(index.remove(ids: [removed.id]) == [removed])
            #expect(!index.contains(id: removed.id))
            #expect(index.count == expected.count)
            if step % 37 == 0 || expected.count < 5 {
                #expect(index.entries == expected)
                #expect(index.totalBytes == expected.reduce(0) { $0 + $1.size })
                #expect(index.entries(from: "carol") == expected.filter { $0.from == "carol" })
            }
            step += 1
        }
        #expect(index.isEmpty)
        #expect(index == InboxIndex())
        // Usable again after emptying: ids once removed can come back.
        index.append(entry("m1"))
        #expect(index.entries == [entry("m1")])
    }

    @Test("equal when the entries are, wherever the holes are; a repeated id is kept once")
    func equality() {
        var holey = InboxIndex(entries: [entry("a"), entry("b"), entry("c")])
        holey.remove(ids: ["b"])
        #expect(holey == InboxIndex(entries: [entry("a"), entry("c")]))
        #expect(holey != InboxIndex(entries: [entry("c"), entry("a")]))
        #expect(InboxIndex(entries: [entry("a"), entry("a", from: "carol")]).entries == [entry("a")])
        #expect(holey.remove(ids: ["c", "a", "zzz"]) == [entry("a"), entry("c")], "oldest first")
    }
}

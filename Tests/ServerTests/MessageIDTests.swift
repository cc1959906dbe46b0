import Foundation
import Testing

@testable import Server

@Suite("MessageID")
struct MessageIDTests {
    @Test("ids are lower-case version 4 UUIDs that Foundation reads back the same")
    func form() {
        for _ in 0..<1_000 {
            let id = MessageID.random()
            #expect(id.count == 36)
            #expect(UUID(uuidString: id)?.uuidString.lowercased() == id, "\(id)")
            let characters = Array(id)
            #expect(characters[14] == "4", "version 4: \(id)")
            #expect("89ab".contains(characters[19]), "variant 10xx: \(id)")
        }
    }

    @Test("100,000 ids have no duplicate")
    func unique() {
        var seen = Set<String>()
        for _ in 0..<100_000 { seen.insert(MessageID.random()) }
        #expect(seen.count == 100_000)
    }
}

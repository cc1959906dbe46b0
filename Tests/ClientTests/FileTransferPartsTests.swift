import Foundation
import SecureMessaging
import Testing

@testable import Client

@Suite("Received file names")
struct SafeFileNameTests {
    @Test("hostile names become plain names in the downloads directory", arguments: [
        ("report.pdf", "report.pdf"),
        ("../../.bashrc", "bashrc"),
        ("/etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("..", "file"),
        (".", "file"),
        ("", "file"),
        ("...hidden", "hidden"),
        ("  .x ", "x"),
        ("name.", "name"),
        ("a\u{1B}[2Jb\u{07}c\u{7F}d\u{85}e.txt", "a[2Jbcde.txt"),
        ("invoice\u{202E}fdp.exe", "invoicefdp.exe"),
        ("\u{2066}x\u{2069}\u{200F}.txt", "x.txt"),
        ("über straße.txt", "über straße.txt"),
    ])
    func sanitised(name: String, expected: String) {
        #expect(SafeFileName.sanitized(name) == expected)
    }

    @Test("long names are cut to 200 bytes, the extension kept")
    func long() {
        let name = String(repeating: "é", count: 300) + ".pdf"
        let kept = SafeFileName.sanitized(name)
        #expect(kept.utf8.count <= SafeFileName.maximumBytes)
        #expect(kept.hasSuffix(".pdf") && kept.hasPrefix("éé"))
    }

    @Test("a taken name gets a number before its extension; the first free one is claimed")
    func unused() {
        var taken: Set<String> = ["a.txt", "a (1).txt", "b"]
        #expect(SafeFileName.claimUnusedName("a.txt") { taken.insert($0).inserted } == "a (2).txt")
        #expect(SafeFileName.claimUnusedName("b") { taken.insert($0).inserted } == "b (1)")
        #expect(SafeFileName.claimUnusedName("c.tar") { taken.insert($0).inserted } == "c.tar")
    }
}

@Suite("Transfer book and progress")
struct TransferPartsTests {
    static let offer = FileOffer(
        fileID: String(repeating: "0a", count: 16), name: "r.pdf", size: 5, chunks: 1,
        sha256: String(repeating: "f", count: 64), key: [UInt8](repeating: 1, count: 32))

    @Test("offers are numbered once each and the book survives sealed storage")
    func book() throws {
        let storage = InMemorySealedStorage()
        var book = try TransferBook.load(from: storage)
        #expect(book.receive(Self.offer, from: "alice")?.number == 1)
        #expect(book.receive(Self.offer, from: "alice") == nil, "the same offer again is not a second file")
        try book.save(to: storage)
        #expect(try TransferBook.load(from: storage) == book)
    }

    @Test("the bar and the pipe's tenths")
    func progress() {
        var progress = TransferProgress(verb: "sending", name: "r.pdf", total: 2 << 20)
        #expect(progress.bar(1 << 20, width: 10) == "sending r.pdf  50% [#####.....] 1.0 MiB of 2.0 MiB")
        #expect(progress.line(0) == "sending r.pdf: 0%")
        #expect(progress.line(1_000) == nil)
        #expect(progress.line(1 << 20) == "sending r.pdf: 50%")
        #expect(progress.line(2 << 20) == "sending r.pdf: 100%")
        #expect(TransferProgress(verb: "receiving", name: "e", total: 0).bar(0, width: 4) == "receiving e 100% [####] 0 bytes of 0 bytes")
    }
}

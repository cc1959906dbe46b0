import Foundation
import SecureMessaging

/// A file being sent: what it takes to resume its upload and to say how it ended.
struct OutgoingFile: Codable, Equatable {
    let fileID: String
    /// Where it is read from (resolved when `/send` was typed).
    let path: String
    let name: String
    let to: String
    let size: Int
    let chunks: Int
    let sha256: String
    let key: [UInt8]
    /// Its modification time then: a file changed since is not resumed.
    let modified: Double
    /// The offer went to the recipient: every chunk is on the server.
    var offered = false
}

/// A file offered to this user, numbered for `/accept N` and `/reject N`.
struct IncomingFile: Codable, Equatable {
    let number: Int
    let from: String
    let offer: FileOffer
    /// Chunks already written to the partial file, in order (a resumed `/accept` goes on
    /// from here).
    var receivedChunks = 0
}

/// Every transfer this user has under way, kept sealed in the vault (`files`), so an
/// interrupted one resumes after a restart.
struct TransferBook: Codable, Equatable {
    static let blobName = "files"

    var outgoing: [OutgoingFile] = []
    var incoming: [IncomingFile] = []
    var nextNumber = 1

    /// The book in `storage`; empty when there is none yet.
    static func load(from storage: SealedStorage) throws -> TransferBook {
        guard let bytes = try storage.read(named: blobName) else { return TransferBook() }
        return try JSONDecoder().decode(TransferBook.self, from: Data(bytes))
    }

    func save(to storage: SealedStorage) throws {
        try storage.write(Array(try JSONEncoder().encode(self)), named: Self.blobName)
    }

    /// Adds a received offer under the next number; nil if it is already here (the same
    /// offer again).
    mutating func receive(_ offer: FileOffer, from sender: String) -> IncomingFile? {
        guard !incoming.contains(where: { $0.offer.fileID == offer.fileID }) else { return nil }
        let file = IncomingFile(number: nextNumber, from: sender, offer: offer)
        nextNumber += 1
        incoming.append(file)
        return file
    }
}

/// "2.4 MiB", "512 KiB", "100 bytes".
enum ByteCount {
    static func text(_ bytes: Int) -> String {
        if bytes >= 1 << 20 { return String(format: "%.1f MiB", Double(bytes) / Double(1 << 20)) }
        if bytes >= 1 << 10 { return String(format: "%.0f KiB", Double(bytes) / Double(1 << 10)) }
        return bytes == 1 ? "1 byte" : "\(bytes) bytes"
    }
}

/// What a transfer shows while it runs: a bar on a terminal, whole-line percentages in a
/// pipe (every tenth).
struct TransferProgress {
    let verb: String
    let name: String
    let total: Int
    private(set) var lastDecile = -1

    init(verb: String, name: String, total: Int) {
        self.verb = verb
        self.name = name
        self.total = total
    }

    /// The bar for `done` bytes: "sending report.pdf  45% [#########...........] 1.1 MiB of 2.4 MiB".
    func bar(_ done: Int, width: Int = 20) -> String {
        let fraction = total == 0 ? 1 : min(1, Double(done) / Double(total))
        let filled = Int((fraction * Double(width)).rounded(.down))
        let percent = Int((fraction * 100).rounded(.down))
        return "\(verb) \(name) \(String(repeating: " ", count: percent < 10 ? 2 : percent < 100 ? 1 : 0))\(percent)% ["
            + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            + "\(ByteCount.text(done)) of \(ByteCount.text(total))"
    }

    /// The line to print in a pipe for `done` bytes, once per tenth: "sending report.pdf: 40%".
    mutating func line(_ done: Int) -> String? {
        let fraction = total == 0 ? 1 : min(1, Double(done) / Double(total))
        let decile = Int((fraction * 10).rounded(.down))
        guard decile > lastDecile else { return nil }
        lastDecile = decile
        return "\(verb) \(name): \(decile * 10)%"
    }
}

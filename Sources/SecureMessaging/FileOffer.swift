import Foundation

/// A file offered to a partner, as it travels inside the ratchet: what the recipient needs
/// to fetch, decrypt and check it. The server holds only the chunks, by `fileID`.
public struct FileOffer: Codable, Hashable, Sendable {
    /// The id the chunks are held under on the server (32 lower-case hex digits).
    public let fileID: String
    /// The name the sender's file had (the recipient sanitises it before using it).
    public let name: String
    /// The file's size in bytes.
    public let size: Int
    /// How many chunks it was sent in.
    public let chunks: Int
    /// SHA-256 of the whole file, 64 lower-case hex digits.
    public let sha256: String
    /// The file's AES-256-GCM key (`FileCipher`).
    public let key: [UInt8]

    public init(fileID: String, name: String, size: Int, chunks: Int, sha256: String, key: [UInt8]) {
        self.fileID = fileID
        self.name = name
        self.size = size
        self.chunks = chunks
        self.sha256 = sha256
        self.key = key
    }

    enum CodingKeys: String, CodingKey {
        case fileID = "file", name, size, chunks, sha256, key
    }

    /// Whether the fields are of the shapes a sender makes: a reader drops an offer that is
    /// not, as it drops any body it cannot read.
    var isWellFormed: Bool {
        let hex: (String, Int) -> Bool = { text, count in
            text.utf8.count == count && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        }
        return hex(fileID, 32) && hex(sha256, 64) && key.count == 32 && size >= 0 && chunks >= 1
            && !name.isEmpty && name.utf8.count <= 1_024
    }
}

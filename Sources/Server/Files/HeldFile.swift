import Foundation
import Shared

/// A file on its way through the server: the end-to-end encrypted chunks its sender
/// uploaded, held until its recipient has fetched them, rejected them, or they expired.
///
/// The server never sees the file's name, key or content: the sender's client sends those
/// to the recipient inside the ratchet (an ordinary `send`), and the chunks are AEAD
/// ciphertexts in base64, stored and relayed as opaque text.
struct HeldFile: Sendable, Equatable, CustomStringConvertible {
    /// Chosen by the sender's client (`FileRules.isValidID`), so a resumed upload names the
    /// same file.
    let fileID: String
    /// Sender's normalised username.
    let from: String
    /// Recipient's normalised username.
    let to: String
    /// The file's size in bytes, as its sender declared it; what counts against the caps.
    let size: Int
    /// How many chunks make the whole file.
    let chunkCount: Int
    /// When the upload began, in whole milliseconds since 1970; files expire by it.
    let createdAtMilliseconds: Int64
    /// Chunks `0..<storedChunks` are stored: uploads go in order, so what is stored is
    /// always a prefix and a resumed upload goes on from here.
    var storedChunks = 0
    /// Set once the file is done with (its chunks are then gone); the record stays until
    /// its sender's client has been told and says so (`FileStore.forget`).
    var outcome: FileOutcome? = nil

    /// Whether every chunk is stored.
    var isComplete: Bool { storedChunks == chunkCount }

    /// Whether it still holds chunks (no outcome yet) and so counts against its
    /// recipient's cap.
    var isHeld: Bool { outcome == nil }

    var description: String {
        "HeldFile(\(fileID), \(from) -> \(to), \(size) bytes, \(storedChunks)/\(chunkCount) chunks"
            + (outcome.map { ", \($0.rawValue)" } ?? "") + ")"
    }
}

/// Limits on held files, both server options.
struct FileLimits: Sendable, Equatable {
    /// The largest file accepted, in bytes (its declared size).
    var maximumFileBytes = 10 << 20
    /// Most bytes of files held for one recipient at once (sum of declared sizes).
    var maximumHeldBytes = 50 << 20
}

/// The rules of held files, whatever backend stores them: ids, chunk sizes, caps and order.
/// Every `FileStore` follows them, and the decisions are made here, once.
enum FileRules {
    /// Plaintext bytes in every chunk but the last.
    static let chunkBytes = FileChunks.plaintextBytes
    /// Longest chunk text accepted: base64 of a full chunk sealed with AES-GCM (its 12-byte
    /// nonce and 16-byte tag), as clients seal them.
    static let maximumChunkTextBytes = (chunkBytes + 28 + 2) / 3 * 4

    /// Whether `id` is a file id: 32 lower-case hex digits (16 random bytes).
    static func isValidID(_ id: String) -> Bool {
        let utf8 = id.utf8
        return utf8.count == 32 && utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// The number of chunks a file of `size` bytes takes (an empty file takes one).
    static func chunkCount(forSize size: Int) -> Int {
        FileChunks.count(forSize: size)
    }

    /// Why a file of `size` bytes may not be held for `recipient`, who has `heldBytes` held
    /// already, under `limits`; nil if it fits. Fit to show the sender.
    static func refusal(size: Int, heldBytes: Int, recipient: String, limits: FileLimits) -> FileRefusal? {
        if size > limits.maximumFileBytes {
            return .tooLarge("files may be at most \(InboxRules.describe(bytes: limits.maximumFileBytes))")
        }
        if heldBytes + size > limits.maximumHeldBytes {
            return .full(
                "\(recipient)'s inbox has no room for this file "
                    + "(\(InboxRules.describe(bytes: limits.maximumHeldBytes)) of files at most)")
        }
        return nil
    }

    /// The answer to `begin` for `file` when its id is taken by `existing`: the same upload
    /// resumed (same sender, recipient, size and chunk count, still held) is held as it is
    /// stored, whatever the caps say now; anything else is a conflict.
    static func resumption(of existing: HeldFile, by file: HeldFile) -> FileBeginResult {
        let same = existing.from == file.from && existing.to == file.to && existing.size == file.size
            && existing.chunkCount == file.chunkCount
        guard same, existing.isHeld else {
            return .refused(.conflict("file id \(file.fileID) is already in use"))
        }
        return .held(existing)
    }

    /// The order files are listed in: oldest first, ties by id, so every backend lists alike.
    static func oldestFirst(_ a: HeldFile, _ b: HeldFile) -> Bool {
        (a.createdAtMilliseconds, a.fileID) < (b.createdAtMilliseconds, b.fileID)
    }

    /// Whether a file created at `createdAtMilliseconds` is expired at `cutoff`.
    static func isExpired(createdAtMilliseconds: Int64, before cutoff: Date) -> Bool {
        InboxRules.isExpired(sentAtMilliseconds: createdAtMilliseconds, before: cutoff)
    }
}

/// Why a file was refused before anything of it was stored.
enum FileRefusal: Sendable, Equatable {
    /// Past the per-file limit.
    case tooLarge(String)
    /// The recipient's file space is full.
    case full(String)
    /// The id is taken by another file (another sender, recipient, size or chunk count).
    case conflict(String)
}

/// What `FileStore.begin` did.
enum FileBeginResult: Sendable, Equatable {
    /// Held (new, or the same file again: a resumed upload); the record says how many
    /// chunks are stored.
    case held(HeldFile)
    /// Refused; nothing was stored.
    case refused(FileRefusal)
}

/// What `FileStore.putChunk` did.
enum ChunkPutResult: Sendable, Equatable {
    /// Stored durably; the record's `storedChunks` is past it.
    case stored(HeldFile)
    /// Stored already (a resumed upload sent it again); nothing was written.
    case duplicate(HeldFile)
    /// Not the next chunk, or past the last one; nothing was written.
    case outOfOrder(expected: Int)
    /// No such file from this sender, or it is done with.
    case unknownFile
}

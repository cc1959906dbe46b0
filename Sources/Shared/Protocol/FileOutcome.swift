/// How a file sent through the server ended, as its sender is told (`file_outcome`).
public enum FileOutcome: String, Sendable, Hashable, CaseIterable {
    /// The recipient fetched every chunk and said so.
    case delivered
    /// The recipient refused it.
    case rejected
    /// It waited longer than the server keeps files (or its upload never finished in time).
    case expired
}

/// How files are cut for sending: every chunk but the last holds `plaintextBytes` bytes of
/// the file (an empty file is one empty chunk).
public enum FileChunks {
    public static let plaintextBytes = 32 * 1024

    /// The number of chunks a file of `size` bytes takes.
    public static func count(forSize size: Int) -> Int {
        max(1, (size + plaintextBytes - 1) / plaintextBytes)
    }
}

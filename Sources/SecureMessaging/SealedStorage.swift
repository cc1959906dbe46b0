import Shared

/// Where a device keeps its secret state: a few named byte strings, each replaced whole.
///
/// chat-client gives the password-sealed `Vault` of its state directory; tests and
/// chat-bench give `InMemorySealedStorage`. Names are short lower-case words.
public protocol SealedStorage: AnyObject, Sendable {
    /// The bytes last written under `name`, or nil if nothing was.
    func read(named name: String) throws -> [UInt8]?
    /// Replaces what is stored under `name`, durably, before returning.
    func write(_ bytes: [UInt8], named name: String) throws
}

/// A `SealedStorage` in memory, for tests and chat-bench's simulated devices.
public final class InMemorySealedStorage: SealedStorage {
    private let blobs = Locked<[String: [UInt8]]>([:])
    private let writes = Locked<[String: Int]>([:])

    public init() {}

    public func read(named name: String) -> [UInt8]? {
        blobs.withLock { $0[name] }
    }

    public func write(_ bytes: [UInt8], named name: String) {
        blobs.withLock { $0[name] = bytes }
        writes.withLock { $0[name, default: 0] += 1 }
    }

    /// How many times `name` was written.
    public func writeCount(named name: String) -> Int {
        writes.withLock { $0[name] ?? 0 }
    }

    /// The names written so far, sorted.
    public var names: [String] {
        blobs.withLock { Array($0.keys).sorted() }
    }
}

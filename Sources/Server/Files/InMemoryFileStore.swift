import Foundation
import Shared

/// A `FileStore` in dictionaries, for unit tests: the same rules as the durable stores
/// (`FileRules`; one lock makes every decision atomic) without a disk.
final class InMemoryFileStore: FileStore {
    private struct State {
        var files: [String: HeldFile] = [:]
        var chunks: [String: [[UInt8]]] = [:]
    }

    /// Everything; nil once closed.
    private let state = Locked<State?>(State())

    /// Creates an empty store.
    init() {}

    func begin(_ file: HeldFile, limits: FileLimits) async throws(StorageError) -> FileBeginResult {
        try withState { state in
            if let existing = state.files[file.fileID] {
                return FileRules.resumption(of: existing, by: file)
            }
            let held = state.files.values.filter { $0.to == file.to && $0.isHeld }.reduce(0) { $0 + $1.size }
            if let refusal = FileRules.refusal(size: file.size, heldBytes: held, recipient: file.to, limits: limits) {
                return .refused(refusal)
            }
            var fresh = file
            fresh.storedChunks = 0
            fresh.outcome = nil
            state.files[file.fileID] = fresh
            state.chunks[file.fileID] = []
            return .held(fresh)
        }
    }

    func putChunk(fileID: String, sender: String, index: Int, data: [UInt8]) async throws(StorageError) -> ChunkPutResult {
        try withState { state in
            guard var file = state.files[fileID], file.from == sender, file.isHeld else { return .unknownFile }
            if index < file.storedChunks { return .duplicate(file) }
            guard index == file.storedChunks, index < file.chunkCount else {
                return .outOfOrder(expected: file.storedChunks)
            }
            state.chunks[fileID, default: []].append(data)
            file.storedChunks += 1
            state.files[fileID] = file
            return .stored(file)
        }
    }

    func chunk(fileID: String, index: Int) async throws(StorageError) -> [UInt8]? {
        try withState { state in
            guard let chunks = state.chunks[fileID], chunks.indices.contains(index) else { return nil }
            return chunks[index]
        }
    }

    func file(_ fileID: String) async throws(StorageError) -> HeldFile? {
        try withState { $0.files[fileID] }
    }

    func files(to recipient: String) async throws(StorageError) -> [HeldFile] {
        try withState { state in
            state.files.values.filter { $0.to == recipient && $0.isHeld }.sorted(by: FileRules.oldestFirst)
        }
    }

    func outcomes(for sender: String) async throws(StorageError) -> [HeldFile] {
        try withState { state in
            state.files.values.filter { $0.from == sender && !$0.isHeld }.sorted(by: FileRules.oldestFirst)
        }
    }

    func finish(fileID: String, outcome: FileOutcome) async throws(StorageError) -> HeldFile? {
        try withState { state in
            guard var file = state.files[fileID], file.isHeld else { return nil }
            file.outcome = outcome
            state.files[fileID] = file
            state.chunks[fileID] = nil
            return file
        }
    }

    func forget(fileID: String, sender: String) async throws(StorageError) -> Bool {
        try withState { state in
            guard let file = state.files[fileID], file.from == sender, !file.isHeld else { return false }
            state.files[fileID] = nil
            return true
        }
    }

    func expire(before cutoff: Date) async throws(StorageError) -> [HeldFile] {
        try withState { state in
            var expired: [HeldFile] = []
            for (id, file) in state.files
            where file.isHeld && FileRules.isExpired(createdAtMilliseconds: file.createdAtMilliseconds, before: cutoff) {
                var ended = file
                ended.outcome = .expired
                state.files[id] = ended
                state.chunks[id] = nil
                expired.append(ended)
            }
            return expired.sorted(by: FileRules.oldestFirst)
        }
    }

    func removeAll(username: String) async throws(StorageError) -> Int {
        try withState { state in
            let ids = state.files.values.filter { $0.from == username || $0.to == username }.map(\.fileID)
            for id in ids {
                state.files[id] = nil
                state.chunks[id] = nil
            }
            return ids.count
        }
    }

    func usage() async throws(StorageError) -> [String: Int] {
        try withState { state in
            state.files.values.filter(\.isHeld).reduce(into: [:]) { $0[$1.to, default: 0] += $1.size }
        }
    }

    func close() async {
        state.withLock { $0 = nil }
    }

    private func withState<Value>(_ body: (inout State) -> Value) throws(StorageError) -> Value {
        try state.withLock { state throws(StorageError) -> Value in
            guard state != nil else { throw .closed("the in-memory file store") }
            return body(&state!)
        }
    }
}

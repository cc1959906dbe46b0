extension GDBMFileStore {
    /// Every file's record, held or done with, kept in memory from open on, and the bytes
    /// held for each recipient: lists, caps and expiry never read the disk.
    struct Mirror {
        /// Every record, by id.
        private(set) var files: [String: HeldFile] = [:]
        /// Declared sizes of held files, summed per recipient; a recipient holding none has
        /// no entry.
        private(set) var heldBytes: [String: Int] = [:]

        subscript(fileID: String) -> HeldFile? { files[fileID] }

        /// Makes `record` the record of `fileID` (nil: there is none), keeping `heldBytes`.
        mutating func set(_ fileID: String, _ record: HeldFile?) {
            if let old = files[fileID], old.isHeld {
                let remaining = heldBytes[old.to, default: 0] - old.size
                heldBytes[old.to] = remaining > 0 ? remaining : nil
            }
            files[fileID] = record
            if let record, record.isHeld {
                heldBytes[record.to, default: 0] += record.size
            }
        }
    }

    /// One batch of writes as the writer applies it, under the store's lock: every change
    /// goes to the file and the mirror together, and the batch remembers what it changed, so
    /// that a failed batch can be undone (`rolledBack`) and a synced one can drop the
    /// chunks of the files it ended (`deleteDroppedChunks`).
    ///
    /// Chunks are never deleted inside a batch, only after its sync succeeded: a failed batch
    /// is undone by rewriting the records it changed, and a deleted chunk could not be
    /// brought back.
    final class Batch {
        let file: GDBMFile
        /// The mirror as this batch has changed it so far.
        private(set) var mirror: Mirror
        /// Each file this batch changed, as it was before (nil: it had no record).
        private(set) var originals: [String: HeldFile?] = [:]
        /// Whether anything was written, so the batch needs a sync.
        private(set) var wrote = false
        /// Directory shards whose list of ids changed.
        private var dirtyShards: Set<Int> = []
        /// Files whose chunks go once the batch is synced, with how many chunks they may have.
        private var droppedChunks: [String: Int] = [:]

        /// Starts a batch on `file`, taking over `mirror` (the caller gives its copy up, so
        /// changing it copies nothing).
        init(file: GDBMFile, mirror: Mirror) {
            self.file = file
            self.mirror = mirror
        }

        subscript(fileID: String) -> HeldFile? { mirror[fileID] }

        /// Writes `record` as the record of `fileID`, or deletes the record (nil), in the file
        /// and the mirror.
        func set(_ fileID: String, _ record: HeldFile?) throws(StorageError) {
            let old = mirror[fileID]
            if originals.index(forKey: fileID) == nil {
                originals[fileID] = .some(old)
            }
            wrote = true
            if let record {
                try file.store(key: GDBMFileStore.recordKey(fileID), value: GDBMFileStore.encodeRecord(record), replace: true)
            } else {
                try file.delete(key: GDBMFileStore.recordKey(fileID))
            }
            if (old == nil) != (record == nil) {
                dirtyShards.insert(GDBMFileStore.shard(of: fileID))
            }
            mirror.set(fileID, record)
        }

        /// Writes chunk `index` of `fileID` (replacing what a failed batch may have left there).
        func storeChunk(fileID: String, index: Int, data: [UInt8]) throws(StorageError) {
            wrote = true
            try file.store(key: GDBMFileStore.chunkKey(fileID, index: index), value: data, replace: true)
        }

        /// Marks `record`'s chunks for deletion once the batch is synced.
        func dropChunks(of record: HeldFile) {
            droppedChunks[record.fileID] = max(droppedChunks[record.fileID] ?? 0, record.chunkCount)
        }

        /// Rewrites the directory shards whose lists changed.
        func writeDirectory() throws(StorageError) {
            for shard in dirtyShards.sorted() {
                try GDBMFileStore.writeShard(shard, of: mirror, to: file)
            }
            dirtyShards.removeAll()
        }

        /// After the batch's sync: deletes the chunks of the files it ended or removed (not
        /// synced: a chunk left by a crash is deleted again when its record goes).
        func deleteDroppedChunks() throws(StorageError) {
            for (fileID, chunkCount) in droppedChunks.sorted(by: { $0.key < $1.key }) {
                try GDBMFileStore.deleteUnstoredChunks(of: fileID, chunkCount: chunkCount, mirror: mirror, file: file)
            }
        }

        /// The mirror with every change of this batch undone.
        func rolledBack() -> Mirror {
            var restored = mirror
            for (fileID, original) in originals {
                restored.set(fileID, original)
            }
            return restored
        }

        /// The files this batch changed, with how many chunks each may have written.
        var touched: [String: Int] {
            originals.reduce(into: [:]) { touched, entry in
                let counts = [entry.value?.chunkCount, mirror[entry.key]?.chunkCount].compactMap { $0 }
                touched[entry.key] = counts.max() ?? 0
            }
        }
    }

    /// Writes directory shard `shard` as `mirror` lists it (deleting it when empty).
    static func writeShard(_ shard: Int, of mirror: Mirror, to file: GDBMFile) throws(StorageError) {
        let ids = mirror.files.keys.filter { Self.shard(of: $0) == shard }.sorted()
        if ids.isEmpty {
            try file.delete(key: shardKey(shard))
        } else {
            try file.store(key: shardKey(shard), value: encodeShard(ids), replace: true)
        }
    }

    /// Deletes the chunk records of `fileID`, among its first `chunkCount`, that `mirror`
    /// does not count as stored: all of them once the file is done with or gone, those past
    /// `storedChunks` (left by a failed batch) while it is held.
    static func deleteUnstoredChunks(of fileID: String, chunkCount: Int, mirror: Mirror, file: GDBMFile) throws(StorageError) {
        let kept = mirror[fileID].map { $0.isHeld ? $0.storedChunks : 0 } ?? 0
        guard kept < chunkCount else {
            return
        }
        for index in kept..<chunkCount {
            try file.delete(key: chunkKey(fileID, index: index))
        }
    }
}

import Foundation

/// Reading `inbox.gdbm` into the in-memory mirror, at open and when recovering from a
/// failed write.
///
/// What a crash can leave behind, and what is done about it: an append and a removal are
/// one GDBM call each, so no crash can leave half of one, and every record found is a whole
/// message that goes into the mirror. A record whose append was written but whose batch
/// never synced (a crash or a failed sync) may be found; its sender was never told
/// "stored", and delivering it loses nothing (at-least-once), so it is kept. A removal lost
/// to a crash brings its message back, to be delivered again and dropped by id.
///
/// Records that cannot be decoded are not crash leftovers but damage: they are reported as
/// `.corrupt` rather than deleted.
extension GDBMInboxStore {
    /// The mirror read from the file.
    struct Loaded {
        var inboxes: [String: InboxIndex]
        /// One more than the highest sequence number in the file.
        var nextSequence: UInt64
    }

    /// Every recipient's index, read from the records in `file`, in sequence order.
    ///
    /// - Parameter leavingOut: record keys not to mirror (appends whose batch failed and
    ///   that are still to be purged).
    static func load(
        from file: GDBMFile,
        path: String,
        leavingOut: Set<[UInt8]> = []
    ) throws(StorageError) -> Loaded {
        let keys = try recordKeys(of: file, path: path)
        var summaries: [RecordSummary] = []
        summaries.reserveCapacity(keys.count)
        for key in keys where !leavingOut.contains(key) {
            guard let value = try file.fetch(key: key) else {
                continue
            }
            summaries.append(try decodeRecordSummary(value, key: key, path: path))
        }
        // Sequence numbers are unique when the writer assigns them; the id makes the order
        // total, and so the same at every open, even for a file edited by hand.
        summaries.sort { ($0.sequence, $0.entry.id) < ($1.sequence, $1.entry.id) }
        var inboxes: [String: InboxIndex] = [:]
        for summary in summaries {
            inboxes[summary.recipient, default: InboxIndex()].append(summary.entry)
        }
        let highest = summaries.last?.sequence ?? 0
        return Loaded(inboxes: inboxes, nextSequence: highest + 1)
    }

    /// The keys of every message record in `file`; other keys are ignored.
    static func recordKeys(of file: GDBMFile, path: String) throws(StorageError) -> [[UInt8]] {
        var keys: [[UInt8]] = []
        do {
            // Only collect here: GDBM's traversal must not see a store or delete.
            try file.forEachKey { key in
                if key.starts(with: recordPrefix) {
                    keys.append(key)
                }
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw .io(path: path, message: "iterate keys: \(error)")
        }
        return keys
    }
}

import Foundation

/// Reading `inbox.gdbm` into the in-memory mirror, at open and when recovering from a
/// failed write.
///
/// What a crash can leave behind, and what is done about it:
/// - In the current layout an append and a removal are one GDBM call each, so no crash can
///   leave half of one: every record found is a whole message and goes into the mirror.
///   A record whose append was written but whose batch never synced (a crash or a failed
///   sync) may be found; its sender was never told "stored", and delivering it loses
///   nothing (at-least-once), so it is kept. A removal lost to a crash brings its message
///   back, to be delivered again and dropped by id.
/// - A file in the legacy layout (index record plus message records per recipient) is
///   converted first, with the repairs that layout needed (see
///   `GDBMInboxStore+LegacyConversion.swift`).
/// - Records that cannot be decoded are not crash leftovers but damage: they are reported
///   as `.corrupt` rather than deleted.
extension GDBMInboxStore {
    /// The mirror read from the file.
    struct Loaded {
        var inboxes: [String: InboxIndex]
        /// One more than the highest sequence number in the file.
        var nextSequence: UInt64
        var notes: [String]
    }

    /// The keys of the file, sorted by kind.
    struct KeyScan {
        var records: [[UInt8]] = []
        var legacyIndexes: [[UInt8]] = []
        var legacyMessages = Set<[UInt8]>()
        var hasConversionMarker = false

        var hasLegacyRecords: Bool {
            !legacyIndexes.isEmpty || !legacyMessages.isEmpty || hasConversionMarker
        }
    }

    /// Every recipient's index, read from the records in `file` (after converting a legacy
    /// file), in sequence order.
    ///
    /// - Parameter leavingOut: record keys not to mirror (appends whose batch failed and
    ///   that are still to be purged).
    static func load(
        from file: GDBMFile,
        path: String,
        leavingOut: Set<[UInt8]> = []
    ) throws(StorageError) -> Loaded {
        var scan = try scanKeys(of: file, path: path)
        var notes: [String] = []
        if scan.hasLegacyRecords {
            notes = try convertLegacyLayout(in: file, path: path, scan: scan)
            scan = try scanKeys(of: file, path: path)
        }

        var summaries: [RecordSummary] = []
        summaries.reserveCapacity(scan.records.count)
        for key in scan.records where !leavingOut.contains(key) {
            guard let value = try file.fetch(key: key) else {
                continue
            }
            summaries.append(try decodeRecordSummary(value, key: key, path: path))
        }
        // Sequence numbers are unique in normal operation; the id only makes the order
        // total for records written with equal ones (a legacy conversion rerun).
        summaries.sort { ($0.sequence, $0.entry.id) < ($1.sequence, $1.entry.id) }
        var inboxes: [String: InboxIndex] = [:]
        for summary in summaries {
            inboxes[summary.recipient, default: InboxIndex()].append(summary.entry)
        }
        let highest = summaries.last?.sequence ?? 0
        return Loaded(inboxes: inboxes, nextSequence: highest + 1, notes: notes.sorted())
    }

    /// Every key of `file`, sorted by kind; other keys are ignored.
    static func scanKeys(of file: GDBMFile, path: String) throws(StorageError) -> KeyScan {
        var scan = KeyScan()
        do {
            // Only collect here: GDBM's traversal must not see a store or delete.
            try file.forEachKey { key in
                if key.starts(with: recordPrefix) {
                    scan.records.append(key)
                } else if key.starts(with: legacyIndexPrefix) {
                    scan.legacyIndexes.append(key)
                } else if key.starts(with: legacyMessagePrefix) {
                    scan.legacyMessages.insert(key)
                } else if key == legacyConversionMarkerKey {
                    scan.hasConversionMarker = true
                }
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw .io(path: path, message: "iterate keys: \(error)")
        }
        return scan
    }
}

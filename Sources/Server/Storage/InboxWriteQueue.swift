import Foundation

/// The queue of an inbox store's writer (`GDBMInboxStore`, `PostgresInboxStore`).
typealias InboxWriteQueue = WriteQueue<InboxWriteOperation>

/// One queued inbox write and the completion that answers it.
enum InboxWriteOperation: Sendable {
    case append(StoredMessage, InboxSpace, completion: @Sendable (Result<InboxAppendResult, StorageError>) -> Void)
    case remove(recipient: String, id: String, completion: @Sendable (Result<Bool, StorageError>) -> Void)
    case expire(recipient: String, cutoff: Date, completion: @Sendable (Result<Int, StorageError>) -> Void)

    /// Answers the operation with `error`.
    func fail(_ error: StorageError) {
        switch self {
        case .append(_, _, let completion): completion(.failure(error))
        case .remove(_, _, let completion): completion(.failure(error))
        case .expire(_, _, let completion): completion(.failure(error))
        }
    }
}

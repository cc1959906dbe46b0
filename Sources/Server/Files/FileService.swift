import Foundation
import Logging
import NIOCore
import Shared

/// The file frames' work over a `FileStore`: uploads held to `FileLimits`, downloads
/// streamed one chunk at a time, outcomes told to senders; failures become the error frames
/// a session sends.
final class FileService: SessionFiles {
    /// Most chunks one `download` may ask for: what a session has in flight at most.
    static let maximumChunksPerDownload = 16

    private let store: any FileStore
    private let accounts: any AccountStore
    private let limits: FileLimits
    /// Sends a frame to a user's session, wherever it is; best effort (an outcome not
    /// delivered now is sent again at the user's next login).
    private let notify: @Sendable (_ username: String, _ frame: ServerFrame) -> Void
    private let logger: Logger
    private let now: @Sendable () -> Date

    init(
        store: any FileStore, accounts: any AccountStore, limits: FileLimits,
        notify: @escaping @Sendable (_ username: String, _ frame: ServerFrame) -> Void, logger: Logger,
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.store = store
        self.accounts = accounts
        self.limits = limits
        self.notify = notify
        self.logger = logger
        self.now = now
    }

    func upload(
        from sender: String, file: String, to rawRecipient: String, size: Int, chunks: Int, requestID: Int,
        on loop: EventLoop
    ) -> EventLoopFuture<ServerFrame> {
        guard FileRules.isValidID(file) else {
            return loop.makeSucceededFuture(.error(.invalidField("file", expected: "32 lower-case hex digits", id: requestID)))
        }
        guard size >= 0 else {
            return loop.makeSucceededFuture(.error(.invalidField("size", expected: "a size in bytes", id: requestID)))
        }
        guard chunks == FileRules.chunkCount(forSize: size) else {
            return loop.makeSucceededFuture(
                .error(
                    .invalidField(
                        "chunks", expected: "\(FileRules.chunkCount(forSize: size)) for \(size) bytes in chunks of "
                            + "\(FileRules.chunkBytes)", id: requestID)))
        }
        let unknown = ServerFrame.error(ProtocolError(.unknownUser, message: "no such user: \(rawRecipient)", id: requestID))
        guard let recipient = try? Username(rawRecipient).value else { return loop.makeSucceededFuture(unknown) }
        let held = HeldFile(
            fileID: file, from: sender, to: recipient, size: size, chunkCount: chunks,
            createdAtMilliseconds: Int64((now().timeIntervalSince1970 * 1000).rounded(.down)))
        let (store, accounts, limits, logger) = (self.store, self.accounts, self.limits, self.logger)
        return loop.makeFutureWithTask { () async -> ServerFrame in
            do {
                guard try await accounts.find(username: recipient) != nil else { return unknown }
                switch try await store.begin(held, limits: limits) {
                case .held(let record):
                    if record.storedChunks == 0 {
                        logger.info(
                            "file upload started",
                            metadata: ["file": "\(file)", "to": "\(recipient)", "bytes": "\(size)", "chunks": "\(chunks)"])
                    }
                    return .upload(id: requestID, file: file, stored: record.storedChunks)
                case .refused(.tooLarge(let reason)):
                    return .error(ProtocolError(.fileTooLarge, message: reason, id: requestID))
                case .refused(.full(let reason)):
                    return .error(ProtocolError(.filesFull, message: reason, id: requestID))
                case .refused(.conflict(let reason)):
                    return .error(ProtocolError(.fileIDTaken, message: reason, id: requestID))
                }
            } catch {
                logger.error("file upload not started: \(error)", metadata: ["file": "\(file)"])
                return .error(ProtocolError(.notStored, message: "the file could not be stored; try again", id: requestID))
            }
        }
    }

    func chunk(from sender: String, file: String, index: Int, data: String, requestID: Int, on loop: EventLoop)
        -> EventLoopFuture<ServerFrame>
    {
        let bytes = Array(data.utf8)
        guard !bytes.isEmpty, bytes.count <= FileRules.maximumChunkTextBytes else {
            return loop.makeSucceededFuture(
                .error(
                    .invalidField(
                        "data", expected: "1 to \(FileRules.maximumChunkTextBytes) bytes of base64", id: requestID)))
        }
        let (store, logger) = (self.store, self.logger)
        // Started at once: a session may have several chunks of a file on their way (see
        // `SessionStateMachine`), and each must reach the store after the one before it.
        return loop.makeFutureStartedNow { () async -> ServerFrame in
            do {
                switch try await store.putChunk(fileID: file, sender: sender, index: index, data: bytes) {
                case .stored(let record):
                    if record.isComplete {
                        logger.info("file upload complete", metadata: ["file": "\(file)", "to": "\(record.to)"])
                    }
                    return .ok(id: requestID)
                case .duplicate:
                    return .ok(id: requestID)
                case .outOfOrder(let expected):
                    return .error(
                        ProtocolError(
                            .chunkOutOfOrder, message: "expected chunk \(expected) of this file, not \(index)", id: requestID))
                case .unknownFile:
                    return .error(ProtocolError(.unknownFile, message: "no upload \(file) of yours", id: requestID))
                }
            } catch {
                logger.error("file chunk not stored: \(error)", metadata: ["file": "\(file)", "chunk": "\(index)"])
                return .error(ProtocolError(.notStored, message: "the chunk could not be stored; send it again", id: requestID))
            }
        }
    }

    func download(
        by user: String, file: String, from: Int, count: Int, requestID: Int, on loop: EventLoop,
        write: @escaping @Sendable (ServerFrame) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<ServerFrame> {
        guard from >= 0 else {
            return loop.makeSucceededFuture(.error(.invalidField("from", expected: "a chunk index", id: requestID)))
        }
        guard (1...Self.maximumChunksPerDownload).contains(count) else {
            return loop.makeSucceededFuture(
                .error(.invalidField("count", expected: "1 to \(Self.maximumChunksPerDownload)", id: requestID)))
        }
        let (store, logger) = (self.store, self.logger)
        let unknown = ServerFrame.error(ProtocolError(.unknownFile, message: "no file \(file) for you", id: requestID))
        return loop.makeFutureWithTask { () async -> ServerFrame in
            do {
                guard let record = try await store.file(file), record.to == user, record.isHeld else { return unknown }
                let end = min(from + count, record.storedChunks)
                logger.debug("file chunks sent", metadata: ["file": "\(file)", "from": "\(from)", "to": "\(end)"])
                var index = from
                while index < end {
                    // Gone meanwhile (rejected elsewhere, expired): what was sent stands.
                    guard let data = try await store.chunk(fileID: file, index: index) else { return unknown }
                    try await write(.chunk(file: file, index: index, data: String(decoding: data, as: UTF8.self))).get()
                    index += 1
                }
                return .ok(id: requestID)
            } catch let error as StorageError {
                logger.error("file chunk not read: \(error)", metadata: ["file": "\(file)"])
                return .error(ProtocolError(.internal, message: "the file could not be read; try again", id: requestID))
            } catch {
                // The connection went away while chunks were being written: nobody to answer.
                return .ok(id: requestID)
            }
        }
    }

    func done(by user: String, file: String, received: Bool, requestID: Int, on loop: EventLoop)
        -> EventLoopFuture<ServerFrame>
    {
        let (store, logger, notify) = (self.store, self.logger, self.notify)
        let outcome: FileOutcome = received ? .delivered : .rejected
        return loop.makeFutureWithTask { () async -> ServerFrame in
            do {
                guard let record = try await store.file(file), record.to == user, record.isHeld,
                    let finished = try await store.finish(fileID: file, outcome: outcome)
                else {
                    return .error(ProtocolError(.unknownFile, message: "no file \(file) for you", id: requestID))
                }
                logger.info("file \(outcome.rawValue)", metadata: ["file": "\(file)", "from": "\(finished.from)"])
                notify(finished.from, .fileOutcome(file: file, username: finished.to, outcome: outcome))
                return .ok(id: requestID)
            } catch {
                logger.error("file not finished: \(error)", metadata: ["file": "\(file)"])
                return .error(ProtocolError(.internal, message: "the file could not be deleted; try again", id: requestID))
            }
        }
    }

    func forget(by user: String, file: String, requestID: Int, on loop: EventLoop) -> EventLoopFuture<ServerFrame> {
        let (store, logger) = (self.store, self.logger)
        return loop.makeFutureWithTask { () async -> ServerFrame in
            do {
                guard try await store.forget(fileID: file, sender: user) else {
                    return .error(ProtocolError(.unknownFile, message: "no finished file \(file) of yours", id: requestID))
                }
                return .ok(id: requestID)
            } catch {
                logger.error("file outcome not forgotten: \(error)", metadata: ["file": "\(file)"])
                return .error(ProtocolError(.internal, message: "try again", id: requestID))
            }
        }
    }

    func pendingOutcomes(for user: String, on loop: EventLoop) -> EventLoopFuture<[ServerFrame]> {
        let (store, logger) = (self.store, self.logger)
        return loop.makeFutureWithTask { () async -> [ServerFrame] in
            do {
                return try await store.outcomes(for: user).compactMap { file in
                    file.outcome.map { .fileOutcome(file: file.fileID, username: file.to, outcome: $0) }
                }
            } catch {
                // Told at the next login instead.
                logger.error("file outcomes not read at login: \(error)", metadata: ["user": "\(user)"])
                return []
            }
        }
    }

    /// Ends every file older than `expiry` (rejected by time) and tells their senders.
    /// Run periodically; failures are logged and retried at the next run.
    func expireOldFiles(olderThan expiry: TimeInterval) async {
        do {
            let expired = try await store.expire(before: now().addingTimeInterval(-expiry))
            for file in expired {
                logger.info("file expired", metadata: ["file": "\(file.fileID)", "from": "\(file.from)", "to": "\(file.to)"])
                notify(file.from, .fileOutcome(file: file.fileID, username: file.to, outcome: .expired))
            }
        } catch {
            logger.error("files not expired: \(error)")
        }
    }
}

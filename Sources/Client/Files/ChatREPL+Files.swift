import ChatSession
import Foundation
import LocalVault
import SecureMessaging
import Shared

/// File transfer in the REPL: `/send`, `/accept`, `/reject`, `/files`, the chunks a
/// download receives and the outcomes the server reports. Transfers run in the foreground
/// with a progress bar; one interrupted (a dropped connection, the client quit) resumes
/// from the last chunk the server acknowledged (sending) or the last one written
/// (receiving).
extension ChatREPL {
    /// Chunks asked for per `download`: what is in flight at most.
    static let chunksPerDownload = 16
    /// Chunks sent ahead of their answers while uploading.
    static let chunksInFlight = 8

    // MARK: - Sending

    /// `/send PATH`: the file goes to the current partner.
    func sendFile(_ argument: String) async throws {
        guard let partner, let local else { return say("Choose someone to chat with first (/chat USER).") }
        let path = Self.expandingHome(argument.trimmingCharacters(in: .whitespaces))
        guard !path.isEmpty else { return say("Usage: /send PATH") }
        let outgoing: OutgoingFile
        do {
            let source = try LocalFile.reading(path)
            let status = try source.status()
            let hasher = try SHA256Hasher()
            var offset = 0
            while offset < status.size {
                let piece = try source.read(count: 1 << 20, at: offset)
                if piece.isEmpty { break }
                try hasher.update(piece)
                offset += piece.count
            }
            guard offset == status.size else { return say("\(path) changed while it was being read; not sent.") }
            outgoing = OutgoingFile(
                fileID: try FileCipher.newFileID(), path: path, name: SafeFileName.sanitized((path as NSString).lastPathComponent),
                to: partner, size: status.size, chunks: FileChunks.count(forSize: status.size),
                sha256: try hasher.hexDigest(), key: try FileCipher.random().key, modified: status.modified)
        } catch {
            return say("Cannot send \(path): \(error)")
        }
        var book = try TransferBook.load(from: local.vault)
        book.outgoing.append(outgoing)
        try book.save(to: local.vault)
        try await finishSending(outgoing)
    }

    /// Resumes the unfinished uploads to `partner` (after `/chat`).
    func resumeUploads(to partner: String) async throws {
        guard let local else { return }
        for file in try TransferBook.load(from: local.vault).outgoing where file.to == partner && !file.offered {
            say(format.notice("resuming sending \(file.name) to \(partner)"))
            try await finishSending(file)
        }
    }

    /// Uploads what the server lacks of `file`, then sends the offer through the ratchet.
    private func finishSending(_ file: OutgoingFile) async throws {
        guard try await upload(file) else { return }
        guard partner == file.to else {
            return say(format.notice("\(file.name) is on the server; /chat \(file.to) to send it"))
        }
        let offer = FileOffer(
            fileID: file.fileID, name: file.name, size: file.size, chunks: file.chunks, sha256: file.sha256, key: file.key)
        guard let local else { return }
        let body: String
        do {
            body = try await encryptBody(to: file.to, with: local.messenger) { try $0.encrypt(offer, to: file.to) }
        } catch let error as MessengerError {
            if case .partnerKeyChanged = error { warnKeyChanged(file.to) } else { say(format.notice("not sent: \(error)")) }
            return
        }
        let sentAt = Date()
        let text = "[file] \(file.name) (\(ByteCount.text(file.size)))"
        switch try await request(.send(body: body)) {
        case .receipt(_, let messageID, let status):
            let printed = terminal.printAbove(format.ownMessage(text, sentAt: sentAt, status: .init(status)))
            sent[messageID] = SentMessage(to: file.to, body: text, sentAt: sentAt, printed: printed)
            record(HistoryEntry(messageID: messageID, partner: file.to, direction: .sent, text: text, date: sentAt))
            try updateBook { book in
                if let index = book.outgoing.firstIndex(where: { $0.fileID == file.fileID }) { book.outgoing[index].offered = true }
            }
        case .error(let error):
            say(format.notice("\(file.name) is on the server, but telling \(file.to) failed: \(error.message); /chat \(file.to) tries again"))
        default:
            break
        }
    }

    /// Sends the chunks the server does not hold yet; true once it holds them all.
    private func upload(_ file: OutgoingFile) async throws -> Bool {
        let source: LocalFile
        do {
            source = try LocalFile.reading(file.path)
            let status = try source.status()
            guard status.size == file.size, status.modified == file.modified else {
                say(format.notice("\(file.path) changed since /send; sending it stopped (/send it again)"))
                try forgetOutgoing(file.fileID)
                return false
            }
        } catch {
            say(format.notice("cannot read \(file.path) any more (\(error)); sending it stopped"))
            try forgetOutgoing(file.fileID)
            return false
        }
        guard let cipher = FileCipher(key: file.key) else { return false }
        var progress = TransferProgress(verb: "sending", name: file.name, total: file.size)
        defer { terminal.showProgress(nil) }
        uploading: while true {
            do {
                var index: Int
                switch try await request(.upload(file: file.fileID, to: file.to, size: file.size, chunks: file.chunks)) {
                case .upload(_, _, let stored):
                    index = stored
                case .error(let error):
                    say(format.notice("\(file.name) not sent: \(error.message)"))
                    if error.code != .notStored && error.code != .internal { try forgetOutgoing(file.fileID) }
                    return false
                default:
                    return false
                }
                show(&progress, done: min(file.size, index * FileChunks.plaintextBytes))
                // A window of chunks in flight: the server stores them together (one sync
                // for several) and answers them in order.
                var sealing = index
                var refusal: ServerFrame?
                try await requests(window: Self.chunksInFlight) { () throws -> ChatRequest? in
                    guard sealing < file.chunks else { return nil }
                    defer { sealing += 1 }
                    let plain = try source.read(count: FileChunks.plaintextBytes, at: sealing * FileChunks.plaintextBytes)
                    let sealed = try cipher.seal(plain, fileID: file.fileID, index: sealing, of: file.chunks)
                    return .chunk(file: file.fileID, index: sealing, data: Data(sealed).base64EncodedString())
                } answered: { answer in
                    guard case .ok = answer else {
                        refusal = answer
                        return false
                    }
                    index += 1
                    show(&progress, done: min(file.size, index * FileChunks.plaintextBytes))
                    return true
                }
                switch refusal {
                case nil:
                    return true
                case .error(let error)? where error.code == .chunkOutOfOrder:
                    continue uploading  // ask again where the server is
                case .error(let error)?:
                    terminal.showProgress(nil)
                    say(format.notice("\(file.name) not sent: \(error.message)"))
                    if error.code == .unknownFile { try forgetOutgoing(file.fileID) }
                    return false
                default:
                    return false
                }
            } catch is RequestInterrupted {
                continue uploading  // reconnected: ask the (maybe other) server where it is
            }
        }
    }

    // MARK: - Receiving

    /// A file offer arrived in a message.
    func offered(_ offer: FileOffer, from sender: String, messageID: String, sentAtMilliseconds: Int64) {
        guard let local else { return }
        do {
            var book = try TransferBook.load(from: local.vault)
            guard let file = book.receive(offer, from: sender) else { return }
            try book.save(to: local.vault)
            say(format.notice(
                "\(sender) sent \(ChatText.displayable(SafeFileName.sanitized(offer.name))) (\(ByteCount.text(offer.size)))"
                    + " - /accept \(file.number) or /reject \(file.number)"))
            record(HistoryEntry(
                messageID: messageID, partner: sender, direction: .received,
                text: "[file] \(SafeFileName.sanitized(offer.name)) (\(ByteCount.text(offer.size)))",
                date: Date(timeIntervalSince1970: Double(sentAtMilliseconds) / 1000)))
            if bell { terminal.bell() }
        } catch {
            say(format.notice("a file offer from \(sender) could not be kept: \(error)"))
        }
    }

    /// `/accept N`: fetches the file, checks it, and saves it in the downloads directory.
    func accept(_ argument: String) async throws {
        guard let local, let file = try incoming(argument) else { return }
        guard let cipher = FileCipher(key: file.offer.key) else { return }
        let directory = downloadsDirectory(local)
        let partPath = directory + "/.secure-chat-\(file.offer.fileID).part"
        let part: LocalFile
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            part = try LocalFile.writing(partPath)
            // What was written past the last chunk recorded (a crash mid-write) goes.
            try part.truncate(to: file.receivedChunks * FileChunks.plaintextBytes)
        } catch {
            return say("Cannot write to \(directory): \(error)")
        }
        let download = Download(file: file, part: part, cipher: cipher)
        activeDownload = download
        defer {
            activeDownload = nil
            terminal.showProgress(nil)
        }
        var progress = TransferProgress(verb: "receiving", name: SafeFileName.sanitized(file.offer.name), total: file.offer.size)
        while download.next < file.offer.chunks {
            show(&progress, done: min(file.offer.size, download.next * FileChunks.plaintextBytes))
            let answer: ServerFrame
            do {
                answer = try await request(
                    .download(file: file.offer.fileID, from: download.next, count: Self.chunksPerDownload))
            } catch is RequestInterrupted {
                try record(download)
                continue  // reconnected: ask again from the last chunk written
            }
            try record(download)
            switch answer {
            case .ok:
                if let failure = download.failure {
                    terminal.showProgress(nil)
                    return say(format.notice(
                        "\(file.from)'s file \(progress.name) is damaged (\(failure)); /accept \(file.number) tries again, "
                            + "/reject \(file.number) refuses it"))
                }
            case .error(let error) where error.code == .unknownFile:
                terminal.showProgress(nil)
                say(format.notice("\(file.from)'s file \(progress.name) is no longer on the server (withdrawn or expired)"))
                try? FileManager.default.removeItem(atPath: partPath)
                return try forgetIncoming(file.offer.fileID)
            case .error(let error):
                terminal.showProgress(nil)
                return say(format.notice("\(progress.name): \(error.message); /accept \(file.number) resumes"))
            default:
                return
            }
        }
        show(&progress, done: file.offer.size)
        terminal.showProgress(nil)
        try await save(download, partPath: partPath, in: directory, name: progress.name)
    }

    /// Checks the whole file against the offer's size and SHA-256, gives it its name (never
    /// over an existing file), and tells the server it arrived.
    private func save(_ download: Download, partPath: String, in directory: String, name: String) async throws {
        let file = download.file
        let digest: String
        let size: Int
        do {
            try download.part.sync()
            size = try download.part.status().size
            let hasher = try SHA256Hasher()
            var offset = 0
            while offset < size {
                let piece = try download.part.read(count: 1 << 20, at: offset)
                try hasher.update(piece)
                offset += piece.count
            }
            digest = try hasher.hexDigest()
        } catch {
            return say(format.notice("cannot check \(name): \(error)"))
        }
        guard size == file.offer.size, digest == file.offer.sha256 else {
            try? download.part.truncate(to: 0)
            try updateBook { book in
                if let index = book.incoming.firstIndex(where: { $0.offer.fileID == file.offer.fileID }) {
                    book.incoming[index].receivedChunks = 0
                }
            }
            return say(format.notice(
                "\(name) from \(file.from) does not match what was offered (SHA-256 or size differ); not saved. "
                    + "/accept \(file.number) fetches it again, /reject \(file.number) refuses it"))
        }
        let saved: String?
        do {
            saved = try SafeFileName.claimUnusedName(name) { candidate in
                if link(partPath, directory + "/" + candidate) == 0 { return true }
                if errno == EEXIST { return false }
                throw LocalFileError(path: directory + "/" + candidate, doing: "create", errno: errno)
            }
        } catch {
            return say(format.notice("cannot save \(name): \(error)"))
        }
        guard let saved else { return say(format.notice("cannot save \(name): every name like it is taken")) }
        unlink(partPath)
        try forgetIncoming(file.offer.fileID)
        say(format.notice(
            "saved \(ChatText.displayable(saved)) (\(ByteCount.text(size))) from \(file.from) in \(directory); "
                + "SHA-256 \(digest.prefix(16))... checked"))
        do {
            if case .error(let error) = try await request(.fileDone(file: file.offer.fileID, received: true)) {
                say(format.notice("the server could not be told the file arrived: \(error.message)"))
            }
        } catch is RequestInterrupted {
            // The file is saved; the server keeps it until it expires and says so then.
        }
    }

    /// `/reject N`.
    func reject(_ argument: String) async throws {
        guard let local, let file = try incoming(argument) else { return }
        let answer = try await request(.fileDone(file: file.offer.fileID, received: false))
        if case .error(let error) = answer, error.code != .unknownFile {
            return say(format.notice("not refused: \(error.message)"))
        }
        // Refused, or gone from the server already: either way nothing more comes.
        try? FileManager.default.removeItem(atPath: downloadsDirectory(local) + "/.secure-chat-\(file.offer.fileID).part")
        try forgetIncoming(file.offer.fileID)
        say(format.notice("refused \(SafeFileName.sanitized(file.offer.name)) from \(file.from)"))
    }

    /// `/files`: what waits to be accepted, and what is being sent.
    func listFiles() throws {
        guard let local else { return }
        let book = try TransferBook.load(from: local.vault)
        var lines: [String] = []
        for file in book.incoming {
            let done = file.receivedChunks > 0 ? ", \(min(100, file.receivedChunks * 100 / file.offer.chunks))% received" : ""
            lines.append(
                "  \(file.number). \(ChatText.displayable(SafeFileName.sanitized(file.offer.name))) "
                    + "(\(ByteCount.text(file.offer.size))) from \(file.from)\(done) - /accept \(file.number) or /reject \(file.number)")
        }
        for file in book.outgoing {
            lines.append("  \(file.name) (\(ByteCount.text(file.size))) to \(file.to): "
                + (file.offered ? "waiting for \(file.to) to accept it" : "not all sent yet - /chat \(file.to) resumes"))
        }
        say(lines.isEmpty ? "No files waiting." : "Files:\n" + lines.joined(separator: "\n"))
    }

    /// A chunk of the file being fetched.
    func receivedChunk(file: String, index: Int, data: String) {
        guard let download = activeDownload, download.file.offer.fileID == file else { return }
        download.accept(index: index, data: data)
    }

    /// How a file this user sent ended; acknowledged to the server once said.
    func fileEnded(_ fileID: String, recipient: String, outcome: FileOutcome) {
        guard let local else { return pendingOutcomes.append((fileID, recipient, outcome)) }
        let book = try? TransferBook.load(from: local.vault)
        let name = book?.outgoing.first { $0.fileID == fileID }?.name ?? "a file"
        switch outcome {
        case .delivered: say(format.notice("\(recipient) received \(name) \(format.mark(.delivered))"))
        case .rejected: say(format.notice("\(recipient) refused \(name)"))
        case .expired: say(format.notice("\(name) expired on the server before \(recipient) took it"))
        }
        do {
            try forgetOutgoing(fileID)
            connection.post(.fileForget(file: fileID))
        } catch {
            say(format.notice("could not note how \(name) ended: \(error)"))
        }
    }

    /// Outcomes that arrived before the vault was open.
    func reportPendingOutcomes() {
        let waiting = pendingOutcomes
        pendingOutcomes = []
        for (fileID, recipient, outcome) in waiting { fileEnded(fileID, recipient: recipient, outcome: outcome) }
    }

    /// Says which files are still being sent, after login.
    func mentionUnfinishedUploads() throws {
        guard let local else { return }
        for file in try TransferBook.load(from: local.vault).outgoing where !file.offered {
            say(format.notice("\(file.name) to \(file.to) is not all sent yet: /chat \(file.to) resumes it"))
        }
    }

    // MARK: - Helpers

    private func incoming(_ argument: String) throws -> IncomingFile? {
        guard let local else { return nil }
        let book = try TransferBook.load(from: local.vault)
        guard let number = Int(argument.trimmingCharacters(in: .whitespaces)) else {
            say("Usage: /accept N or /reject N (/files lists them)")
            return nil
        }
        guard let file = book.incoming.first(where: { $0.number == number }) else {
            say("No file \(number) waits; /files lists them.")
            return nil
        }
        return file
    }

    private func show(_ progress: inout TransferProgress, done: Int) {
        if terminal.isInteractive {
            terminal.showProgress(progress.bar(done))
        } else if let line = progress.line(done) {
            say(line)
        }
    }

    private func record(_ download: Download) throws {
        let fileID = download.file.offer.fileID
        let next = download.next
        try updateBook { book in
            if let index = book.incoming.firstIndex(where: { $0.offer.fileID == fileID }) {
                book.incoming[index].receivedChunks = next
            }
        }
    }

    private func forgetOutgoing(_ fileID: String) throws {
        try updateBook { $0.outgoing.removeAll { $0.fileID == fileID } }
    }

    private func forgetIncoming(_ fileID: String) throws {
        try updateBook { $0.incoming.removeAll { $0.offer.fileID == fileID } }
    }

    private func updateBook(_ change: (inout TransferBook) -> Void) throws {
        guard let local else { return }
        var book = try TransferBook.load(from: local.vault)
        change(&book)
        try book.save(to: local.vault)
    }

    private func downloadsDirectory(_ local: LocalState) -> String {
        if let downloads { return Self.expandingHome(downloads) }
        if let home = ProcessInfo.processInfo.environment["HOME"], !home.isEmpty {
            return home + "/Downloads/secure-chat"
        }
        return local.directory.path + "/downloads"
    }

    static func expandingHome(_ path: String) -> String {
        guard path == "~" || path.hasPrefix("~/"), let home = ProcessInfo.processInfo.environment["HOME"] else { return path }
        return home + path.dropFirst()
    }
}

/// A file being fetched: each chunk checked and written in place as it arrives.
final class Download {
    let file: IncomingFile
    let part: LocalFile
    let cipher: FileCipher
    /// The next chunk expected; everything before it is written.
    private(set) var next: Int
    /// Why the download stopped (a chunk that failed its check), if it did.
    private(set) var failure: String?

    init(file: IncomingFile, part: LocalFile, cipher: FileCipher) {
        self.file = file
        self.part = part
        self.cipher = cipher
        self.next = file.receivedChunks
    }

    func accept(index: Int, data: String) {
        guard failure == nil, index == next else {
            if failure == nil { failure = "chunk \(index) arrived where chunk \(next) was expected" }
            return
        }
        let offer = file.offer
        guard let sealed = Data(base64Encoded: data),
            let plain = try? cipher.open(Array(sealed), fileID: offer.fileID, index: index, of: offer.chunks)
        else {
            failure = "chunk \(index) failed its authentication check"
            return
        }
        let expected = index == offer.chunks - 1 ? offer.size - index * FileChunks.plaintextBytes : FileChunks.plaintextBytes
        guard plain.count == expected else {
            failure = "chunk \(index) has \(plain.count) bytes, not \(expected)"
            return
        }
        do {
            try part.write(plain, at: index * FileChunks.plaintextBytes)
            next += 1
        } catch {
            failure = "\(error)"
        }
    }
}

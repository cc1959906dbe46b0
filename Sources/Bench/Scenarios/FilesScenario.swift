import ChatSession
import Foundation
import LocalVault
import NIOCore
import Shared

/// `files`: one user sends a file of `fileBytes` to another, sealed in chunks as chat-client
/// seals them, uploading with a window of chunks in flight, then the other fetches it in
/// ranges of 16 and says it arrived. Reports the server's CPU per MiB relayed (upload and
/// download together) and its memory while the file streams, sampled every 50 ms: it
/// should stay flat, since the server never holds a whole file.
struct FilesScenario {
    let context: ScenarioContext

    func run() async throws -> ScenarioResult {
        let plan = context.plan
        let server = context.server
        let senderName = context.username("f", 0)
        let recipientName = context.username("f", 1)
        try await BenchAccounts.register([senderName, recipientName], label: "files", context: context)
        let sender = try await context.connector.session(username: senderName).get()
        let recipient = try await context.connector.session(username: recipientName).get()

        let size = plan.fileBytes
        let chunks = FileChunks.count(forSize: size)
        let fileID = try FileCipher.newFileID()
        let cipher = try FileCipher.random()
        // Sealed before the clock starts: the client's work is not the server's.
        var texts: [String] = []
        texts.reserveCapacity(chunks)
        for index in 0..<chunks {
            let length = index == chunks - 1 ? size - index * FileChunks.plaintextBytes : FileChunks.plaintextBytes
            let plain = [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: length)
            texts.append(Data(try cipher.seal(plain, fileID: fileID, index: index, of: chunks)).base64EncodedString())
        }
        let sealedTexts = texts

        let memory = MemorySampler(stats: server.stats)
        let rssBefore = try server.stats.residentKiB()
        memory.start()
        let cpuBefore = try server.stats.cpuSeconds()
        let start = MonotonicClock.now()
        Progress.say("files: \(senderName) sends \(Format.memory(kib: size / 1024)) in \(chunks) chunks to \(recipientName)")

        let begun = try await sender.withHandler {
            $0.request(.upload(file: fileID, to: recipientName, size: size, chunks: chunks))
        }.get()
        guard case .upload = begun else { throw BenchError.unexpectedReply("\(begun.kind.rawValue) to upload") }
        try await Self.upload(sealedTexts, fileID: fileID, through: sender, window: plan.window)
        let uploaded = MonotonicClock.now()
        let rssUploaded = try server.stats.residentKiB()

        let received = try await Self.download(fileID: fileID, chunks: chunks, through: recipient)
        let done = try await recipient.withHandler { $0.request(.fileDone(file: fileID, received: true)) }.get()
        guard case .ok = done else { throw BenchError.unexpectedReply("\(done.kind.rawValue) to file_done") }
        let end = MonotonicClock.now()
        let cpuAfter = try server.stats.cpuSeconds()
        let peak = memory.stop()
        let rssAfter = try server.stats.residentKiB()
        await BenchConnection.closeAll([sender, recipient])
        guard received == sealedTexts.reduce(0, { $0 + $1.utf8.count }) else {
            throw BenchError.server("the recipient got \(received) bytes of chunk text, not what was sent")
        }

        let mebibytes = Double(size) / Double(1 << 20)
        let seconds = MonotonicClock.seconds(from: start, to: end)
        let uploadSeconds = MonotonicClock.seconds(from: start, to: uploaded)
        let cpuPerMiB = (cpuAfter - cpuBefore) * 1e3 / mebibytes
        var result = ScenarioResult(scenario: "files")
        result.set("file_bytes", size)
        result.set("chunks", chunks)
        result.set("upload_s", uploadSeconds, digits: 3)
        result.set("download_s", seconds - uploadSeconds, digits: 3)
        result.set("mib_per_s", mebibytes / seconds, digits: 1)
        result.set("server_cpu_ms_per_mib", cpuPerMiB, digits: 2)
        result.set("server_rss_kib_before", rssBefore)
        result.set("server_rss_kib_uploaded", rssUploaded)
        result.set("server_rss_kib_peak", peak ?? rssBefore)
        result.set("server_rss_kib_after", rssAfter)
        result.addRow(
            .init(
                scenario: "files",
                work: "\(Format.memory(kib: size / 1024)) up and down in \(chunks) chunks",
                throughput: "\(Format.decimal(mebibytes / seconds, digits: 1)) MiB/s",
                latency: "up \(Format.decimal(uploadSeconds, digits: 2)) s, down \(Format.decimal(seconds - uploadSeconds, digits: 2)) s",
                serverCPU: "\(Format.decimal(cpuPerMiB, digits: 2)) ms/MiB",
                notes: "server RSS \(Format.memory(kib: rssBefore)) before, \(Format.memory(kib: peak ?? rssBefore)) at most while "
                    + "streaming, \(Format.memory(kib: rssAfter)) after; window \(plan.window) chunks up, 16 down"))
        return result
    }

    /// Sends every chunk with up to `window` unanswered, each answered `ok` once durable.
    private static func upload(_ texts: [String], fileID: String, through connection: BenchConnection, window: Int) async throws {
        var next = 0
        var inFlight: [EventLoopFuture<ServerFrame>] = []
        while next < texts.count || !inFlight.isEmpty {
            while next < texts.count && inFlight.count < window {
                let index = next
                let data = texts[index]
                inFlight.append(connection.withHandler { $0.request(.chunk(file: fileID, index: index, data: data)) })
                next += 1
            }
            let answer = try await inFlight.removeFirst().get()
            guard case .ok = answer else { throw BenchError.unexpectedReply("\(answer) to chunk") }
        }
    }

    /// Fetches every chunk in ranges of 16; returns the bytes of chunk text received.
    private static func download(fileID: String, chunks: Int, through connection: BenchConnection) async throws -> Int {
        let counter = Counter()
        let chunksSeen = Counter()
        let loop = connection.eventLoop
        try await connection.withHandler { handler in
            handler.onEvent = { event in
                if case .fileChunk(_, _, let data) = event {
                    counter.add(data.utf8.count)
                    chunksSeen.increment()
                }
            }
            return loop.makeSucceededVoidFuture()
        }.get()
        var from = 0
        while from < chunks {
            let start = from
            let answer = try await connection.withHandler { $0.request(.download(file: fileID, from: start, count: 16)) }.get()
            guard case .ok = answer else { throw BenchError.unexpectedReply("\(answer.kind.rawValue) to download") }
            from = chunksSeen.value
        }
        return counter.value
    }
}

/// The server's resident memory, sampled every 50 ms on a thread of its own; `stop` gives
/// the highest sample.
final class MemorySampler: @unchecked Sendable {
    // @unchecked: `peak` and `running` are behind `lock`.
    private let stats: ServerStats
    private let lock = NSLock()
    private var peak: Int?
    private var running = false

    init(stats: ServerStats) {
        self.stats = stats
    }

    func start() {
        lock.withLock { running = true }
        Thread.detachNewThread { [self] in
            while lock.withLock({ running }) {
                if let sample = try? stats.residentKiB() {
                    lock.withLock { peak = max(peak ?? 0, sample) }
                }
                usleep(50_000)
            }
        }
    }

    func stop() -> Int? {
        lock.withLock {
            running = false
            return peak
        }
    }
}

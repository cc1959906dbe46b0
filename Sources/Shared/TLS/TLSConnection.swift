import Foundation
import NIOCore
internal import COpenSSL
internal import COpenSSLShims
import OpenSSLSupport

/// One TLS session: an `SSL*` whose BIO reads and writes `ByteBuffer`s, with no I/O of
/// its own.
///
/// Ciphertext from the network is fed in with `consumeDataFromNetwork`; ciphertext to
/// send is taken out with `drainDataForNetwork`. Each operation answers complete,
/// incomplete (needs more bytes from the peer) or failed, and leaves the decision of
/// what to do to `TLSHandler`. The `SSL*` and its BIO are freed in `deinit`.
///
/// The BIO (`ByteBufferBIO` below) is ours rather than OpenSSL's memory BIO: a memory BIO
/// copies every byte in and out once more, and zero-fills its buffer as it grows on every
/// write after a drain, about 1,500 instructions per relayed message between them. Ours
/// hands OpenSSL the bytes of the buffer NIO read into, and lets it write its records
/// straight into the buffer that goes to the socket.
///
/// Not thread-safe: it belongs to one channel and is used only on its event loop.
final class TLSConnection {
    /// Outcome of a step that may need more input from the peer.
    enum StepResult {
        case complete
        case incomplete
        case failed(TLSError)
    }

    /// Outcome of one `readPlaintext` call.
    enum ReadResult {
        /// Some plaintext was appended to the buffer.
        case data
        /// Nothing more can be decrypted until more ciphertext arrives.
        case wouldBlock
        /// The peer sent close_notify.
        case closeNotify
        case failed(TLSError)
    }

    private let ssl: OpaquePointer
    /// Both ways between SSL and the network. Owned by `ssl` after `SSL_set_bio`.
    private let bio: OpaquePointer
    private let context: TLSContext
    private let serverName: String?
    /// Ciphertext from the peer that OpenSSL has not read yet; nil when there is none.
    private var inbound: ByteBuffer?
    /// Ciphertext OpenSSL has written and nobody has taken yet; nil when there is none.
    private var outbound: ByteBuffer?
    private let allocator = ByteBufferAllocator()

    init(context: TLSContext, serverName: String?) throws {
        OpenSSLErrorQueue.clear()
        guard let method = ByteBufferBIO.method else {
            throw TLSError.configuration("BIO_meth_new failed")
        }
        guard let ssl = SSL_new(context.context) else {
            throw TLSError.configuration(OpenSSLErrorQueue.drainDescription(fallback: "SSL_new failed"))
        }
        guard let bio = BIO_new(method) else {
            SSL_free(ssl)
            throw TLSError.configuration("BIO_new failed")
        }
        // One BIO for both directions: SSL takes one reference for the two.
        SSL_set_bio(ssl, bio, bio)
        self.ssl = ssl
        self.bio = bio
        self.context = context
        self.serverName = serverName
        // Unretained: the BIO lives inside `ssl`, which this object frees in `deinit`, and
        // OpenSSL calls the BIO only from within the SSL calls this object makes.
        BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())

        switch context.role {
        case .server:
            SSL_set_accept_state(ssl)
        case .client:
            SSL_set_connect_state(ssl)
            // Without the name dialled, any certificate the CA signed would do: refused.
            guard let serverName else {
                throw TLSError.configuration("a client connection needs the host it dials, to check the certificate")
            }
            try configureHostVerification(serverName)
        }
    }

    deinit {
        BIO_set_data(bio, nil)
        SSL_free(ssl)  // frees the BIO too
    }

    // MARK: - Network side

    /// Hands ciphertext received from the peer to OpenSSL: kept, not copied, until OpenSSL
    /// reads it (during the next handshake step or read).
    func consumeDataFromNetwork(_ buffer: ByteBuffer) {
        guard buffer.readableBytes > 0 else { return }
        if var unread = inbound, unread.readableBytes > 0 {
            // Rare: OpenSSL stopped reading mid-buffer (a failed or closing connection).
            inbound = nil
            unread.writeImmutableBuffer(buffer)
            inbound = unread
        } else {
            inbound = buffer
        }
    }

    /// Number of ciphertext bytes waiting to be sent.
    var pendingOutboundBytes: Int {
        outbound?.readableBytes ?? 0
    }

    /// Takes every ciphertext byte OpenSSL has produced, or nil when there is none.
    func drainDataForNetwork() -> ByteBuffer? {
        defer { outbound = nil }
        return outbound
    }

    /// The BIO's read: up to `count` bytes of `inbound` into OpenSSL's memory; 0 when
    /// there are none yet.
    fileprivate func readCiphertext(into memory: UnsafeMutableRawPointer, count: Int) -> Int {
        guard var buffer = inbound else { return 0 }
        inbound = nil
        let taken = min(count, buffer.readableBytes)
        buffer.withUnsafeReadableBytes { bytes in
            memory.copyMemory(from: bytes.baseAddress!, byteCount: taken)
        }
        buffer.moveReaderIndex(forwardBy: taken)
        if buffer.readableBytes > 0 { inbound = buffer }
        return taken
    }

    /// The BIO's write: OpenSSL's record bytes appended to `outbound`.
    fileprivate func writeCiphertext(_ bytes: UnsafeRawBufferPointer) {
        // Taken out while appending, so the buffer stays uniquely referenced (no copy).
        var buffer = outbound ?? allocator.buffer(capacity: max(bytes.count, 1024))
        outbound = nil
        buffer.writeBytes(bytes)
        outbound = buffer
    }

    // MARK: - TLS operations

    /// Advances the handshake with whatever input has arrived.
    func doHandshake() -> StepResult {
        OpenSSLErrorQueue.clear()
        let result = SSL_do_handshake(ssl)
        if result == 1 { return .complete }
        let error = SSL_get_error(ssl, result)
        switch error {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .incomplete
        default:
            return .failed(handshakeError())
        }
    }

    /// Decrypts what the ciphertext received so far holds, appending it to `buffer`.
    ///
    /// The space reserved is what that ciphertext can decrypt to at most (the ciphertext
    /// waiting plus plaintext OpenSSL already holds), capped at one record (16 KiB): a
    /// 100-byte frame does not cost a 16 KiB allocation, and reading record after record into
    /// the same buffer never reallocates it (each reservation fits in what the last one left).
    /// With nothing waiting there is nothing to decrypt, and no call into OpenSSL.
    func readPlaintext(into buffer: inout ByteBuffer) -> ReadResult {
        let available = (inbound?.readableBytes ?? 0) + Int(SSL_pending(ssl))
        guard available > 0 else { return .wouldBlock }
        OpenSSLErrorQueue.clear()
        var sslResult: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: min(available, 16_384)) { bytes in
            sslResult = SSL_read(ssl, bytes.baseAddress, Int32(min(bytes.count, Int(Int32.max))))
            return sslResult > 0 ? Int(sslResult) : 0
        }
        if sslResult > 0 { return .data }
        switch SSL_get_error(ssl, sslResult) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .wouldBlock
        case SSL_ERROR_ZERO_RETURN:
            return .closeNotify
        default:
            return .failed(.protocolFailure(OpenSSLErrorQueue.drainDescription(fallback: "SSL_read failed")))
        }
    }

    /// Encrypts all of `buffer`. With memory BIOs and no partial writes a write after the
    /// handshake either completes or fails; it never waits for the peer.
    func writePlaintext(_ buffer: ByteBuffer) -> StepResult {
        var outcome: StepResult = .complete
        buffer.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress, bytes.count > 0 else { return }
            OpenSSLErrorQueue.clear()
            let written = SSL_write(ssl, base, Int32(bytes.count))
            if written <= 0 {
                switch SSL_get_error(ssl, written) {
                case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                    outcome = .incomplete
                default:
                    outcome = .failed(.protocolFailure(
                        OpenSSLErrorQueue.drainDescription(fallback: "SSL_write failed")))
                }
            }
        }
        return outcome
    }

    /// Queues our close_notify. `.complete` when the peer's close_notify has already
    /// arrived too, `.incomplete` when it is still expected.
    func doShutdown() -> StepResult {
        OpenSSLErrorQueue.clear()
        let result = SSL_shutdown(ssl)
        switch result {
        case 1:
            return .complete
        case 0:
            return .incomplete
        default:
            let error = SSL_get_error(ssl, result)
            if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return .incomplete }
            return .failed(.protocolFailure(OpenSSLErrorQueue.drainDescription(fallback: "SSL_shutdown failed")))
        }
    }

    // MARK: - Session facts

    /// "TLSv1.3", "TLSv1.2", ...
    var protocolVersion: String {
        String(cString: SSL_get_version(ssl))
    }

    /// Whether this connection holds a session it could resume later. Always false here:
    /// resumption is off (no tickets, no cache), see `TLSContext`.
    var hasResumableSession: Bool {
        guard let session = SSL_get_session(ssl) else { return false }
        return SSL_SESSION_is_resumable(session) == 1
    }

    /// The negotiated cipher suite's OpenSSL name, e.g. "TLS_AES_256_GCM_SHA384".
    var cipherSuite: String {
        guard let cipher = SSL_get_current_cipher(ssl) else { return "none" }
        return String(cString: SSL_CIPHER_get_name(cipher))
    }

    // MARK: - Verification

    private func configureHostVerification(_ name: String) throws {
        OpenSSLErrorQueue.clear()
        if Self.isIPAddress(name) {
            // RFC 6066 forbids IP literals in SNI; match the certificate's IP SANs instead.
            guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1 else {
                throw TLSError.configuration("cannot verify IP address \(name)")
            }
        } else {
            guard COpenSSLShims_SSL_set_tlsext_host_name(ssl, name) == 1,
                SSL_set1_host(ssl, name) == 1
            else {
                throw TLSError.configuration(OpenSSLErrorQueue.drainDescription(fallback: "bad host name \(name)"))
            }
        }
    }

    /// Turns a failed handshake into the reason a person can act on.
    private func handshakeError() -> TLSError {
        let queue = OpenSSLErrorQueue.drain()
        let detail = queue.isEmpty ? "connection failed" : queue.joined(separator: "; ")
        guard context.role == .client, queue.contains(where: { $0.contains("certificate verify failed") }) else {
            return .handshakeFailed(Self.shortReason(detail))
        }
        let verifyResult = Int32(truncatingIfNeeded: SSL_get_verify_result(ssl))
        switch verifyResult {
        case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH:
            return .hostnameMismatch(dialled: serverName ?? "?", certificateNames: peerCertificateNames())
        case X509_V_ERR_CERT_HAS_EXPIRED:
            return .certificateExpired
        case X509_V_ERR_CERT_NOT_YET_VALID:
            return .certificateNotYetValid
        default:
            let reason = String(cString: X509_verify_cert_error_string(Int(verifyResult)))
            return .untrusted(caFile: context.caFilePath ?? "the CA file", detail: reason)
        }
    }

    private func peerCertificateNames() -> String {
        // Not SSL_get1_peer_certificate: OpenSSL forgets the peer of a failed verification.
        guard let certificate = COpenSSLShims_SSL_get0_seen_leaf_certificate(ssl) else { return "" }
        var buffer = [CChar](repeating: 0, count: 512)
        _ = COpenSSLShims_X509_describe_subject_alt_names(certificate, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// OpenSSL's queue lines look like "error:0A000102:SSL routines::unsupported protocol";
    /// the part after the last colon is the part a reader wants.
    private static func shortReason(_ detail: String) -> String {
        let reasons = detail.split(separator: ";").map { line -> String in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if let colon = trimmed.lastIndex(of: ":") {
                return String(trimmed[trimmed.index(after: colon)...])
            }
            return trimmed
        }
        return reasons.joined(separator: "; ")
    }

    static func isIPAddress(_ name: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, name, &v4) == 1 || inet_pton(AF_INET6, name, &v6) == 1
    }
}

/// The BIO_METHOD behind every `TLSConnection`: reads from its `inbound` buffer and writes
/// to its `outbound` one (the BIO's data is the connection, unretained).
private enum ByteBufferBIO {
    // nonisolated(unsafe): created once, then only read; OpenSSL never changes a method.
    nonisolated(unsafe) static let method: OpaquePointer? = {
        guard let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ByteBuffer") else { return nil }
        BIO_meth_set_create(method) { bio in
            BIO_set_init(bio, 1)
            return 1
        }
        BIO_meth_set_destroy(method) { _ in 1 }
        BIO_meth_set_read_ex(method) { bio, data, count, read in
            COpenSSLShims_BIO_clear_retry_flags(bio)
            guard let bio, let data, let connection = ByteBufferBIO.connection(bio) else { return 0 }
            let taken = connection.readCiphertext(into: UnsafeMutableRawPointer(data), count: count)
            read?.pointee = taken
            guard taken > 0 else {
                // What a non-blocking socket says: nothing yet, try again later.
                COpenSSLShims_BIO_set_retry_read(bio)
                return 0
            }
            return 1
        }
        BIO_meth_set_write_ex(method) { bio, data, count, written in
            COpenSSLShims_BIO_clear_retry_flags(bio)
            guard let bio, let data, let connection = ByteBufferBIO.connection(bio) else { return 0 }
            connection.writeCiphertext(UnsafeRawBufferPointer(start: data, count: count))
            written?.pointee = count
            return 1
        }
        BIO_meth_set_ctrl(method) { _, command, _, _ in
            // Flushing is the handler's business (it writes what `drainDataForNetwork`
            // gives); everything else a source/sink BIO may be asked is unsupported.
            command == BIO_CTRL_FLUSH ? 1 : 0
        }
        return method
    }()

    static func connection(_ bio: OpaquePointer) -> TLSConnection? {
        guard let data = BIO_get_data(bio) else { return nil }
        return Unmanaged<TLSConnection>.fromOpaque(data).takeUnretainedValue()
    }
}

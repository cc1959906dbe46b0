import Foundation
import NIOCore
internal import COpenSSL
internal import COpenSSLShims
import OpenSSLSupport

/// One TLS session: an `SSL*` joined to two memory BIOs, with no I/O of its own.
///
/// Ciphertext from the network is fed in with `consumeDataFromNetwork`; ciphertext to
/// send is taken out with `drainDataForNetwork`. Each operation answers complete,
/// incomplete (needs more bytes from the peer) or failed, and leaves the decision of
/// what to do to `TLSHandler`. The `SSL*` and both BIOs are freed in `deinit`.
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
    /// Network → SSL. Owned by `ssl` after `SSL_set_bio`.
    private let inboundBIO: OpaquePointer
    /// SSL → network. Owned by `ssl` after `SSL_set_bio`.
    private let outboundBIO: OpaquePointer
    private let context: TLSContext
    private let serverName: String?

    init(context: TLSContext, serverName: String?) throws {
        OpenSSLErrorQueue.clear()
        guard let ssl = SSL_new(context.context) else {
            throw TLSError.configuration(OpenSSLErrorQueue.drainDescription(fallback: "SSL_new failed"))
        }
        guard let inbound = BIO_new(BIO_s_mem()), let outbound = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError.configuration("BIO_new failed")
        }
        // An empty memory BIO already answers "retry", which is what a non-blocking
        // socket would say; no BIO_set_mem_eof_return needed.
        SSL_set_bio(ssl, inbound, outbound)
        self.ssl = ssl
        self.inboundBIO = inbound
        self.outboundBIO = outbound
        self.context = context
        self.serverName = serverName

        switch context.role {
        case .server:
            SSL_set_accept_state(ssl)
        case .client:
            SSL_set_connect_state(ssl)
            if let serverName {
                try configureHostVerification(serverName)
            }
        }
    }

    deinit {
        SSL_free(ssl)  // frees both BIOs too
    }

    // MARK: - Network side

    /// Hands ciphertext received from the peer to OpenSSL.
    func consumeDataFromNetwork(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress, bytes.count > 0 else { return }
            // A memory BIO grows as needed; BIO_write only fails on allocation failure.
            _ = BIO_write(inboundBIO, base, Int32(bytes.count))
        }
    }

    /// Number of ciphertext bytes waiting to be sent.
    var pendingOutboundBytes: Int {
        COpenSSLShims_BIO_pending(outboundBIO)
    }

    /// Takes every ciphertext byte OpenSSL has produced, or nil when there is none.
    func drainDataForNetwork(allocator: ByteBufferAllocator) -> ByteBuffer? {
        let pending = pendingOutboundBytes
        guard pending > 0 else { return nil }
        var buffer = allocator.buffer(capacity: pending)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { bytes in
            let read = BIO_read(outboundBIO, bytes.baseAddress, Int32(pending))
            return max(0, Int(read))
        }
        return buffer
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
        let available = COpenSSLShims_BIO_pending(inboundBIO) + Int(SSL_pending(ssl))
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

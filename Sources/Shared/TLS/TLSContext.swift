import Foundation
internal import COpenSSL
internal import COpenSSLShims
import OpenSSLSupport

/// An OpenSSL `SSL_CTX` set up once, for every connection of one process.
///
/// Policy, the same for both sides: TLS 1.2 minimum, 1.3 preferred; on 1.2 only ECDHE
/// key exchange with AEAD ciphers; no compression; no renegotiation; no session
/// resumption (no cache, no tickets). A server context
/// loads its certificate chain and key at creation; a client context loads the CA file
/// it trusts and always verifies the peer (there is deliberately no way to turn that off).
///
/// `@unchecked Sendable`: the wrapped `SSL_CTX` is configured completely in `init` and
/// never mutated afterwards; OpenSSL allows concurrent `SSL_new` from one context.
public final class TLSContext: @unchecked Sendable {
    /// Which end of the handshake connections made from this context play.
    public enum Role: Sendable {
        case server
        case client
    }

    /// TLS 1.2 suites allowed: forward secret (ECDHE) and authenticated encryption only.
    static let tls12CipherList =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
        + "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
        + "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

    /// Key exchange groups, best first.
    static let groups = "X25519:P-256:P-384"

    public let role: Role
    /// The CA file a client context trusts (used in error messages).
    public let caFilePath: String?
    let context: OpaquePointer

    private init(role: Role, caFilePath: String?) throws {
        OpenSSLErrorQueue.clear()
        guard let context = SSL_CTX_new(role == .server ? TLS_server_method() : TLS_client_method()) else {
            throw TLSError.configuration(OpenSSLErrorQueue.drainDescription(fallback: "SSL_CTX_new failed"))
        }
        self.context = context
        self.role = role
        self.caFilePath = caFilePath
        try applyPolicy()
    }

    deinit {
        SSL_CTX_free(context)
    }

    /// A server context with the certificate chain and key read from PEM files.
    ///
    /// Throws a `TLSError` naming the file when it is missing, unreadable, not PEM, or
    /// when the key does not match the certificate.
    public static func server(certificateChainFile: String, privateKeyFile: String) throws -> TLSContext {
        let tls = try TLSContext(role: .server, caFilePath: nil)
        if let reason = Self.unreadableReason(certificateChainFile) {
            throw TLSError.certificateFile(path: certificateChainFile, reason: reason)
        }
        if let reason = Self.unreadableReason(privateKeyFile) {
            throw TLSError.privateKeyFile(path: privateKeyFile, reason: reason)
        }
        OpenSSLErrorQueue.clear()
        guard SSL_CTX_use_certificate_chain_file(tls.context, certificateChainFile) == 1 else {
            throw TLSError.certificateFile(
                path: certificateChainFile,
                reason: OpenSSLErrorQueue.drainDescription(fallback: "not a PEM certificate"))
        }
        OpenSSLErrorQueue.clear()
        guard SSL_CTX_use_PrivateKey_file(tls.context, privateKeyFile, SSL_FILETYPE_PEM) == 1 else {
            let detail = OpenSSLErrorQueue.drain()
            // OpenSSL checks the key against the certificate while loading it.
            if detail.contains(where: { $0.contains("values mismatch") || $0.contains("key values mismatch") }) {
                throw TLSError.keyMismatch(certificate: certificateChainFile, key: privateKeyFile)
            }
            throw TLSError.privateKeyFile(
                path: privateKeyFile,
                reason: detail.isEmpty ? "not a PEM private key" : detail.joined(separator: "; "))
        }
        OpenSSLErrorQueue.clear()
        guard SSL_CTX_check_private_key(tls.context) == 1 else {
            OpenSSLErrorQueue.clear()
            throw TLSError.keyMismatch(certificate: certificateChainFile, key: privateKeyFile)
        }
        return tls
    }

    /// A client context that trusts exactly the certificates in `caFile` and verifies
    /// every server against them.
    public static func client(caFile: String) throws -> TLSContext {
        let tls = try TLSContext(role: .client, caFilePath: caFile)
        if let reason = Self.unreadableReason(caFile) {
            throw TLSError.caFile(path: caFile, reason: reason)
        }
        OpenSSLErrorQueue.clear()
        guard SSL_CTX_load_verify_locations(tls.context, caFile, nil) == 1 else {
            throw TLSError.caFile(
                path: caFile,
                reason: OpenSSLErrorQueue.drainDescription(fallback: "no PEM certificate in it"))
        }
        COpenSSLShims_SSL_CTX_set_verify_peer(tls.context)
        return tls
    }

    /// A new connection object for one channel; `serverName` is what a client dialled.
    func makeConnection(serverName: String?) throws -> TLSConnection {
        try TLSConnection(context: self, serverName: serverName)
    }

    private func applyPolicy() throws {
        guard COpenSSLShims_SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) == 1,
            COpenSSLShims_SSL_CTX_set_max_proto_version(context, TLS1_3_VERSION) == 1
        else {
            throw TLSError.configuration(OpenSSLErrorQueue.drainDescription(fallback: "protocol versions"))
        }
        guard SSL_CTX_set_cipher_list(context, Self.tls12CipherList) == 1 else {
            throw TLSError.configuration(OpenSSLErrorQueue.drainDescription(fallback: "cipher list"))
        }
        guard COpenSSLShims_SSL_CTX_set1_groups_list(context, Self.groups) == 1 else {
            throw TLSError.configuration(OpenSSLErrorQueue.drainDescription(fallback: "groups"))
        }
        COpenSSLShims_SSL_CTX_set_hardening_options(context)
        _ = COpenSSLShims_SSL_CTX_set_mode(context, COpenSSLShims_default_mode())
        // Nothing here resumes sessions: every handshake is a full one, so tickets and the
        // session cache would be pure cost (about a fifth of a server handshake's CPU).
        COpenSSLShims_SSL_CTX_disable_resumption(context)
    }

    /// Why `path` cannot be read, or nil when it can. Checked up front so the error
    /// names the file and the OS reason instead of OpenSSL's "system lib".
    private static func unreadableReason(_ path: String) -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            return "no such file"
        }
        if isDirectory.boolValue { return "is a directory" }
        guard FileManager.default.isReadableFile(atPath: path) else { return "permission denied" }
        return nil
    }
}

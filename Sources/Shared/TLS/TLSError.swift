/// Everything that can go wrong in the TLS layer, worded for the person who has to fix it.
///
/// Configuration errors (`certificateFile`, `privateKeyFile`, `keyMismatch`, `caFile`)
/// are raised at start-up, before any socket is opened. The others end one connection.
public enum TLSError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The certificate chain file is missing, unreadable or not PEM.
    case certificateFile(path: String, reason: String)
    /// The private key file is missing, unreadable or not PEM.
    case privateKeyFile(path: String, reason: String)
    /// The private key does not belong to the certificate.
    case keyMismatch(certificate: String, key: String)
    /// The CA file the client trusts is missing, unreadable or holds no certificate.
    case caFile(path: String, reason: String)
    /// OpenSSL refused a setting we rely on (should never happen with OpenSSL 3).
    case configuration(String)
    /// The server's certificate does not chain to the CA file the client trusts.
    case untrusted(caFile: String, detail: String)
    /// The certificate is valid but names other hosts than the one dialled.
    case hostnameMismatch(dialled: String, certificateNames: String)
    /// The certificate's validity period has ended.
    case certificateExpired
    /// The certificate's validity period has not begun.
    case certificateNotYetValid
    /// The handshake failed for another reason (protocol version, no shared cipher, garbage).
    case handshakeFailed(String)
    /// The handshake did not finish within the configured time.
    case handshakeTimeout
    /// The peer closed TCP without sending close_notify: data may have been truncated.
    case uncleanShutdown
    /// A TLS record failed after the handshake (bad MAC, unexpected message).
    case protocolFailure(String)

    public var description: String {
        switch self {
        case .certificateFile(let path, let reason):
            return "cannot load certificate \(path): \(reason)"
        case .privateKeyFile(let path, let reason):
            return "cannot load private key \(path): \(reason)"
        case .keyMismatch(let certificate, let key):
            return "private key \(key) does not match certificate \(certificate)"
        case .caFile(let path, let reason):
            return "cannot load CA file \(path): \(reason)"
        case .configuration(let detail):
            return "TLS configuration failed: \(detail)"
        case .untrusted(let caFile, let detail):
            return "server certificate is not trusted by \(caFile) (\(detail))"
        case .hostnameMismatch(let dialled, let names):
            let names = names.isEmpty ? "other hosts" : names
            return "server certificate is for \(names), not \(dialled)"
        case .certificateExpired:
            return "server certificate has expired"
        case .certificateNotYetValid:
            return "server certificate is not valid yet"
        case .handshakeFailed(let detail):
            return "TLS handshake failed: \(detail)"
        case .handshakeTimeout:
            return "TLS handshake timed out"
        case .uncleanShutdown:
            return "connection closed without TLS close_notify (unclean shutdown)"
        case .protocolFailure(let detail):
            return "TLS error: \(detail)"
        }
    }
}

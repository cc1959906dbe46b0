// Real functions for OpenSSL 3.0 macros that Swift cannot import (function-like
// macros and SSL_OP_* constants). Each wraps exactly one macro or one fixed policy,
// so the Swift side names what it does instead of passing SSL_CTRL_* magic numbers.
#ifndef C_OPENSSL_SHIMS_H
#define C_OPENSSL_SHIMS_H

#include <stddef.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

int COpenSSLShims_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version);
int COpenSSLShims_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version);
long COpenSSLShims_SSL_CTX_set_mode(SSL_CTX *ctx, long mode);
int COpenSSLShims_SSL_set_tlsext_host_name(SSL *ssl, const char *name);
int COpenSSLShims_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list);
void COpenSSLShims_BIO_set_retry_read(BIO *bio);
void COpenSSLShims_BIO_clear_retry_flags(BIO *bio);

/// Sets the options every context in this package uses: no TLS compression (CRIME),
/// no renegotiation, server cipher preference, and a fresh ECDHE key per handshake.
void COpenSSLShims_SSL_CTX_set_hardening_options(SSL_CTX *ctx);

/// The mode bits this package sets on every context: partial writes off (we always
/// write whole records), a write may be retried from a different buffer, idle
/// connections give their 16 KiB read/write buffers back (SSL_MODE_RELEASE_BUFFERS),
/// and the certificate chain sent is exactly the one loaded from the chain file
/// (SSL_MODE_NO_AUTO_CHAIN: no chain building against the trust store per handshake).
long COpenSSLShims_default_mode(void);

/// Turns session resumption off: no session cache, no TLS 1.3 session tickets, no
/// TLS 1.2 tickets. Neither binary resumes sessions, and a TLS 1.3 server would
/// otherwise serialise, encrypt and send two tickets after every handshake (and the
/// client parse and copy them) for nothing.
void COpenSSLShims_SSL_CTX_disable_resumption(SSL_CTX *ctx);

/// Writes the certificate's subjectAltName DNS and IP entries, comma separated,
/// into buf (always NUL-terminated). Returns the number of entries written.
/// Needed for error messages ("certificate is for X, not Y"): the sk_GENERAL_NAME
/// stack macros do not import into Swift.
int COpenSSLShims_X509_describe_subject_alt_names(X509 *cert, char *buf, size_t len);

/// Turns on peer verification (SSL_VERIFY_PEER) with a callback that keeps the
/// peer's leaf certificate on the SSL object without changing the verdict, so a failed
/// host-name check can still say which names the certificate holds (OpenSSL drops the
/// peer certificate from a session whose verification failed).
void COpenSSLShims_SSL_CTX_set_verify_peer(SSL_CTX *ctx);

/// The leaf certificate seen during verification, or NULL. Owned by the SSL object.
X509 *COpenSSLShims_SSL_get0_seen_leaf_certificate(const SSL *ssl);

#endif

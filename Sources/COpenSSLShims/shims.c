// Why this file exists: see include/COpenSSLShims.h.
#include "COpenSSLShims.h"

#include <stdio.h>
#include <string.h>
#include <openssl/x509v3.h>
#include <pthread.h>

int COpenSSLShims_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

int COpenSSLShims_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}

long COpenSSLShims_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}

int COpenSSLShims_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

int COpenSSLShims_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_groups_list(ctx, list);
}

void COpenSSLShims_BIO_set_retry_read(BIO *bio) {
    BIO_set_retry_read(bio);
}

void COpenSSLShims_BIO_clear_retry_flags(BIO *bio) {
    BIO_clear_retry_flags(bio);
}

void COpenSSLShims_SSL_CTX_set_hardening_options(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION
                             | SSL_OP_NO_RENEGOTIATION
                             | SSL_OP_CIPHER_SERVER_PREFERENCE
                             | SSL_OP_SINGLE_ECDH_USE);
}

long COpenSSLShims_default_mode(void) {
    return SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN;
}

void COpenSSLShims_SSL_CTX_disable_resumption(SSL_CTX *ctx) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
}

int COpenSSLShims_X509_describe_subject_alt_names(X509 *cert, char *buf, size_t len) {
    if (len == 0) return 0;
    buf[0] = '\0';
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (names == NULL) return 0;
    int written = 0;
    size_t used = 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
        char entry[64];
        entry[0] = '\0';
        if (name->type == GEN_DNS) {
            const unsigned char *data = ASN1_STRING_get0_data(name->d.dNSName);
            int n = ASN1_STRING_length(name->d.dNSName);
            snprintf(entry, sizeof entry, "%.*s", n > 60 ? 60 : n, (const char *)data);
        } else if (name->type == GEN_IPADD) {
            const unsigned char *ip = ASN1_STRING_get0_data(name->d.iPAddress);
            int n = ASN1_STRING_length(name->d.iPAddress);
            if (n == 4) {
                snprintf(entry, sizeof entry, "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
            } else if (n == 16) {
                // Compact enough for a message; not the canonical "::" form.
                size_t o = 0;
                for (int k = 0; k < 16 && o + 6 < sizeof entry; k += 2) {
                    o += (size_t)snprintf(entry + o, sizeof entry - o, k ? ":%x" : "%x",
                                          (ip[k] << 8) | ip[k + 1]);
                }
            }
        }
        if (entry[0] == '\0') continue;
        size_t need = strlen(entry) + (written ? 2 : 0);
        if (used + need + 1 > len) break;
        if (written) { memcpy(buf + used, ", ", 2); used += 2; }
        memcpy(buf + used, entry, strlen(entry));
        used += strlen(entry);
        buf[used] = '\0';
        written++;
    }
    GENERAL_NAMES_free(names);
    return written;
}

static int seen_leaf_index = -1;
static pthread_once_t seen_leaf_once = PTHREAD_ONCE_INIT;

static void free_seen_leaf(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
    (void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
    X509_free((X509 *)ptr);  // NULL-safe
}

static void make_seen_leaf_index(void) {
    seen_leaf_index = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, NULL, NULL, NULL, free_seen_leaf);
}

static int remember_leaf(int preverify_ok, X509_STORE_CTX *store) {
    if (X509_STORE_CTX_get_error_depth(store) == 0 && seen_leaf_index >= 0) {
        SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
        X509 *leaf = X509_STORE_CTX_get_current_cert(store);
        if (ssl != NULL && leaf != NULL && SSL_get_ex_data(ssl, seen_leaf_index) == NULL
            && X509_up_ref(leaf) == 1) {
            if (SSL_set_ex_data(ssl, seen_leaf_index, leaf) != 1) X509_free(leaf);
        }
    }
    return preverify_ok;  // never changes OpenSSL's verdict
}

void COpenSSLShims_SSL_CTX_set_verify_peer(SSL_CTX *ctx) {
    pthread_once(&seen_leaf_once, make_seen_leaf_index);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, remember_leaf);
}

X509 *COpenSSLShims_SSL_get0_seen_leaf_certificate(const SSL *ssl) {
    if (seen_leaf_index < 0) return NULL;
    return (X509 *)SSL_get_ex_data(ssl, seen_leaf_index);
}

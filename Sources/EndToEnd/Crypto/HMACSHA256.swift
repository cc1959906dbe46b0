internal import COpenSSL

/// A running HMAC-SHA256 (EVP_MAC "HMAC" with digest SHA256).
final class HMACSHA256 {
    private let context: OpaquePointer

    /// Nil if OpenSSL could not set up the MAC (no HMAC implementation, out of memory).
    init?(key: UnsafeRawBufferPointer) {
        guard let mac = FetchedAlgorithms.shared.hmac, let context = EVP_MAC_CTX_new(mac) else {
            return nil
        }
        // An empty key still needs a non-NULL pointer: EVP_MAC_init reads NULL as "keep the
        // previous key", and a new context has none.
        var emptyKey: UInt8 = 0
        let keyPointer = key.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let initialised = withUnsafeMutablePointer(to: &emptyKey) { empty in
            "digest".withCString { name in
                "SHA256".withCString { digest in
                    var params = [
                        OSSL_PARAM_construct_utf8_string(name, UnsafeMutablePointer(mutating: digest), 0),
                        OSSL_PARAM_construct_end(),
                    ]
                    return EVP_MAC_init(context, keyPointer ?? UnsafePointer(empty), key.count, &params) == 1
                }
            }
        }
        guard initialised else {
            EVP_MAC_CTX_free(context)
            return nil
        }
        self.context = context
    }

    deinit {
        EVP_MAC_CTX_free(context)
    }

    /// Adds bytes to the MAC. False if OpenSSL refused.
    func update(_ data: UnsafeRawBufferPointer) -> Bool {
        guard let base = data.baseAddress, data.count > 0 else { return true }
        return EVP_MAC_update(context, base.assumingMemoryBound(to: UInt8.self), data.count) == 1
    }

    /// The 32-byte MAC, or nil if OpenSSL failed.
    func finish() -> [UInt8]? {
        var output = [UInt8](repeating: 0, count: 32)
        var length = 0
        let ok = output.withUnsafeMutableBufferPointer { buffer in
            EVP_MAC_final(context, buffer.baseAddress, &length, buffer.count) == 1
        }
        return ok && length == 32 ? output : nil
    }
}

/// OpenSSL's HMAC, fetched once from the default provider instead of on every MAC (libomemo-c
/// computes several per message).
///
/// `@unchecked Sendable`: an `EVP_MAC` is immutable after `EVP_MAC_fetch` and OpenSSL
/// reference-counts it thread-safely, so every thread may create contexts from it.
private final class FetchedAlgorithms: @unchecked Sendable {
    static let shared = FetchedAlgorithms()

    let hmac: OpaquePointer?

    private init() {
        hmac = EVP_MAC_fetch(nil, "HMAC", nil)
    }
}

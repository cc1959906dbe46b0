import OpenSSLSupport

/// scrypt's cost parameters, stored in `vault.key` beside the salt so a vault opens with the
/// parameters it was made with.
struct ScryptParameters: Sendable, Hashable, CustomStringConvertible {
    /// log2 of N, the CPU/memory cost: each step doubles time and memory.
    var logN: UInt8
    /// Block size; memory is 128 * r * N bytes.
    var r: UInt32
    /// Parallelism (OpenSSL computes it sequentially, so it multiplies time).
    var p: UInt32

    /// The parameters new key files are made with: N = 2^15, r = 8, p = 1, 32 MiB.
    ///
    /// The client derives the key once per start (and once more per password change), so it
    /// can afford more than the server's per-login hash (2^14). Measured on this project's
    /// 2-core machine (OpenSSL 3.0): about 100-170 ms per derivation.
    static let standard = ScryptParameters(logN: 15, r: 8, p: 1)

    /// The most memory a key file may ask for: a damaged or hostile file cannot make the
    /// client allocate gigabytes or spin for minutes.
    static let maximumMemoryBytes: UInt64 = 256 << 20

    /// N itself.
    var n: UInt64 { 1 << UInt64(logN) }

    /// The memory OpenSSL allocates for these parameters.
    var requiredMemoryBytes: UInt64 {
        Scrypt.requiredMemory(n: n, r: UInt64(r), p: UInt64(p))
    }

    /// Whether the parameters are within the limits this client will compute.
    var isSupported: Bool {
        (1...24).contains(logN) && (1...32).contains(r) && (1...16).contains(p)
            && requiredMemoryBytes <= Self.maximumMemoryBytes
    }

    var description: String {
        "scrypt(N: 2^\(logN), r: \(r), p: \(p))"
    }
}

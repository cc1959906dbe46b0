import OpenSSLSupport

/// The cost parameters of scrypt, stored beside every hash so they can be raised later
/// without invalidating existing passwords.
struct ScryptParameters: Sendable, Hashable, Codable, CustomStringConvertible {
    /// log2 of N, the CPU/memory cost: each step doubles time and memory.
    var logN: Int
    /// Block size; memory is 128 * r * N bytes.
    var r: Int
    /// Parallelism (computed sequentially by OpenSSL, so it multiplies time).
    var p: Int

    /// Creates a parameter set; check `isSupported` before using values read from disk.
    init(logN: Int, r: Int, p: Int) {
        self.logN = logN
        self.r = r
        self.p = p
    }

    /// The parameters new hashes are made with.
    ///
    /// Measured on this project's 2-core machine (OpenSSL 3.0.19, `swift test -c release`,
    /// 10 verifications each, three runs): logN 13 took 19-22 ms (median), logN 14 took
    /// 41-54 ms (min 40, max 63), logN 15 took 103-112 ms (min 99, max 124). A debug
    /// build measured the same, since the work is all inside libcrypto. TRAPS.md saw
    /// 134-170 ms for logN 15 on a busier machine. logN 14 is the one that stays within
    /// roughly 50-100 ms both idle and under load: costly for offline guessing, cheap
    /// enough that a burst of logins does not queue for seconds on a 2-thread pool.
    /// Memory: 16 MiB per hash in flight. Raise it when the hardware allows; stored
    /// hashes keep their own parameters, and `needsRehash` upgrades them at login.
    static let `default` = ScryptParameters(logN: 14, r: 8, p: 1)

    /// Limits that keep a damaged or hostile record from asking for absurd time or memory.
    static let maximumMemoryBytes: UInt64 = 1 << 30

    /// N itself.
    var n: UInt64 { 1 << UInt64(logN) }

    /// Whether the parameters are within the limits this server will compute.
    var isSupported: Bool {
        guard (1...20).contains(logN), (1...32).contains(r), (1...16).contains(p) else {
            return false
        }
        return requiredMemoryBytes <= Self.maximumMemoryBytes
    }

    /// The memory OpenSSL allocates for these parameters.
    var requiredMemoryBytes: UInt64 {
        Scrypt.requiredMemory(n: n, r: UInt64(r), p: UInt64(p))
    }

    var description: String {
        "scrypt(logN: \(logN), r: \(r), p: \(p))"
    }
}

@testable import Server

extension ScryptParameters {
    /// Cheap parameters (N = 1024, about 3 ms) for unit tests only; never for real accounts.
    static let fastForTests = ScryptParameters(logN: 10, r: 8, p: 1)
}

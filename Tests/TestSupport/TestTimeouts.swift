import Foundation

/// How much longer than usual the tests' waits may take. Every wait in the tests is a
/// bound on how long to wait for something that does happen, never a measurement; under
/// a sanitizer the server, the client and the tests run several times slower, so
/// `scripts/sanitize.sh` sets `CHAT_TEST_TIMEOUT_SCALE` and the bounds stretch with it.
public enum TestTimeouts {
    /// The factor from `CHAT_TEST_TIMEOUT_SCALE` (at least 1; 1 when unset).
    public static let scale: Double = {
        let text = ProcessInfo.processInfo.environment["CHAT_TEST_TIMEOUT_SCALE"] ?? ""
        return max(1, Double(text) ?? 1)
    }()

    /// `seconds`, stretched by `scale`.
    public static func scaled(_ seconds: Double) -> Double {
        seconds * scale
    }

    /// A test's time limit of `minutes`, stretched by `scale` and rounded up (Swift
    /// Testing counts time limits in whole minutes): `.timeLimit(.minutes(TestTimeouts.minutes(1)))`.
    public static func minutes(_ minutes: Int) -> Int {
        Int((Double(minutes) * scale).rounded(.up))
    }
}

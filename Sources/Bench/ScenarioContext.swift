import NIOCore
import Shared

/// What every scenario gets: the plan, the server under test, a connector, and the run's
/// own account names (a random prefix, so runs against one server never collide).
struct ScenarioContext: Sendable {
    let plan: BenchPlan
    let server: ServerUnderTest
    let connector: BenchConnector
    let runID: String

    /// The bench's own CPU and memory, for the notes.
    let bench = ProcessStats(pid: nil)

    /// Account `index` of the scenario with the given one-letter tag: "b<run><tag><index>".
    func username(_ tag: String, _ index: Int) -> String {
        "b\(runID)\(tag)\(index)"
    }

    /// A note on how bench accounts are registered, for the results.
    var registrationNote: String {
        if let logN = server.scryptLogN {
            return "accounts registered with scrypt logN \(logN) (bench-started server; its default is 14)"
        }
        return "accounts registered at the attached server's own scrypt cost"
    }
}

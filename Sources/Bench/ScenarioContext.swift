import NIOCore
import Shared

/// What every scenario gets: the plan, the server under test, a connector per node, and
/// the run's own account names (a random prefix, so runs against one server never collide).
struct ScenarioContext: Sendable {
    let plan: BenchPlan
    let server: ServerUnderTest
    /// One per node of the server, in the same order.
    let connectors: [BenchConnector]
    let runID: String

    /// The first node's connector: scenarios that drive one server use it, and accounts are
    /// registered through it (every node shares them).
    var connector: BenchConnector { connectors[0] }

    /// The connector of the node that user `index` of a scenario logs in on: users are dealt
    /// to the nodes in turn.
    func connector(forUser index: Int) -> BenchConnector {
        connectors[index % connectors.count]
    }

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

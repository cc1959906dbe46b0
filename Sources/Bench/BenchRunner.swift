import Foundation
import NIOCore
import NIOPosix
import Shared

/// Runs a plan: raises the open-file limit, starts or attaches to the server, runs each
/// scenario in turn (a failing one is reported and the rest still run), prints the
/// results, stops a server it started. Returns the exit status.
struct BenchRunner {
    let plan: BenchPlan

    func run() async -> Int32 {
        // Each session is a socket here and one in a server started here (which inherits
        // the limit); as root the hard limit is raised too when the plan needs it.
        let fileLimit = FileDescriptorLimit.raise(toAtLeast: plan.sessions + 2_048)
        let table = ResultTable()
        var managed: ManagedServer?
        var status: Int32 = 0
        let group = MultiThreadedEventLoopGroup(numberOfThreads: plan.eventLoops)
        do {
            var server: ServerUnderTest
            switch plan.server {
            case .start(let settings):
                Progress.say(
                    "starting chat-server (\(BenchPaths.buildConfiguration) build)"
                        + (settings.nodes > 1 ? ", \(settings.nodes) nodes" : ""))
                let started = try await ManagedServer.start(settings)
                managed = started
                server = started.target
            case .attach(let host, let port, let caFile, let pid):
                server = ServerUnderTest(
                    nodes: [.init(host: host, port: port, pid: pid)], caFile: caFile, startedByBench: false,
                    scryptLogN: nil, inboxMaximumMessages: nil)
            }
            server.databasePID = plan.databasePID
            printNotes(table: table, server: server, managed: managed, fileLimit: fileLimit)
            let tls = try TLSContext.client(caFile: server.caFile)
            var connectors: [BenchConnector] = []
            for node in server.nodes {
                connectors.append(
                    try await BenchConnector(host: node.host, port: node.port, tls: tls, group: group).pinningAddress())
            }
            let context = ScenarioContext(plan: plan, server: server, connectors: connectors, runID: Self.makeRunID())
            for scenario in plan.scenarios {
                guard server.stats.isAlive else {
                    throw BenchError.server("chat-server (pid \(server.nodes.map { String($0.pid) }.joined(separator: ", "))) is gone")
                }
                Progress.say("== \(scenario.rawValue) ==")
                let result: ScenarioResult
                do {
                    result = try await run(scenario, context: context, fileLimit: fileLimit)
                } catch {
                    Progress.say("\(scenario.rawValue) failed: \(error)")
                    if let managed { Progress.say("server log (last lines):\n\(managed.logTail())") }
                    result = .failed(scenario.rawValue, error: error)
                    status = 1
                }
                table.add(result)
                // Let the server finish closing the scenario's connections before the next.
                await MonotonicClock.sleep(seconds: plan.smoke ? 0.1 : 1)
            }
            table.printSummary()
        } catch {
            Console.errorLine("chat-bench: \(error)")
            status = 1
        }
        if let managed {
            let exit = await managed.stop(keepFiles: status != 0)
            if exit != 0 {
                Progress.say("chat-server exited with status \(exit); its log: \(managed.logPaths.joined(separator: ", "))")
                status = 1
            } else if status != 0 {
                Progress.say("chat-server's files kept for inspection: \(managed.logPaths.joined(separator: ", "))")
            }
        }
        try? await group.shutdownGracefully()
        return status
    }

    private func run(_ scenario: ScenarioChoice, context: ScenarioContext, fileLimit: Int) async throws
        -> ScenarioResult
    {
        switch scenario {
        case .sessions: return try await SessionsScenario(context: context, benchFileLimit: fileLimit).run()
        case .relay: return try await RelayScenario(context: context).run()
        case .inbox: return try await InboxScenario(context: context).run()
        case .handshakes: return try await HandshakesScenario(context: context).run()
        case .loginStorm: return try await LoginStormScenario(context: context).run()
        case .slowloris: return try await SlowlorisScenario(context: context).run()
        case .files: return try await FilesScenario(context: context).run()
        case .all: throw BenchError.server("'all' is expanded before running")
        }
    }

    private func printNotes(table: ResultTable, server: ServerUnderTest, managed: ManagedServer?, fileLimit: Int) {
        if let managed {
            let settings = managed.settings
            let build = "\(managed.binary.path) (\(BenchPaths.buildConfiguration))"
            if server.nodes.count == 1, let node = server.nodes.first {
                table.note("server: started by the bench, \(build), pid \(node.pid), \(node.host):\(node.port)")
            } else {
                let nodes = server.nodes.enumerated().map { index, node in
                    "\(ManagedServer.nodeID(index)) pid \(node.pid) \(node.host):\(node.port)"
                }
                table.note(
                    "server: \(server.nodes.count) nodes started by the bench on one \(settings.storeBackend) database, \(build): "
                        + nodes.joined(separator: ", ")
                        + "; server CPU and memory are summed over the nodes")
            }
            table.note(
                "server runs with --scrypt-log-n \(settings.scryptLogN) so registering bench accounts is fast "
                    + "(the server's default is 14); logins in sessions and login-storm cost that much scrypt")
            table.note(
                "server inbox caps raised for the bench: --inbox-max-messages \(settings.inboxMaximumMessages) "
                    + "--inbox-max-bytes \(settings.inboxMaximumBytes)")
            table.note(
                "server limits raised for the bench: --message-rate \(settings.messageRate) "
                    + "--message-burst \(settings.messageBurst) --max-connections \(settings.maximumConnections) "
                    + "--max-connections-per-address \(settings.maximumConnectionsPerAddress)")
            if let loops = settings.eventLoops {
                table.note("server runs with --event-loops \(loops) (chosen with --server-event-loops)")
            }
            if settings.store == nil {
                table.note("server stores in a temporary gdbm data directory")
            } else {
                table.note("server stores in the \(settings.storeBackend) store given with --server-store")
            }
        } else if let node = server.nodes.first {
            table.note(
                "server: attached, pid \(node.pid), \(node.host):\(node.port); accounts register at its own scrypt cost")
        }
        if let database = server.databasePID {
            table.note("database: PostgreSQL pid \(database); its CPU (backends included) is reported as database CPU")
        }
        let cores = System.coreCount
        table.note(
            "machine: \(Self.cpuModel()), \(cores) cores shared by bench and server; bench \(plan.eventLoops) event loops; "
                + "open-file limit \(fileLimit); load average at start \(Self.loadAverage())")
        if plan.smoke { table.note("smoke sizes: figures are not meaningful") }
    }

    private static func cpuModel() -> String {
        let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix("model name") }
        return line?.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) }
            ?? "unknown CPU"
    }

    /// The 1, 5 and 15 minute load averages: how busy the shared machine already was.
    private static func loadAverage() -> String {
        let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }

    /// Four random lower-case letters and digits: this run's account prefix.
    private static func makeRunID() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<4).map { _ in alphabet.randomElement()! })
    }
}

import Foundation
import Testing
import TestSupport

/// chat-bench's smoke run, as CI runs it: every scenario with tiny sizes against a server
/// the bench starts itself. Checks that it runs and reports, never what it measures.
@Suite("chat-bench smoke")
struct BenchSmokeTests {
    /// The keys each scenario's JSON line must carry (it may carry more).
    static let expectedKeys: [String: [String]] = [
        "sessions": [
            "sessions_requested", "sessions_opened", "failures", "seconds", "sessions_per_s",
            "server_rss_before_kib", "server_rss_after_kib", "server_rss_per_session_kib", "server_cpu_ms_per_login",
        ],
        "relay": [
            "pairs", "messages_per_s", "p50_us", "p99_us", "p999_us", "max_us", "server_cpu_us_per_msg",
            "rate_offered_per_s", "rate_messages_per_s", "rate_p50_us", "rate_p99_us", "rate_p999_us", "rate_max_us",
        ],
        "inbox": [
            "messages", "stored", "stored_per_s", "p50_us", "p99_us", "p999_us", "max_us",
            "server_cpu_us_per_store", "drained", "drain_s",
        ],
        "handshakes": ["handshakes", "handshakes_per_s", "p50_us", "p99_us", "server_cpu_ms_per_handshake"],
        "login-storm": ["logins", "failures", "storm_s", "before_p99_us", "storm_p99_us", "server_cpu_ms_per_login"],
        "slowloris": [
            "sockets", "held_at_start", "least_held", "dropped_by_server", "rounds", "round_failures", "p50_us",
            "p99_us", "max_us", "server_kib_per_held_socket", "server_cpu_ms_per_s",
        ],
        "files": [
            "file_bytes", "chunks", "upload_s", "download_s", "mib_per_s", "server_cpu_ms_per_mib", "server_rss_kib_before",
            "server_rss_kib_peak", "server_rss_kib_after",
        ],
    ]

    @Test("--smoke --start-server runs every scenario and prints one JSON line each", .timeLimit(.minutes(TestTimeouts.minutes(3))))
    func smoke() async throws {
        let run = try await ProcessRunner.run(RepositoryPaths.binary("chat-bench"), ["--smoke", "--start-server"])
        #expect(run.status == 0, "chat-bench failed:\n\(run.stderr.suffix(4_000))")

        let lines = run.stdout.split(separator: "\n").filter { $0.hasPrefix("{") }
        var seen: [String] = []
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            let fields = try #require(object, "not a JSON object: \(line)")
            let scenario = try #require(fields["scenario"] as? String, "no scenario in \(line)")
            seen.append(scenario)
            #expect(fields["error"] == nil, "\(scenario) failed: \(line)")
            for key in Self.expectedKeys[scenario] ?? [] {
                #expect(fields[key] != nil, "\(scenario) lacks \(key): \(line)")
            }
            if scenario == "relay" {
                // Encrypted end to end as chat-client does, and every message decrypted.
                #expect(fields["encrypted"] as? Bool == true, "\(line)")
                #expect(fields["failures"] as? Int == 0, "\(line)")
                #expect((fields["messages"] as? Int ?? 0) > 0, "\(line)")
            }
        }
        #expect(seen == ["sessions", "relay", "inbox", "handshakes", "login-storm", "slowloris", "files"], "JSON lines: \(seen)")
        #expect(run.stdout.contains("--scrypt-log-n 10"), "the output says how bench accounts are hashed")
    }

    @Test(
        "--nodes 2 on a throw-away PostgreSQL: relay split across the nodes and inbox through both, each saying so",
        .timeLimit(.minutes(TestTimeouts.minutes(3))))
    func twoNodes() async throws {
        let cluster = try await PostgresCluster.sharedCluster()
        let database = try await cluster.newDatabase()
        let postmaster = try #require(cluster.serverPID, "the cluster's postmaster.pid")
        let run = try await ProcessRunner.run(
            RepositoryPaths.binary("chat-bench"),
            [
                "--smoke", "--start-server", "--nodes", "2", "--server-store", cluster.url(database: database),
                "--database-pid", String(postmaster),
            ])
        #expect(run.status == 0, "chat-bench failed:\n\(run.stderr.suffix(4_000))")

        var seen: [String] = []
        for line in run.stdout.split(separator: "\n") where line.hasPrefix("{") {
            let fields = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let scenario = try #require(fields["scenario"] as? String, "no scenario in \(line)")
            seen.append(scenario)
            #expect(fields["error"] == nil, "\(scenario) failed: \(line)")
            #expect(fields["nodes"] as? Int == 2, "\(line)")
            #expect(fields["failures"] as? Int == 0, "\(line)")
            for key in Self.expectedKeys[scenario] ?? [] {
                #expect(fields[key] != nil, "\(scenario) lacks \(key): \(line)")
            }
            let database = scenario == "relay" ? "database_cpu_us_per_msg" : "database_cpu_us_per_store"
            #expect(fields[database] != nil, "\(scenario) lacks \(database): \(line)")
            if scenario == "relay" {
                // Relayed across the nodes (every one answered `stored` first), none lost.
                #expect((fields["messages"] as? Int ?? 0) > 0, "\(line)")
                #expect(fields["unfinished"] as? Int == 0, "\(line)")
            } else {
                #expect(fields["stored"] as? Int == fields["messages"] as? Int, "\(line)")
                #expect(fields["drained"] as? Int == fields["stored"] as? Int, "\(line)")
            }
        }
        #expect(seen == ["relay", "inbox"], "only the scenarios that spread over nodes: \(seen)")
        #expect(run.stdout.contains("2 nodes started by the bench"), "\(run.stdout)")
        #expect(run.stdout.contains("each pair split across two"), "\(run.stdout)")
    }
}

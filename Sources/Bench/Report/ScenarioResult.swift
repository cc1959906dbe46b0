/// What one scenario measured: rows for the human table and the fields of its one JSON
/// line, in a fixed order.
struct ScenarioResult: Sendable {
    /// One line of the results table.
    struct Row: Sendable {
        var scenario: String
        var work: String
        var throughput: String
        var latency: String
        var serverCPU: String
        var notes: String

        var cells: [String] { [scenario, work, throughput, latency, serverCPU, notes] }
    }

    let scenario: String
    private(set) var rows: [Row] = []
    private(set) var fields: [(key: String, value: ResultValue)] = []

    init(scenario: String) {
        self.scenario = scenario
        fields.append(("scenario", .string(scenario)))
    }

    /// Adds a table row.
    mutating func addRow(_ row: Row) {
        rows.append(row)
    }

    /// Sets a JSON field (appended in call order; a repeated key replaces the value).
    mutating func set(_ key: String, _ value: ResultValue) {
        if let index = fields.firstIndex(where: { $0.key == key }) {
            fields[index].value = value
        } else {
            fields.append((key, value))
        }
    }

    mutating func set(_ key: String, _ value: Int) { set(key, .int(value)) }
    mutating func set(_ key: String, _ value: Double, digits: Int = 1) { set(key, .number(value, digits: digits)) }
    mutating func set(_ key: String, _ value: String) { set(key, .string(value)) }
    mutating func set(_ key: String, _ value: Double?, digits: Int = 1) {
        set(key, value.map { .number($0, digits: digits) } ?? .null)
    }

    /// Sets `<prefix>p50_us` ... `<prefix>max_us` from `summary`.
    mutating func setLatency(_ summary: LatencySummary, prefix: String = "") {
        set(prefix + "p50_us", summary.p50)
        set(prefix + "p99_us", summary.p99)
        set(prefix + "p999_us", summary.p999)
        set(prefix + "max_us", summary.max)
    }

    /// The one JSON line.
    var jsonLine: String {
        "{" + fields.map { ResultValue.quoted($0.key) + ":" + $0.value.json }.joined(separator: ",") + "}"
    }

    /// A result for a scenario that could not run.
    static func failed(_ scenario: String, error: Error) -> ScenarioResult {
        var result = ScenarioResult(scenario: scenario)
        result.set("error", "\(error)")
        result.addRow(Row(scenario: scenario, work: "FAILED", throughput: "-", latency: "-", serverCPU: "-", notes: "\(error)"))
        return result
    }
}

import Shared

/// The results on standard output: each scenario's table rows and JSON line as soon as it
/// finishes, then the whole table again, aligned, at the end.
final class ResultTable {
    static let header = ScenarioResult.Row(
        scenario: "scenario", work: "work", throughput: "throughput",
        latency: "latency p50 / p99 / p999 / max", serverCPU: "server CPU per unit", notes: "notes")

    private var rows: [ScenarioResult.Row] = []
    private var printedHeader = false

    /// A line of context (how the server was started, the machine) before the results.
    func note(_ text: String) {
        Console.writeLine("# \(text)")
    }

    /// Prints `result` at once: its rows, then its JSON line.
    func add(_ result: ScenarioResult) {
        if !printedHeader {
            printedHeader = true
            Console.writeLine(Self.render(Self.header, widths: nil))
        }
        for row in result.rows {
            rows.append(row)
            Console.writeLine(Self.render(row, widths: nil))
        }
        Console.writeLine(result.jsonLine)
    }

    /// Prints every row again as one aligned Markdown table.
    func printSummary() {
        guard !rows.isEmpty else { return }
        let all = [Self.header] + rows
        var widths = [Int](repeating: 0, count: Self.header.cells.count)
        for row in all {
            for (index, cell) in row.cells.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        Console.writeLine("")
        Console.writeLine(Self.render(Self.header, widths: widths))
        Console.writeLine("|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|")
        for row in rows { Console.writeLine(Self.render(row, widths: widths)) }
    }

    private static func render(_ row: ScenarioResult.Row, widths: [Int]?) -> String {
        let cells = row.cells.enumerated().map { index, cell in
            let width = widths?[index] ?? 0
            return " " + cell + String(repeating: " ", count: max(0, width - cell.count)) + " "
        }
        return "|" + cells.joined(separator: "|") + "|"
    }
}

@available(*, unavailable)
extension ResultTable: Sendable {}

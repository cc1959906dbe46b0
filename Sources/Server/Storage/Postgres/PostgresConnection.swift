internal import CPostgreSQL
#if canImport(Glibc)
import Glibc
#endif

/// What went wrong talking to PostgreSQL, by what the caller must do about it.
enum PostgresError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The server could not be reached, refused the login, or the connection broke: the
    /// database is unavailable until a reconnect succeeds.
    case unavailable(String)
    /// The statement failed; `sqlState` is PostgreSQL's five-character code (for example
    /// `23505` for a unique violation, `40001` for a serialisation failure).
    case statementFailed(sqlState: String, message: String)

    var description: String {
        switch self {
        case .unavailable(let message): "database unavailable: \(message)"
        case .statementFailed(let state, let message): "statement failed (\(state)): \(message)"
        }
    }

    /// PostgreSQL's five-character code for a failed statement; nil when unavailable.
    var sqlState: String? {
        if case .statementFailed(let state, _) = self { return state }
        return nil
    }

    /// A unique or primary-key constraint refused the row.
    var isUniqueViolation: Bool {
        if case .statementFailed("23505", _) = self { return true }
        return false
    }
}

/// The rows a statement returned, copied out of libpq's result (text format).
struct PostgresRows: Sendable {
    /// One array per row, one value per column; nil is SQL NULL.
    var rows: [[String?]]
    /// Rows inserted, updated or deleted (0 for other statements).
    var affected: Int

    /// The first column of the first row.
    var scalar: String? { rows.first?.first ?? nil }
}

/// A notification received on a channel this connection listens on.
struct PostgresNotification: Sendable, Equatable {
    let channel: String
    let payload: String
}

/// One libpq connection: statements with parameters, transactions, LISTEN/NOTIFY.
///
/// libpq's calls block, so a connection belongs to one thread at a time (`PostgresPool`
/// lends connections to its own threads, and the inbox writer has one of its own; nothing
/// here runs on an event loop). Parameters
/// travel separately from the SQL text (`PQexecParams`), never spliced into it.
final class PostgresConnection {
    private let handle: OpaquePointer

    /// Connects with a libpq connection string or URL (`postgres://user@host/db`,
    /// `host=/run/postgresql dbname=chat`).
    ///
    /// Unless the string says otherwise, a connection attempt gives up after
    /// `connectTimeoutSeconds` (libpq's default waits for ever on an unreachable host, and
    /// each attempt holds one of the store's threads) and names itself `chat-server` in
    /// `pg_stat_activity`.
    init(_ connectionString: String) throws(PostgresError) {
        // libpq expands `dbname` as a whole connection string; what it holds overrides the
        // defaults before it.
        let keywords = ["connect_timeout", "application_name", "dbname"]
        let values = [String(Self.connectTimeoutSeconds), "chat-server", connectionString]
        let connected: OpaquePointer? = Self.withCStrings(keywords) { keywords in
            Self.withCStrings(values) { values in
                PQconnectdbParams(keywords + [nil], values + [nil], 1)
            }
        }
        guard let handle = connected else {
            throw .unavailable("out of memory")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = Self.errorMessage(handle)
            PQfinish(handle)
            throw .unavailable(message)
        }
        self.handle = handle
        // Quiet the server's NOTICE chatter (CREATE TABLE IF NOT EXISTS and the like).
        _ = try? execute("SET client_min_messages TO warning")
    }

    deinit {
        PQfinish(handle)
    }

    /// Seconds a connection attempt may take, unless the connection string sets
    /// `connect_timeout`.
    static let connectTimeoutSeconds = 5

    /// True while the connection works (false after the server went away).
    var isConnected: Bool { PQstatus(handle) == CONNECTION_OK }

    /// Reads what the server sent meanwhile, without blocking, and says whether the
    /// connection still works: a connection that sat idle while the server restarted
    /// learns here that it was cut, before a statement is sent on it.
    ///
    /// Read twice: a server shutting down sends a FATAL notice before it closes the socket,
    /// and the read that takes the notice succeeds; only the next one meets the end of the
    /// stream.
    var isAlive: Bool {
        PQconsumeInput(handle) == 1 && PQconsumeInput(handle) == 1 && isConnected
    }

    /// The socket, to wait on for notifications.
    var socket: Int32 { PQsocket(handle) }

    /// Runs one statement with `$1`, `$2`… bound to `parameters` (text; nil is NULL).
    @discardableResult
    func execute(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> PostgresRows {
        let result: OpaquePointer? = Self.withCStrings(parameters) { values in
            PQexecParams(handle, sql, Int32(values.count), nil, values, nil, nil, 0)
        }
        guard let result else {
            throw .unavailable(Self.errorMessage(handle))
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
            return Self.rows(of: result)
        default:
            let message = Self.resultMessage(result, fallback: Self.errorMessage(handle))
            guard isConnected, let state = Self.field(result, code: "C") else {
                throw .unavailable(message)
            }
            throw .statementFailed(sqlState: state, message: message)
        }
    }

    /// Runs SQL without parameters that may hold several statements (a migration), through
    /// libpq's simple-query protocol; the statements run in one implicit transaction unless
    /// the caller has one open.
    func executeScript(_ sql: String) throws(PostgresError) {
        guard let result = PQexec(handle, sql) else {
            throw .unavailable(Self.errorMessage(handle))
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
            return
        default:
            let message = Self.resultMessage(result, fallback: Self.errorMessage(handle))
            guard isConnected, let state = Self.field(result, code: "C") else {
                throw .unavailable(message)
            }
            throw .statementFailed(sqlState: state, message: message)
        }
    }

    /// Runs `statements` as one pipeline: all sent at once, then all results read, so they
    /// cost one round trip to the server instead of one each (what matters when the server
    /// process must be woken for every round trip on a busy machine). Returns each
    /// statement's rows, in order.
    ///
    /// After a failing statement the server skips the rest of the pipeline; the error is
    /// thrown once every result has been read, and a transaction opened in the pipeline is
    /// then still open (aborted): the caller rolls it back.
    @discardableResult
    func pipeline(_ statements: [(sql: String, parameters: [String?])]) throws(PostgresError) -> [PostgresRows] {
        guard PQenterPipelineMode(handle) == 1 else {
            throw .unavailable(Self.errorMessage(handle))
        }
        defer { PQexitPipelineMode(handle) }
        for statement in statements {
            let sent = Self.withCStrings(statement.parameters) { values in
                PQsendQueryParams(handle, statement.sql, Int32(values.count), nil, values, nil, nil, 0)
            }
            guard sent == 1 else {
                throw .unavailable(Self.errorMessage(handle))
            }
        }
        guard PQpipelineSync(handle) == 1 else {
            throw .unavailable(Self.errorMessage(handle))
        }
        var rows: [PostgresRows] = []
        var failure: PostgresError?
        // Each statement's results end with a NULL; the sync point ends the pipeline.
        while true {
            guard let result = PQgetResult(handle) else {
                guard isConnected else {
                    throw .unavailable(Self.errorMessage(handle))
                }
                continue
            }
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_PIPELINE_SYNC:
                if let failure {
                    throw failure
                }
                return rows
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
                rows.append(Self.rows(of: result))
            case PGRES_PIPELINE_ABORTED:
                continue
            default:
                let message = Self.resultMessage(result, fallback: Self.errorMessage(handle))
                guard isConnected, let state = Self.field(result, code: "C") else {
                    throw .unavailable(message)
                }
                failure = failure ?? .statementFailed(sqlState: state, message: message)
            }
        }
    }

    /// Runs `body` inside a transaction: committed when it returns, rolled back when it
    /// throws. `isolation` is the SQL after `BEGIN ISOLATION LEVEL`.
    @discardableResult
    func transaction<T>(isolation: String = "READ COMMITTED", _ body: () throws -> T) throws -> T {
        try execute("BEGIN ISOLATION LEVEL \(isolation)")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            if isConnected { _ = try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Starts listening on `channel` (a fixed identifier of ours, never user input).
    func listen(_ channel: String) throws(PostgresError) {
        try execute("LISTEN \(channel)")
    }

    /// Reads what the server sent and returns the notifications that arrived, without
    /// blocking.
    func notifications() throws(PostgresError) -> [PostgresNotification] {
        guard PQconsumeInput(handle) == 1 else {
            throw .unavailable(Self.errorMessage(handle))
        }
        var received: [PostgresNotification] = []
        while let notify = PQnotifies(handle) {
            received.append(
                PostgresNotification(
                    channel: String(cString: notify.pointee.relname),
                    payload: String(cString: notify.pointee.extra)))
            PQfreemem(notify)
        }
        return received
    }

    // MARK: - libpq plumbing

    private static func rows(of result: OpaquePointer) -> PostgresRows {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        var rows: [[String?]] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    values.append(nil)
                } else {
                    values.append(String(cString: PQgetvalue(result, Int32(row), Int32(column))))
                }
            }
            rows.append(values)
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PostgresRows(rows: rows, affected: affected)
    }

    private static func field(_ result: OpaquePointer, code: Character) -> String? {
        guard let ascii = code.asciiValue, let value = PQresultErrorField(result, Int32(ascii)) else { return nil }
        return String(cString: value)
    }

    private static func resultMessage(_ result: OpaquePointer, fallback: String) -> String {
        field(result, code: "M") ?? fallback
    }

    /// libpq's last error for the connection, on one line.
    private static func errorMessage(_ handle: OpaquePointer) -> String {
        guard let raw = PQerrorMessage(handle) else { return "unknown error" }
        let text = String(cString: raw).split(whereSeparator: \.isNewline).joined(separator: " ")
        return text.isEmpty ? "unknown error" : text
    }

    /// Calls `body` with the strings as NUL-terminated C strings (nil stays NULL).
    private static func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        let copies: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } ?? nil }
        defer { copies.forEach { free($0) } }
        return body(copies.map { UnsafePointer($0) })
    }
}

@available(*, unavailable)
extension PostgresConnection: Sendable {}

import NIOPosix
import Shared

/// Connections to one database and threads of the pool's own to use them on: libpq's calls
/// block, so they never run on an event loop or on Swift's cooperative pool.
///
/// Each call takes an idle connection (or opens one) on one of the threads, runs, and gives
/// it back; a connection that failed as "unavailable" (the server went away) is dropped
/// instead, so the next call connects afresh and the store works again, without a restart,
/// once the database is back. A connection that sat idle is checked before use, so one cut
/// while it waited does not fail a call when the database is already back.
final class PostgresPool: Sendable {
    /// The database, redacted, for error messages.
    let database: String

    private let connectionString: String
    private let threads: NIOThreadPool
    private let idle = Locked<(connections: [PostgresConnection], isClosed: Bool)>(([], false))

    /// Starts `threadCount` threads for the database at `location`; connects lazily.
    init(_ location: PostgresLocation, threads threadCount: Int) {
        database = location.description
        connectionString = location.connectionString
        threads = NIOThreadPool(numberOfThreads: threadCount)
        threads.start()
    }

    deinit {
        // NIOThreadPool asserts it was shut down before it goes; a store dropped without
        // close() must not crash the process for that.
        threads.shutdownGracefully { _ in }
    }

    /// Runs `body` with a connection on one of the pool's threads.
    ///
    /// - Throws: `StorageError` from `body`'s failure, or `.closed` after `close()`.
    func run<Value: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> Value
    ) async throws -> Value {
        let result: Result<Value, any Error>
        do {
            result = try await threads.runIfActive { self.runNow(body) }
        } catch {
            // The pool refused the work: it is shut down, or the task was cancelled first.
            throw StorageError.closed(database)
        }
        return try result.get()
    }

    /// Closes the idle connections and stops the threads once their work is done. Calls
    /// after this throw `.closed`; calling it again does nothing.
    func close() async {
        idle.withLock { idle in
            idle.isClosed = true
            idle.connections.removeAll()
        }
        try? await threads.shutdownGracefully()
    }

    /// `run`'s work, on a pool thread.
    private func runNow<Value>(_ body: (PostgresConnection) throws -> Value) -> Result<Value, any Error> {
        let connection: PostgresConnection
        do {
            connection = try checkOut()
        } catch {
            return .failure(error)
        }
        do {
            let value = try body(connection)
            checkIn(connection)
            return .success(value)
        } catch let error as PostgresError {
            if case .statementFailed = error, connection.isConnected {
                checkIn(connection)
            }
            return .failure(StorageError(error, database: database))
        } catch {
            checkIn(connection)
            return .failure(error)
        }
    }

    private func checkOut() throws(StorageError) -> PostgresConnection {
        while true {
            let reused = try idle.withLock { idle throws(StorageError) -> PostgresConnection? in
                guard !idle.isClosed else {
                    throw .closed(database)
                }
                return idle.connections.popLast()
            }
            guard let reused else {
                break
            }
            if reused.isAlive {
                return reused
            }
        }
        do {
            return try PostgresConnection(connectionString)
        } catch {
            throw StorageError(error, database: database)
        }
    }

    private func checkIn(_ connection: PostgresConnection) {
        idle.withLock { idle in
            if !idle.isClosed {
                idle.connections.append(connection)
            }
        }
    }
}

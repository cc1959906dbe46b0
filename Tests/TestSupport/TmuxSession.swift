import Foundation

/// A real pseudo-terminal: a detached tmux session on a private socket, typed into with
/// send-keys and read with capture-pane, as a person at a terminal would.
public final class TmuxSession {
    private let socket: String
    private let name = "chat"
    private let scratch: TemporaryDirectory
    /// The tmux server's process id (0 if tmux would not say).
    private var serverPID: Int32 = 0

    /// Starts a plain bash in a new 160x50 terminal.
    public init() throws {
        scratch = try TemporaryDirectory(prefix: "tmux")
        socket = scratch.appending("tmux.sock")
        let started = try tmux(["new-session", "-d", "-s", name, "-x", "160", "-y", "50", "bash --norc --noprofile"])
        guard started.status == 0 else {
            throw FixtureError("tmux did not start: \(started.stderr)")
        }
        // Every run used to leave its tmux servers behind: they are ended by pid from now
        // on, in deinit and, for a test process killed before deinit runs, by a watchdog
        // in a background window of the server's own.
        let pidText = try tmux(["display-message", "-p", "-t", name, "#{pid}"]).stdout
        serverPID = Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        if serverPID > 0 {
            let watchdog = "while kill -0 \(getpid()) 2>/dev/null; do sleep 2; done; kill \(serverPID)"
            try tmux(["new-window", "-d", "-t", name, "sh -c '\(watchdog)'"])
        }
    }

    /// Types `text` literally, then Enter unless told otherwise.
    public func type(_ text: String, enter: Bool = true) throws {
        try tmux(["send-keys", "-t", name, "-l", text])
        if enter { try tmux(["send-keys", "-t", name, "Enter"]) }
    }

    /// Sends a key by tmux name, such as "C-c" or "C-d".
    public func press(_ key: String) throws {
        try tmux(["send-keys", "-t", name, key])
    }

    /// The whole screen plus scrollback, as text.
    public func screen() throws -> String {
        try tmux(["capture-pane", "-p", "-t", name, "-S", "-500"]).stdout
    }

    /// Waits until the screen (with scrollback) shows `text`, at least `occurrence` times;
    /// false after `timeout` seconds.
    public func waitFor(_ text: String, occurrence: Int = 1, timeout: Double = 15) async throws -> Bool {
        let deadline = Date().addingTimeInterval(TestTimeouts.scaled(timeout))
        while Date() < deadline {
            if try screen().components(separatedBy: text).count - 1 >= occurrence { return true }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        return false
    }

    @discardableResult
    private func tmux(_ arguments: [String]) throws -> ProcessResult {
        // Not ProcessRunner: tmux leaves its server behind, see Spawn.
        try Spawn.run("/usr/bin/tmux", ["-S", socket] + arguments, environment: Self.environment)
    }

    /// CI runs without a terminal; tmux wants TERM set. No NO_COLOR games: a plain shell.
    private static var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["TERM"] = environment["TERM"] ?? "xterm"
        return environment
    }

    deinit {
        _ = try? tmux(["kill-server"])
        if serverPID > 0 { kill(serverPID, SIGTERM) }
        scratch.remove()
    }
}

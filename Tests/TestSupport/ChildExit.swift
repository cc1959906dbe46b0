import Foundation

/// Waits for a Foundation `Process` to end without trusting `waitUntilExit()` alone.
///
/// Seen here under AddressSanitizer: a `chat-server` exited, stayed a zombie, and
/// `waitUntilExit()` spun for minutes because Foundation never noticed. So this polls,
/// and if the child is a zombie Foundation has not reaped, reaps it itself; if the child
/// is gone altogether while Foundation still says it runs, it stops waiting (-1).
public enum ChildExit {
    /// The exit status (or 128 + signal) once `process` has ended; sends SIGKILL after
    /// `timeout` seconds (scaled) if it has not.
    public static func wait(for process: Process, timeout: Double) -> Int32 {
        var watch = Watch(process: process, timeout: timeout)
        while true {
            if let status = watch.poll() { return status }
            usleep(20_000)
        }
    }

    /// The same, sleeping between polls, for async tests.
    public static func wait(for process: Process, timeout: Double) async -> Int32 {
        var watch = Watch(process: process, timeout: timeout)
        while true {
            if let status = watch.poll() { return status }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    /// One wait in progress: `poll()` is called every 20 ms until it has a status.
    private struct Watch {
        let process: Process
        let pid: Int32
        let deadline: Date
        var killed = false
        /// Set when the pid is gone but Foundation still says the process runs.
        var goneSince: Date?

        init(process: Process, timeout: Double) {
            self.process = process
            pid = process.processIdentifier
            deadline = Date().addingTimeInterval(TestTimeouts.scaled(timeout))
        }

        mutating func poll() -> Int32? {
            guard process.isRunning else {
                return process.terminationReason == .uncaughtSignal
                    ? 128 + process.terminationStatus : process.terminationStatus
            }
            if isZombie(pid) {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid { return decode(status) }
            }
            if !killed, Date() >= deadline {
                kill(pid, SIGKILL)
                killed = true
            }
            // Reaped by Foundation, which updates `isRunning` a moment later; if it never
            // does (seen once, a test hung here), stop waiting after a few seconds.
            if kill(pid, 0) != 0, errno == ESRCH {
                let since = goneSince ?? Date()
                goneSince = since
                if Date().timeIntervalSince(since) > 5 { return -1 }
            }
            if killed, Date() >= deadline.addingTimeInterval(10) { return -1 }
            return nil
        }
    }

    /// True when /proc says the process has exited and waits to be reaped.
    private static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    /// A waitpid status as a shell would report it: the exit code, or 128 + the signal.
    private static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }
}

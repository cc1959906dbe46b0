#if canImport(Glibc)
import Glibc
#endif

/// The process's open-file limit: every connection is a socket, so the server's default
/// of 10,000 connections (and the bench's 10,000 sessions) need more than the usual soft
/// limit of 1,024.
public enum FileDescriptorLimit {
    /// Raises the soft limit to the hard limit and returns the new soft limit (or the old
    /// one when raising failed). Child processes started afterwards inherit it.
    public static func raiseToHard() -> Int {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return 1_024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resource, &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur >= rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
    }

    /// `raiseToHard`, and when that leaves fewer than `wanted` descriptors, raises the
    /// hard limit too, up to `wanted` or the kernel's ceiling (`/proc/sys/fs/nr_open`),
    /// which only a privileged process (root) may do; otherwise the hard limit stands.
    /// Returns the new soft limit.
    public static func raise(toAtLeast wanted: Int) -> Int {
        let soft = raiseToHard()
        guard soft < wanted else { return soft }
        let ceiling = kernelCeiling() ?? wanted
        var raised = rlimit()
        raised.rlim_cur = rlim_t(min(wanted, ceiling))
        raised.rlim_max = raised.rlim_cur
        guard setrlimit(resource, &raised) == 0 else { return soft }
        return Int(raised.rlim_cur)
    }

    /// The most descriptors any process may have (`fs.nr_open`), if it can be read.
    private static func kernelCeiling() -> Int? {
        guard let file = fopen("/proc/sys/fs/nr_open", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 32)
        guard fgets(&line, Int32(line.count), file) != nil else { return nil }
        let digits = line.prefix { $0 >= 0x30 && $0 <= 0x39 }.map { UInt8($0) }
        return Int(String(decoding: digits, as: UTF8.self)).flatMap { $0 > 0 ? $0 : nil }
    }

    private static var resource: __rlimit_resource_t {
        __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    }
}

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

    private static var resource: __rlimit_resource_t {
        __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    }
}

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Names OS users for the admin log.
enum OperatorIdentity {
    /// The user running this process, as the admin log names them when `chat-server admin`
    /// opens the store itself: "alice (uid 1000)", and who ran sudo if it was used.
    static func current(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let uid = getuid()
        var text = "\(name(of: uid)) (uid \(uid))"
        if uid == 0, let invoker = environment["SUDO_USER"], !invoker.isEmpty {
            text += " via sudo by \(invoker)"
        }
        return text
    }

    /// The login name of `uid` from the password database; "uid N" if it has none.
    static func name(of uid: uid_t) -> String {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        let status = getpwuid_r(uid, &entry, &buffer, buffer.count, &result)
        guard status == 0, result != nil, let name = entry.pw_name else {
            return "uid \(uid)"
        }
        return String(cString: name)
    }
}

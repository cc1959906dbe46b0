import Foundation

extension StateDirectory {
    /// Where the state of `username` on the server at `host`:`port` lives:
    ///
    /// 1. `explicitPath` (the client's `--state-dir`), when given and not empty: that path is
    ///    the per-user directory itself;
    /// 2. else `$XDG_DATA_HOME/secure-chat/SERVER/USER`, when `XDG_DATA_HOME` is an absolute
    ///    path (the XDG spec says to ignore a relative one);
    /// 3. else `$HOME/.local/share/secure-chat/SERVER/USER`.
    ///
    /// SERVER is `host_port` and USER the lower-cased username, each made safe for a file name
    /// by `fileNameComponent`. `environment` is passed in so tests need not change the
    /// process's own.
    ///
    /// - Throws: `StateDirectoryError.noLocation` if none of the three is available.
    public static func resolvePath(
        explicitPath: String?,
        host: String,
        port: Int,
        username: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(StateDirectoryError) -> String {
        if let explicitPath, !explicitPath.isEmpty {
            return explicitPath
        }
        let base: String
        if let dataHome = environment["XDG_DATA_HOME"], dataHome.hasPrefix("/") {
            base = dataHome
        } else if let home = environment["HOME"], home.hasPrefix("/") {
            base = home + "/.local/share"
        } else {
            throw .noLocation
        }
        let server = fileNameComponent(host.lowercased()) + "_" + String(port)
        let user = fileNameComponent(username.lowercased())
        return [base, "secure-chat", server, user].joined(separator: "/")
    }

    /// `raw` as one safe path component: ASCII letters, digits, `_`, `-` and `.` kept; anything
    /// else (`/`, `:`, `%`, non-ASCII bytes) and a leading `.` written as `%XX`. The mapping is
    /// one-to-one, so two hosts or users never share a directory (`host_port` stays one-to-one
    /// too: the port, all digits, follows the last `_`), and no result is `.`, `..`, hidden,
    /// or empty (the empty string becomes `%`).
    static func fileNameComponent(_ raw: String) -> String {
        guard !raw.isEmpty else { return "%" }
        var result = ""
        for (index, byte) in raw.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: ".") where index > 0:
                result.append(".")
            default:
                result += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return result
    }
}

private extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

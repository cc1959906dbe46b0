import ArgumentParser

/// What a path for the admin socket must be.
enum AdminSocketAddress {
    /// `sun_path` holds 108 bytes on Linux, the terminating NUL included.
    static let maximumLength = 107

    /// - Throws: `ValidationError` when `path` cannot name a Unix domain socket.
    static func validate(_ path: String) throws {
        guard !path.isEmpty else {
            throw ValidationError("--admin-socket needs a path")
        }
        guard path.utf8.count <= maximumLength else {
            throw ValidationError(tooLong(path))
        }
    }

    /// Why `path` is refused, for the operator.
    static func tooLong(_ path: String) -> String {
        "the admin socket path \(path) is \(path.utf8.count) bytes; a Unix socket path may have at most "
            + "\(maximumLength): use a shorter data directory or --admin-socket"
    }
}

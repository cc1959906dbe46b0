/// Where the server keeps its accounts and inboxes: a backend and its address, written
/// `BACKEND:ADDRESS` on the command line (`--store gdbm:data`).
///
/// A new backend adds a case, its name in `init(parsing:)` and `description`, and its
/// branch in `StorageBackend.open`; the address after the first colon is the backend's own
/// (a URL such as `postgres://host/db` keeps its `//`).
enum StorageLocation: Sendable, Equatable, CustomStringConvertible {
    /// GDBM files in a data directory, created (0700) if missing.
    case gdbm(directory: String)

    /// Where the server keeps its data unless told otherwise: `gdbm:data`.
    static let `default` = StorageLocation.gdbm(directory: "data")

    /// Why a location could not be parsed; the description is fit to show the user.
    struct ParseError: Error, Equatable, CustomStringConvertible {
        let description: String
    }

    /// Parses `BACKEND:ADDRESS`, for example `gdbm:/var/lib/chat`.
    ///
    /// - Throws: `ParseError` naming what is wrong and the form expected.
    init(parsing text: String) throws(ParseError) {
        guard let colon = text.firstIndex(of: ":") else {
            throw ParseError(description: "'\(text)' names no backend; expected gdbm:DIRECTORY")
        }
        let backend = text[..<colon]
        let address = String(text[text.index(after: colon)...])
        switch backend {
        case "gdbm":
            guard !address.isEmpty else {
                throw ParseError(description: "'\(text)' names no directory; expected gdbm:DIRECTORY")
            }
            self = .gdbm(directory: address)
        default:
            throw ParseError(description: "unknown storage backend '\(backend)' in '\(text)'; expected gdbm:DIRECTORY")
        }
    }

    /// The form `init(parsing:)` reads.
    var description: String {
        switch self {
        case .gdbm(let directory):
            return "gdbm:\(directory)"
        }
    }
}

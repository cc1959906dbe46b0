/// Where the server keeps its accounts, inboxes and published keys: a backend and its
/// address, written `BACKEND:ADDRESS` on the command line (`--store gdbm:data`).
///
/// A new backend adds a case, its name in `init(parsing:)` and `description`, and its
/// branch in `StorageBackend.open`; the address after the first colon is the backend's own
/// (a URL such as `postgres://host/db` keeps its `//`).
enum StorageLocation: Sendable, Equatable, CustomStringConvertible {
    /// GDBM files in a data directory, created (0700) if missing.
    case gdbm(directory: String)
    /// A PostgreSQL database, shared by every server that names it.
    case postgres(PostgresLocation)

    /// Where the server keeps its data unless told otherwise: `gdbm:data`.
    static let `default` = StorageLocation.gdbm(directory: "data")

    /// The environment variable read when neither `--store` nor `--data-dir` is given, so a
    /// database password need not appear on a command line (where `ps` shows it).
    static let environmentVariable = "CHAT_STORE"

    /// The forms `init(parsing:)` reads, for error messages.
    static let expectedForms = "expected gdbm:DIRECTORY, postgres://USER@HOST/DB or postgres:KEYWORD=VALUE ..."

    /// Why a location could not be parsed; the description is fit to show the user.
    struct ParseError: Error, Equatable, CustomStringConvertible {
        let description: String
    }

    /// Parses `BACKEND:ADDRESS`: `gdbm:/var/lib/chat`, a PostgreSQL URL
    /// (`postgres://chat@db.example/chat`, `postgresql://...`), or `postgres:` followed by a
    /// libpq keyword string (`postgres:host=/run/postgresql dbname=chat`).
    ///
    /// - Throws: `ParseError` naming what is wrong and the form expected; it never shows a
    ///   password.
    init(parsing text: String) throws(ParseError) {
        guard let colon = text.firstIndex(of: ":") else {
            throw ParseError(description: "'\(text)' names no backend; \(Self.expectedForms)")
        }
        let backend = text[..<colon]
        let address = String(text[text.index(after: colon)...])
        switch backend {
        case "gdbm":
            guard !address.isEmpty else {
                throw ParseError(description: "'\(text)' names no directory; expected gdbm:DIRECTORY")
            }
            self = .gdbm(directory: address)
        case "postgres", "postgresql":
            // A URL is libpq's own form, scheme included; anything else is a keyword string.
            let connectionString = address.hasPrefix("//") ? text : address
            guard !address.isEmpty, address != "//" else {
                throw ParseError(
                    description: "'\(text)' names no database; expected postgres://USER@HOST/DB or postgres:KEYWORD=VALUE ...")
            }
            self = .postgres(try PostgresLocation(parsing: connectionString))
        default:
            throw ParseError(description: "unknown storage backend '\(backend)' in '\(PostgresLocation.redact(text))'; \(Self.expectedForms)")
        }
    }

    /// The form `init(parsing:)` reads, with any password replaced by `***`.
    var description: String {
        switch self {
        case .gdbm(let directory):
            return "gdbm:\(directory)"
        case .postgres(let location):
            return location.connectionString.contains("://") ? location.description : "postgres:\(location.description)"
        }
    }
}

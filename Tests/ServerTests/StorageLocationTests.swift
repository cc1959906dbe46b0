import Testing

@testable import Server

@Suite("StorageLocation and --store")
struct StorageLocationTests {
    @Test("gdbm:DIR names a data directory; the rest after the first colon is the address")
    func parsesGDBM() throws {
        #expect(try StorageLocation(parsing: "gdbm:data") == .gdbm(directory: "data"))
        #expect(try StorageLocation(parsing: "gdbm:/var/lib/chat") == .gdbm(directory: "/var/lib/chat"))
        #expect(try StorageLocation(parsing: "gdbm:odd:name") == .gdbm(directory: "odd:name"))
        #expect(StorageLocation.gdbm(directory: "/var/lib/chat").description == "gdbm:/var/lib/chat")
        #expect(StorageLocation.default == .gdbm(directory: "data"))
    }

    @Test("a location without a backend, with an unknown one, or without an address is refused, saying why")
    func refusesMalformed() {
        #expect(throws: StorageLocation.ParseError(description: "'data' names no backend; \(StorageLocation.expectedForms)")) {
            try StorageLocation(parsing: "data")
        }
        #expect(throws: StorageLocation.ParseError(description: "'gdbm:' names no directory; expected gdbm:DIRECTORY")) {
            try StorageLocation(parsing: "gdbm:")
        }
        #expect(
            throws: StorageLocation.ParseError(
                description: "unknown storage backend 'sqlite' in 'sqlite:chat.db'; \(StorageLocation.expectedForms)")
        ) {
            try StorageLocation(parsing: "sqlite:chat.db")
        }
    }

    @Test("--store, or --data-dir as its short form, or neither for the default")
    func commandLine() throws {
        #expect(try ServerCommand.parse([]).serverConfiguration.storage == StorageLocation.default)
        #expect(try ServerCommand.parse(["--store", "gdbm:/srv/chat"]).serverConfiguration.storage == .gdbm(directory: "/srv/chat"))
        #expect(try ServerCommand.parse(["--data-dir", "/srv/chat"]).serverConfiguration.storage == .gdbm(directory: "/srv/chat"))
        #expect(ServerConfiguration().storage == StorageLocation.default)
    }

    @Test("--store and --data-dir together, or a malformed --store, is a usage error")
    func commandLineErrors() {
        #expect {
            try ServerCommand.parse(["--store", "gdbm:a", "--data-dir", "b"])
        } throws: { error in
            ServerCommand.message(for: error).contains("give one of them, not both")
        }
        #expect {
            try ServerCommand.parse(["--store", "mysql:chat"])
        } throws: { error in
            ServerCommand.message(for: error).contains("unknown storage backend 'mysql'")
        }
    }

    @Test("postgres:// and postgresql:// URLs are libpq's own; postgres: before keywords is a keyword string")
    func parsesPostgres() throws {
        let url = try StorageLocation(parsing: "postgres://chat@db.example/chat")
        #expect(url == .postgres(try PostgresLocation(parsing: "postgres://chat@db.example/chat")))
        #expect(url.description == "postgres://chat@db.example/chat")
        guard case .postgres(let long) = try StorageLocation(parsing: "postgresql://chat@/chat?host=/run/postgresql") else {
            Issue.record("not a PostgreSQL location")
            return
        }
        #expect(long.connectionString == "postgresql://chat@/chat?host=/run/postgresql")
        guard case .postgres(let keywords) = try StorageLocation(parsing: "postgres:host=/run/postgresql dbname=chat") else {
            Issue.record("not a PostgreSQL location")
            return
        }
        #expect(keywords.connectionString == "host=/run/postgresql dbname=chat")
        #expect(StorageLocation.postgres(keywords).description == "postgres:host=/run/postgresql dbname=chat")
    }

    @Test("a malformed PostgreSQL location is refused with libpq's reason, never showing the password")
    func refusesMalformedPostgres() {
        #expect {
            try StorageLocation(parsing: "postgres:host=/tmp password=hunter2 dbname")
        } throws: { error in
            let text = "\(error)"
            return text.contains("is not a PostgreSQL connection string") && !text.contains("hunter2") && text.contains("***")
        }
        #expect {
            try StorageLocation(parsing: "postgres:nonsense=1")
        } throws: { error in
            "\(error)".contains("invalid connection option \"nonsense\"")
        }
        #expect {
            try StorageLocation(parsing: "postgres:")
        } throws: { error in
            "\(error)".contains("names no database")
        }
    }

    @Test("a password is redacted wherever the location is shown: URL user info, query, keywords (quoted or not)")
    func redactsPasswords() throws {
        let cases: [(String, String)] = [
            ("postgres://chat:s3cret@db.example:5432/chat", "postgres://chat:***@db.example:5432/chat"),
            ("postgresql://chat:p%40ss@db/chat?sslmode=require", "postgresql://chat:***@db/chat?sslmode=require"),
            ("postgres://chat@db/chat?sslmode=require&password=s3cret", "postgres://chat@db/chat?sslmode=require&password=***"),
            ("postgres:host=db password=s3cret dbname=chat", "postgres:host=db password=*** dbname=chat"),
            ("postgres:host=db password = 'it\\'s s3cret' dbname=chat", "postgres:host=db password = *** dbname=chat"),
            ("postgres://chat@db/chat", "postgres://chat@db/chat"),
        ]
        for (text, shown) in cases {
            let location = try StorageLocation(parsing: text)
            #expect(location.description == shown, "\(text)")
            #expect(!location.description.contains("s3cret"))
            #expect(!"\(ServerConfiguration.with(location))".contains("s3cret"))
        }
    }

    @Test("without --store or --data-dir, CHAT_STORE names the location; the options win over it")
    func environment() throws {
        let environment = ["CHAT_STORE": "postgres://chat:s3cret@db/chat"]
        var configuration = ServerConfiguration()
        try ServerCommand.parse([]).store.apply(to: &configuration, environment: environment)
        #expect(configuration.storage == (try StorageLocation(parsing: "postgres://chat:s3cret@db/chat")))
        configuration = ServerConfiguration()
        try ServerCommand.parse(["--data-dir", "/srv/chat"]).store.apply(to: &configuration, environment: environment)
        #expect(configuration.storage == .gdbm(directory: "/srv/chat"))
        #expect {
            try ServerCommand.parse([]).store.location(environment: ["CHAT_STORE": "postgres:password=s3cret bogus"])
        } throws: { error in
            let text = ServerCommand.message(for: error)
            return text.contains("$CHAT_STORE") && !text.contains("s3cret")
        }
    }
}

extension ServerConfiguration {
    /// The default configuration storing at `location`.
    fileprivate static func with(_ location: StorageLocation) -> ServerConfiguration {
        var configuration = ServerConfiguration()
        configuration.storage = location
        return configuration
    }
}

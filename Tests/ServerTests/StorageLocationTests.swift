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
        #expect(throws: StorageLocation.ParseError(description: "'data' names no backend; expected gdbm:DIRECTORY")) {
            try StorageLocation(parsing: "data")
        }
        #expect(throws: StorageLocation.ParseError(description: "'gdbm:' names no directory; expected gdbm:DIRECTORY")) {
            try StorageLocation(parsing: "gdbm:")
        }
        #expect(
            throws: StorageLocation.ParseError(
                description: "unknown storage backend 'sqlite' in 'sqlite:chat.db'; expected gdbm:DIRECTORY")
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
}

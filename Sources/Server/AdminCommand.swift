import ArgumentParser

/// `chat-server admin SUBCOMMAND`: the operator's commands. Parses and hands the request to
/// `AdminRunner`, nothing else.
struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Manage accounts on the configured store.",
        discussion: """
            While the server runs, the request goes through its admin socket (so it can also close \
            the session of a user it locks, deletes or gives a one-time password); otherwise the \
            store is opened directly. A PostgreSQL database is opened directly unless --admin-socket \
            names a running server's socket; either way the session is closed on whichever server \
            sharing the database holds it. Every action is logged with the OS user who made it.
            """,
        subcommands: [Users.self, Stats.self, Lock.self, Unlock.self, Delete.self, ResetPassword.self])

    struct Users: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every account: created, last login, inbox, locked, must change password.")

        @OptionGroup(title: "Storage")
        var store: StoreOptions

        func run() async throws {
            try await AdminRunner.run(.users, store: store)
        }
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sessions online, accounts, inbox totals, and the store's size on disk.")

        @OptionGroup(title: "Storage")
        var store: StoreOptions

        func run() async throws {
            try await AdminRunner.run(.stats, store: store)
        }
    }

    struct Lock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Refuse USER's logins (account_locked) and close their session.")

        @OptionGroup(title: "Storage")
        var store: StoreOptions

        @Argument(help: "The user to lock.")
        var user: String

        func run() async throws {
            try await AdminRunner.run(.lock(user), store: store)
        }
    }

    struct Unlock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let USER log in again.")

        @OptionGroup(title: "Storage")
        var store: StoreOptions

        @Argument(help: "The user to unlock.")
        var user: String

        func run() async throws {
            try await AdminRunner.run(.unlock(user), store: store)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete USER's account, published keys and inbox, and close their session.")

        @OptionGroup(title: "Storage")
        var store: StoreOptions

        @Argument(help: "The user to delete.")
        var user: String

        func run() async throws {
            try await AdminRunner.run(.delete(user), store: store)
        }
    }

    struct ResetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a one-time password for USER (who must choose a new one when they log in with it) and close their session.")

        @OptionGroup(title: "Storage")
        var store: StoreOptions

        @Argument(help: "The user whose password to reset.")
        var user: String

        func run() async throws {
            try await AdminRunner.run(.resetPassword(user), store: store)
        }
    }
}

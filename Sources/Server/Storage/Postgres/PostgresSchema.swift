/// The tables the PostgreSQL backend keeps, as versioned migrations applied at start-up.
///
/// `schema_version` holds the version the database is at. A server applies, in order and
/// each in its own transaction with the version bump, the migrations past it, and refuses
/// a database whose version is newer than the last migration it knows (a newer server has
/// been there, and this one would misread its data). Migrations run under a session-level
/// advisory lock, so two servers starting at once on one database take turns: the second
/// finds the work done.
///
/// A migration, once released, is never edited: a change is a new migration at the end.
enum PostgresSchema {
    /// The migrations, version 1 first; the database's version is how many have been applied.
    static let migrations: [String] = [
        // 1: accounts and inboxes.
        """
        CREATE TABLE accounts (
            username text PRIMARY KEY,
            record jsonb NOT NULL
        );
        CREATE TABLE inbox_usage (
            recipient text PRIMARY KEY,
            messages integer NOT NULL DEFAULT 0 CHECK (messages >= 0),
            bytes bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
            next_sequence bigint NOT NULL DEFAULT 0
        );
        CREATE TABLE inbox_messages (
            recipient text NOT NULL,
            id text NOT NULL,
            sequence bigint NOT NULL,
            sender text NOT NULL,
            body bytea NOT NULL,
            sent_at_ms bigint NOT NULL,
            size integer NOT NULL,
            PRIMARY KEY (recipient, id)
        );
        CREATE INDEX inbox_messages_order ON inbox_messages (recipient, sequence);
        -- Stops a statement (and so its transaction) when a server's expectation does not
        -- hold: an inbox writer that guessed the counters from its own last write.
        CREATE FUNCTION chat_expect(holds boolean) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN
            IF holds IS NOT TRUE THEN
                RAISE EXCEPTION 'expectation failed' USING ERRCODE = 'CH001';
            END IF;
            RETURN true;
        END
        $$;
        """,
        // 2: published keys for end-to-end encryption, one row per user, and their one-time
        // prekeys, one row each (deleted as they are handed out).
        """
        CREATE TABLE device_keys (
            username text PRIMARY KEY,
            registration_id integer NOT NULL,
            identity_key bytea NOT NULL,
            signed_prekey_id integer NOT NULL,
            signed_prekey bytea NOT NULL,
            signed_prekey_signature bytea NOT NULL
        );
        CREATE TABLE one_time_prekeys (
            username text NOT NULL REFERENCES device_keys (username) ON DELETE CASCADE,
            prekey_id integer NOT NULL,
            public_key bytea NOT NULL,
            PRIMARY KEY (username, prekey_id)
        );
        """,
        // 3: account records say whether the operator locked the account and whether its
        // password is a one-time one to change; existing accounts are neither. (When the
        // user last logged in stays absent until their next login.)
        """
        UPDATE accounts SET record = jsonb_build_object('locked', false, 'mustChangePassword', false) || record;
        """,
        // 4: what the servers (nodes) on this database share beyond storage: each node while
        // it runs, with its last heartbeat; who is logged in on which node's session, and
        // whom each chose; the order of presence changes; failed logins per username and
        // address (times in seconds since 1970).
        """
        CREATE TABLE cluster_nodes (
            node bigserial PRIMARY KEY,
            label text NOT NULL,
            joined_at timestamptz NOT NULL DEFAULT now(),
            heartbeat_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE presence (
            username text PRIMARY KEY,
            node bigint NOT NULL REFERENCES cluster_nodes (node),
            session bigint NOT NULL,
            choice text
        );
        CREATE INDEX presence_node ON presence (node);
        CREATE INDEX presence_choice ON presence (choice);
        CREATE SEQUENCE presence_version;
        CREATE TABLE login_failures (
            key text PRIMARY KEY,
            failures integer NOT NULL DEFAULT 0,
            blocked_until double precision,
            last_failure double precision
        );
        """,
        // 5: files on their way to their recipients: one row per file, held or done with
        // (an outcome, kept until its sender has seen it), and one row per stored chunk,
        // deleted with its file.
        """
        CREATE TABLE held_files (
            file_id text PRIMARY KEY,
            sender text NOT NULL,
            recipient text NOT NULL,
            size bigint NOT NULL,
            chunk_count integer NOT NULL,
            created_at_ms bigint NOT NULL,
            stored_chunks integer NOT NULL DEFAULT 0 CHECK (stored_chunks BETWEEN 0 AND chunk_count),
            outcome text CHECK (outcome IN ('delivered', 'rejected', 'expired'))
        );
        CREATE INDEX held_files_recipient ON held_files (recipient, created_at_ms);
        CREATE INDEX held_files_sender ON held_files (sender, created_at_ms);
        CREATE INDEX held_files_created ON held_files (created_at_ms) WHERE outcome IS NULL;
        CREATE TABLE file_chunks (
            file_id text NOT NULL REFERENCES held_files (file_id) ON DELETE CASCADE,
            chunk_index integer NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (file_id, chunk_index)
        );
        """,
    ]

    /// The version this server writes and reads.
    static var currentVersion: Int { migrations.count }

    /// Key of the advisory lock migrations run under (any fixed number; this one spells
    /// "chatmigr" in ASCII).
    static let migrationLock: Int64 = 0x6368_6174_6D69_6772

    /// What `migrate` did.
    struct Outcome: Equatable, Sendable {
        /// The version the database was at.
        var from: Int
        /// The version it is at now.
        var to: Int
    }

    /// Brings the database `connection` is on to `currentVersion`.
    ///
    /// - Throws: `StorageError.schemaTooNew` for a newer database (nothing changed);
    ///   `PostgresError` when a statement fails (the failing migration is rolled back).
    @discardableResult
    static func migrate(_ connection: PostgresConnection, database: String) throws -> Outcome {
        try connection.execute("SELECT pg_advisory_lock($1)", [String(migrationLock)])
        defer { _ = try? connection.execute("SELECT pg_advisory_unlock($1)", [String(migrationLock)]) }
        try connection.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_version (
                only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
                version integer NOT NULL
            )
            """)
        let found = Int(try connection.execute("SELECT version FROM schema_version").scalar ?? "0") ?? 0
        guard found <= currentVersion else {
            throw StorageError.schemaTooNew(database: database, found: found, known: currentVersion)
        }
        for version in (found + 1)..<(currentVersion + 1) {
            try connection.transaction {
                // Simple-query protocol: a migration may hold several statements.
                try connection.executeScript(migrations[version - 1])
                try connection.execute(
                    """
                    INSERT INTO schema_version (version) VALUES ($1)
                    ON CONFLICT (only_row) DO UPDATE SET version = EXCLUDED.version
                    """,
                    [String(version)])
            }
        }
        return Outcome(from: found, to: currentVersion)
    }
}

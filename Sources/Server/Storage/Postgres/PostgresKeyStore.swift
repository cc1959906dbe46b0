import Shared

/// The PostgreSQL `KeyStore`: `device_keys`, one row per user (identity key, registration id,
/// signed prekey), and `one_time_prekeys`, one row per one-time prekey, deleted as it is
/// handed out. Keys are `bytea`, sent and read as hex.
///
/// Several servers may share the database, so the rules hold in the database itself:
///
/// - A publish is one transaction that first locks the user's `device_keys` row (creating it
///   if missing), so two publishes for one user take turns; it replaces or adds as
///   `KeyStore.publish` says, counts the prekeys, and rolls everything back past the cap.
/// - A take is one statement, `DELETE ... RETURNING` on the lowest prekey not locked by
///   another take (`FOR UPDATE SKIP LOCKED`): a row is deleted, and so returned, by one
///   statement only, and concurrent takes pick different rows instead of waiting in line
///   for the same one.
///
/// Every write is answered once its COMMIT has returned (durable with the default
/// `synchronous_commit`).
final class PostgresKeyStore: KeyStore {
    private let pool: PostgresPool

    /// Uses `pool`'s connections and threads; the store closes the pool.
    init(pool: PostgresPool) {
        self.pool = pool
    }

    func publish(_ keys: PublishedKeys, username: String) async throws -> Int {
        let identity = PostgresHex.encode(bytes: keys.identityKey)
        let row: [String?] = [
            username, String(keys.registrationID), identity, String(keys.signedPreKey.id),
            PostgresHex.encode(bytes: keys.signedPreKey.publicKey), PostgresHex.encode(bytes: keys.signedPreKey.signature),
        ]
        let ids = PostgresArray.literal(keys.preKeys.map(\.id))
        let publicKeys = PostgresArray.literal(keys.preKeys.map { PostgresHex.encode(bytes: $0.publicKey) })
        return try await pool.run { connection in
            try connection.transaction {
                let created = try connection.execute(
                    """
                    INSERT INTO device_keys
                        (username, registration_id, identity_key, signed_prekey_id, signed_prekey, signed_prekey_signature)
                    VALUES ($1, $2, decode($3, 'hex'), $4, decode($5, 'hex'), decode($6, 'hex'))
                    ON CONFLICT (username) DO NOTHING
                    """, row
                ).affected == 1
                if !created {
                    // Locked until COMMIT: another publish for this user waits here.
                    let stored = try connection.execute(
                        "SELECT encode(identity_key, 'hex') FROM device_keys WHERE username = $1 FOR UPDATE", [username]
                    ).scalar
                    if stored != identity {
                        // Prekeys of another identity are useless to anyone who fetches them now.
                        try connection.execute("DELETE FROM one_time_prekeys WHERE username = $1", [username])
                    }
                    try connection.execute(
                        """
                        UPDATE device_keys SET registration_id = $2, identity_key = decode($3, 'hex'),
                            signed_prekey_id = $4, signed_prekey = decode($5, 'hex'),
                            signed_prekey_signature = decode($6, 'hex')
                        WHERE username = $1
                        """, row)
                }
                try connection.execute(
                    """
                    INSERT INTO one_time_prekeys (username, prekey_id, public_key)
                    SELECT $1, id, decode(key, 'hex') FROM unnest($2::integer[], $3::text[]) AS added (id, key)
                    ON CONFLICT (username, prekey_id) DO UPDATE SET public_key = EXCLUDED.public_key
                    """, [username, ids, publicKeys])
                let count = Int(
                    try connection.execute("SELECT count(*) FROM one_time_prekeys WHERE username = $1", [username]).scalar
                        ?? "0") ?? 0
                guard count <= KeyRecord.maximumPreKeys else {
                    // Thrown inside the transaction, so everything above is rolled back.
                    throw KeyStoreError.tooManyPreKeys(resulting: count)
                }
                return count
            }
        }
    }

    func takeBundle(username: String) async throws -> KeyBundle? {
        let database = pool.database
        let rows = try await pool.run { connection in
            // The count is the statement's snapshot, taken before the delete: it includes
            // the prekey taken here, and may be a little behind concurrent takes, which is
            // close enough for telling the owner to top up.
            try connection.execute(
                """
                WITH taken AS (
                    DELETE FROM one_time_prekeys
                    WHERE (username, prekey_id) = (
                        SELECT username, prekey_id FROM one_time_prekeys WHERE username = $1
                        ORDER BY prekey_id LIMIT 1 FOR UPDATE SKIP LOCKED)
                    RETURNING prekey_id, public_key
                )
                SELECT keys.registration_id, encode(keys.identity_key, 'hex'), keys.signed_prekey_id,
                    encode(keys.signed_prekey, 'hex'), encode(keys.signed_prekey_signature, 'hex'),
                    taken.prekey_id, encode(taken.public_key, 'hex'),
                    (SELECT count(*) FROM one_time_prekeys WHERE username = $1)
                FROM device_keys AS keys LEFT JOIN taken ON true
                WHERE keys.username = $1
                """, [username]
            ).rows
        }
        guard let row = rows.first else {
            return nil
        }
        func corrupt() -> StorageError {
            .corrupt("PostgreSQL database \(database): key record for \(username) cannot be decoded")
        }
        guard row.count == 8, let registrationID = row[0].flatMap({ Int($0) }),
            let identityKey = row[1].flatMap(PostgresHex.decodeBytes), let signedID = row[2].flatMap({ Int($0) }),
            let signedKey = row[3].flatMap(PostgresHex.decodeBytes), let signature = row[4].flatMap(PostgresHex.decodeBytes),
            let counted = row[7].flatMap({ Int($0) })
        else {
            throw corrupt()
        }
        var preKey: PublishedPreKey?
        if let id = row[5] {
            guard let id = Int(id), let key = row[6].flatMap(PostgresHex.decodeBytes) else {
                throw corrupt()
            }
            preKey = PublishedPreKey(id: id, publicKey: key)
        }
        return KeyBundle(
            registrationID: registrationID, identityKey: identityKey,
            signedPreKey: PublishedSignedPreKey(id: signedID, publicKey: signedKey, signature: signature), preKey: preKey,
            remainingPreKeys: max(0, counted - (preKey == nil ? 0 : 1)))
    }

    func identityKey(username: String) async throws -> [UInt8]? {
        let database = pool.database
        let hex = try await pool.run { connection in
            try connection.execute("SELECT encode(identity_key, 'hex') FROM device_keys WHERE username = $1", [username])
                .scalar
        }
        return try hex.map { hex throws(StorageError) in
            guard let key = PostgresHex.decodeBytes(hex) else {
                throw .corrupt("PostgreSQL database \(database): identity key of \(username) cannot be decoded")
            }
            return key
        }
    }

    func preKeyCount(username: String) async throws -> Int? {
        let rows = try await pool.run { connection in
            try connection.execute(
                """
                SELECT (SELECT count(*) FROM one_time_prekeys WHERE username = $1)
                FROM device_keys WHERE username = $1
                """, [username]
            ).rows
        }
        return rows.first.map { Int($0.first.flatMap { $0 } ?? "0") ?? 0 }
    }

    func deleteKeys(username: String) async throws -> Bool {
        try await pool.run { connection in
            // The prekeys go with the row (ON DELETE CASCADE).
            try connection.execute("DELETE FROM device_keys WHERE username = $1", [username]).affected == 1
        }
    }

    func close() async {
        await pool.close()
    }
}

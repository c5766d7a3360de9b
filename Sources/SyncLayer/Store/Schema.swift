/// The local schema, as an ordered list of migrations.
///
/// Each migration runs once, in its own transaction, and is recorded in `sl_migrations`.
/// Never edit a shipped migration: append a new one.
///
/// Tables:
/// - `sl_documents`: one row per (collection, id). `data` is canonical JSON. A delete keeps the
///   row as a tombstone (`deleted = 1`) so it can be synced and resolved. `local_version` counts
///   local writes; `server_version` is the last version the server confirmed (NULL: never on the
///   server); `base` is the last server-confirmed JSON, the base of three-way merges;
///   `sync_state` is 0 synced, 1 pending, 2 rejected; `hlc` is the hybrid-logical-clock stamp of
///   the last change.
/// - `sl_outbox`: local changes waiting for the server, in `seq` order. One transaction writes a
///   document and its outbox row. `attempts` counts sends (an op with `attempts > 0` may have
///   reached the server and is never changed again); `failures` counts answered retryable
///   failures, bounded by `maxRetries`; `state` is 0 pending, 2 rejected, 3 failed (parked).
/// - `sl_meta`: key/value state (client id, clock, pull cursors).
enum Schema {
    struct Migration {
        let version: Int
        let name: String
        let sql: String
    }

    static let migrations: [Migration] = [
        Migration(version: 1, name: "documents, outbox, meta", sql: """
            CREATE TABLE sl_documents (
                collection     TEXT    NOT NULL,
                id             TEXT    NOT NULL,
                data           TEXT    NOT NULL,
                local_version  INTEGER NOT NULL,
                server_version INTEGER,
                updated_at     INTEGER NOT NULL,
                hlc            TEXT    NOT NULL,
                deleted        INTEGER NOT NULL DEFAULT 0,
                sync_state     INTEGER NOT NULL DEFAULT 1,
                base           TEXT,
                UNIQUE (collection, id)
            );
            CREATE TABLE sl_outbox (
                seq             INTEGER PRIMARY KEY AUTOINCREMENT,
                op_id           TEXT    NOT NULL UNIQUE,
                collection      TEXT    NOT NULL,
                record_id       TEXT    NOT NULL,
                type            TEXT    NOT NULL CHECK (type IN ('insert', 'update', 'patch', 'delete')),
                payload         TEXT,
                base_version    INTEGER,
                hlc             TEXT    NOT NULL,
                created_at      INTEGER NOT NULL,
                attempts        INTEGER NOT NULL DEFAULT 0,
                next_attempt_at INTEGER NOT NULL DEFAULT 0,
                last_error      TEXT,
                state           INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX sl_outbox_record ON sl_outbox (collection, record_id, seq);
            CREATE INDEX sl_outbox_state ON sl_outbox (state, next_attempt_at, seq);
            CREATE TABLE sl_meta (
                key   TEXT PRIMARY KEY,
                value TEXT NOT NULL
            ) WITHOUT ROWID;
            """),
        Migration(version: 2, name: "outbox failure count", sql: """
            ALTER TABLE sl_outbox ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
            """),
    ]

    static var latestVersion: Int { migrations.last?.version ?? 0 }

    /// Brings the database to ``latestVersion``.
    ///
    /// - Throws: ``SyncLayerError/Code/incompatibleSchema`` when the file was written by a newer
    ///   schema; ``StoreError`` when SQLite fails (the failed migration leaves no trace).
    static func migrate(_ db: Database) throws {
        // One IMMEDIATE transaction from the first read of the version to the last migration:
        // two processes opening a new file at once cannot both migrate.
        try db.transaction {
            try db.execute("""
                CREATE TABLE IF NOT EXISTS sl_migrations (
                    version    INTEGER PRIMARY KEY,
                    name       TEXT    NOT NULL,
                    applied_at INTEGER NOT NULL
                )
                """)
            let current = Int(try db.scalarInt("SELECT max(version) FROM sl_migrations") ?? 0)
            guard current <= latestVersion else {
                throw SyncLayerError(.incompatibleSchema,
                                     "the database has schema version \(current); this SyncLayer knows up to \(latestVersion)")
            }
            for migration in migrations where migration.version > current {
                try db.execute(migration.sql)
                try db.run("INSERT INTO sl_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                           [.int(Int64(migration.version)), .text(migration.name), .int(WallClock.nowMilliseconds())])
            }
        }
    }
}

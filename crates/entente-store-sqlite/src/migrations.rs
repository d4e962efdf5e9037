//! The SQLite schema: its append-only migrations and how they are applied.

use crate::stix::stix_key;
use crate::{SqliteStore, be};
use entente_store::Result;
use sqlx::AssertSqlSafe;

/// Append-only migrations: a new schema change is a new element, never an edit.
pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE logs (
    log_id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    audience TEXT NOT NULL,
    head_seq INTEGER NOT NULL,
    head_hash BLOB NOT NULL
);
CREATE TABLE entries (
    log_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    sig BLOB NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (log_id, seq)
) WITHOUT ROWID;
CREATE TABLE forks (
    log_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    origin TEXT NOT NULL,
    held_body TEXT NOT NULL,
    held_sig TEXT NOT NULL,
    conflicting_body TEXT NOT NULL,
    conflicting_sig TEXT NOT NULL,
    received_from TEXT NOT NULL,
    detected_at TEXT NOT NULL,
    PRIMARY KEY (log_id, seq, conflicting_sig)
);
CREATE TABLE formats (format_id TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE items (
    pos INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL UNIQUE,
    format_id TEXT NOT NULL,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    tlp TEXT NOT NULL,
    topics TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX items_format ON items (format_id, pos);
CREATE TABLE peers (
    partner TEXT PRIMARY KEY,
    url TEXT,
    public_key TEXT NOT NULL,
    added_at TEXT NOT NULL,
    last_sync_at TEXT,
    last_ok_at TEXT,
    last_error TEXT
);
CREATE TABLE users (
    username TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES users (username),
    label TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT
);
"#,
    r#"
CREATE TABLE stix (
    pos INTEGER PRIMARY KEY AUTOINCREMENT,
    collection TEXT NOT NULL,
    stix_id TEXT NOT NULL,
    stix_type TEXT NOT NULL,
    version TEXT NOT NULL,
    spec_version TEXT NOT NULL,
    date_added TEXT NOT NULL,
    latest INTEGER NOT NULL,
    origin TEXT NOT NULL,
    audience TEXT NOT NULL,
    tlp TEXT NOT NULL,
    author TEXT NOT NULL,
    named_users TEXT NOT NULL,
    raw TEXT NOT NULL,
    UNIQUE (collection, stix_id, version)
);
CREATE INDEX stix_added ON stix (collection, date_added);
CREATE TABLE taxii_status (status_id TEXT PRIMARY KEY, username TEXT NOT NULL, body TEXT NOT NULL);
"#,
    r#"
CREATE TABLE statements (statement_id TEXT PRIMARY KEY, format_id TEXT NOT NULL, state TEXT NOT NULL);
"#,
    r#"
CREATE TABLE objects (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    format_id TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
"#,
    r#"
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
"#,
    // The collection table, made compact for bulk imports. Collections become small integers;
    // the by-object index holds a 64-bit hash of (collection, id) instead of the texts, so it
    // stays in cache at millions of objects (uniqueness and the latest-version flag are kept
    // by `append`, which looks the hash up once per row); and a row may point into the body of
    // the signed entry that carried it (logs.rowid, seq, byte range) instead of holding a second
    // copy of the object. `k` of rows copied from the old table is filled by `migrate`.
    r#"
CREATE TABLE collections (cid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
INSERT INTO collections (name) SELECT DISTINCT collection FROM stix ORDER BY collection;
CREATE TABLE stix_rows (
    pos INTEGER PRIMARY KEY AUTOINCREMENT,
    cid INTEGER NOT NULL REFERENCES collections (cid),
    k INTEGER,
    stix_id TEXT NOT NULL,
    stix_type TEXT NOT NULL,
    version TEXT NOT NULL,
    spec_version TEXT NOT NULL,
    date_added TEXT NOT NULL,
    latest INTEGER NOT NULL,
    origin TEXT NOT NULL,
    audience TEXT NOT NULL,
    tlp TEXT NOT NULL,
    author TEXT NOT NULL,
    named_users TEXT NOT NULL,
    raw TEXT NOT NULL,
    entry_log INTEGER,
    entry_seq INTEGER,
    raw_start INTEGER,
    raw_len INTEGER
);
INSERT INTO stix_rows (pos, cid, k, stix_id, stix_type, version, spec_version, date_added, latest,
    origin, audience, tlp, author, named_users, raw)
  SELECT s.pos, c.cid, NULL, s.stix_id, s.stix_type, s.version, s.spec_version, s.date_added,
    s.latest, s.origin, s.audience, s.tlp, s.author, s.named_users, s.raw
  FROM stix s JOIN collections c ON c.name = s.collection ORDER BY s.pos;
DROP TABLE stix;
CREATE INDEX stix_rows_key ON stix_rows (k);
CREATE INDEX stix_rows_added ON stix_rows (cid, date_added);
"#,
    // Object keys changed from a pure hash to UUID prefix + hash (see `stix_key`): clear them,
    // and `migrate` computes them again.
    r#"
UPDATE stix_rows SET k = NULL;
"#,
    // Witnessed checkpoints: the latest per (origin, witness).
    r#"
CREATE TABLE witnesses (
    origin TEXT NOT NULL,
    witness TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    origin_sig TEXT NOT NULL,
    cosig TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (origin, witness)
);
"#,
    // Revocation (M5): users can be disabled, peers suspended or removed.
    r#"
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE peers ADD COLUMN state TEXT NOT NULL DEFAULT 'active';
"#,
    // Per-user display preferences (time zone), as JSON.
    r#"
ALTER TABLE users ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
"#,
    // What each user has read of each discussion (node-local, never replicated): the ids of
    // the posts seen at the last visit, as a JSON list.
    r#"
CREATE TABLE read_marks (
    username TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    seen TEXT NOT NULL,
    PRIMARY KEY (username, thread_id)
);
"#,
    // The notification outbox and delivery log (node-local, never replicated).
    r#"
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    due_at TEXT NOT NULL,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL,
    digest INTEGER NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    state TEXT NOT NULL,
    last_error TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX notifications_due ON notifications (state, due_at);
CREATE INDEX notifications_created ON notifications (created_at);
"#,
    // How far the notifier has looked at each log (so a restart announces what it had not).
    r#"
CREATE TABLE notify_cursors (
    log_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
"#,
    // Attachments' bytes (node-local): chunks of a file by its SHA-256, the files held whole,
    // who uploaded each here, and which files items reference (written with the item).
    r#"
CREATE TABLE blob_chunks (
    sha256 TEXT NOT NULL,
    idx INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (sha256, idx)
);
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    stored_at TEXT NOT NULL
);
CREATE TABLE blob_uploads (
    sha256 TEXT NOT NULL,
    username TEXT NOT NULL,
    PRIMARY KEY (sha256, username)
);
CREATE TABLE attachment_refs (
    sha256 TEXT NOT NULL,
    item_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (sha256, item_id)
);
"#,
    // The text of attached files, for search (extracted once the file is whole).
    r#"
CREATE TABLE blob_texts (
    sha256 TEXT PRIMARY KEY,
    text TEXT NOT NULL
);
"#,
    // Which item each whole file was received or uploaded for: a file is served, downloaded and
    // searched only through an item it was checked for, never because another item names its hash.
    r#"
CREATE TABLE blob_items (
    sha256 TEXT NOT NULL,
    item_id TEXT NOT NULL,
    PRIMARY KEY (sha256, item_id)
);
"#,
    // Files the malware scanner found something in, per item they were received for (held
    // aside: never completed or served through it).
    r#"
CREATE TABLE blob_quarantine (
    sha256 TEXT NOT NULL,
    item_id TEXT NOT NULL,
    finding TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (sha256, item_id)
);
"#,
    // Files an admin released from quarantine whatever the scanner says: a scan of every held
    // file leaves them be.
    r#"
CREATE TABLE blob_released (
    sha256 TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
"#,
    // When each chunk was written: chunks of no file held whole, referenced or quarantined (an
    // upload cut off before it completed) are dropped once old.
    r#"
ALTER TABLE blob_chunks ADD COLUMN at TEXT;
"#,
    // A chunk without a time (written before the column above, or by an older binary during an
    // upgrade) counts as written when the store began to record them, not as old. The index
    // lets the hourly pass read the times without reading the chunks' bytes, which SQLite
    // stores before them.
    r#"
CREATE INDEX blob_chunks_at ON blob_chunks (sha256, at);
INSERT INTO meta (k, v) VALUES ('chunk_times_since', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
"#,
    // The cooperation-network view's counts (entente_store::counts), kept with the items; the
    // runner below fills them from the items already held.
    r#"
CREATE TABLE network_counts (
    topic TEXT NOT NULL,
    day TEXT NOT NULL,
    audience TEXT NOT NULL,
    readers_key TEXT NOT NULL,
    readers TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (topic, day, audience, readers_key)
) WITHOUT ROWID;
"#,
];

impl SqliteStore {
    pub(crate) async fn migrate(&self) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(be)?;
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")
            .execute(&mut *tx)
            .await
            .map_err(be)?;
        let done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
            .fetch_one(&mut *tx)
            .await
            .map_err(be)?;
        for (i, m) in MIGRATIONS.iter().enumerate().skip(done as usize) {
            sqlx::raw_sql(AssertSqlSafe(*m))
                .execute(&mut *tx)
                .await
                .map_err(be)?;
            if m.contains("stix_rows") {
                // SQLite has no SHA-256: the object keys of copied rows are computed here.
                let rows: Vec<(i64, String, String)> = sqlx::query_as(
                    "SELECT s.pos, c.name, s.stix_id FROM stix_rows s JOIN collections c ON c.cid = s.cid
                     WHERE s.k IS NULL",
                )
                .fetch_all(&mut *tx)
                .await
                .map_err(be)?;
                for (pos, coll, id) in rows {
                    sqlx::query("UPDATE stix_rows SET k = ? WHERE pos = ?")
                        .bind(stix_key(&coll, &id))
                        .bind(pos)
                        .execute(&mut *tx)
                        .await
                        .map_err(be)?;
                }
            }
            if m.contains("CREATE TABLE network_counts") {
                crate::counts::fill(&mut tx).await?;
            }
            sqlx::query("INSERT INTO schema_migrations (version) VALUES (?)")
                .bind(i as i64 + 1)
                .execute(&mut *tx)
                .await
                .map_err(be)?;
        }
        tx.commit().await.map_err(be)
    }
}

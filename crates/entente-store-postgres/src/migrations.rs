//! The PostgreSQL schema: its append-only migrations and how they are applied (one process
//! at a time, under an advisory lock).

use crate::{MIGRATION_LOCK, PgStore, be};
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
    head_seq BIGINT NOT NULL,
    head_hash BYTEA NOT NULL
);
CREATE TABLE entries (
    log_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    body TEXT NOT NULL,
    sig BYTEA NOT NULL,
    hash BYTEA NOT NULL,
    PRIMARY KEY (log_id, seq)
);
CREATE TABLE forks (
    log_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
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
    pos BIGSERIAL PRIMARY KEY,
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
CREATE TABLE stix_rows (
    pos BIGSERIAL PRIMARY KEY,
    collection TEXT NOT NULL,
    stix_id TEXT NOT NULL,
    stix_type TEXT NOT NULL,
    version TEXT NOT NULL,
    spec_version TEXT NOT NULL,
    date_added TEXT NOT NULL,
    latest BOOLEAN NOT NULL,
    origin TEXT NOT NULL,
    audience TEXT NOT NULL,
    tlp TEXT NOT NULL,
    author TEXT NOT NULL,
    named_users TEXT NOT NULL,
    raw TEXT NOT NULL,
    UNIQUE (collection, stix_id, version)
);
CREATE INDEX stix_rows_added ON stix_rows (collection, date_added);
CREATE TABLE taxii_status (status_id TEXT PRIMARY KEY, username TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE statements (statement_id TEXT PRIMARY KEY, format_id TEXT NOT NULL, state TEXT NOT NULL);
CREATE TABLE objects (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    format_id TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE audit (
    seq BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
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
ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
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
    digest BOOLEAN NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts BIGINT NOT NULL,
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
    seq BIGINT NOT NULL
);
"#,
    // Attachments' bytes (node-local): chunks of a file by its SHA-256, the files held whole,
    // who uploaded each here, and which files items reference (written with the item).
    r#"
CREATE TABLE blob_chunks (
    sha256 TEXT NOT NULL,
    idx BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (sha256, idx)
);
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
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
    size BIGINT NOT NULL,
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
    // upgrade) counts as written when the store began to record them, not as old.
    r#"
CREATE INDEX blob_chunks_at ON blob_chunks (sha256, at);
INSERT INTO meta (k, v)
  VALUES ('chunk_times_since', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
"#,
    // The cooperation-network view's counts (entente_store::counts), kept with the items; the
    // runner below fills them from the items already held. C collation: the day filters compare
    // bytes, as the SQLite backend and the items' own filters do.
    r#"
CREATE TABLE network_counts (
    topic TEXT NOT NULL,
    day TEXT COLLATE "C" NOT NULL,
    audience TEXT NOT NULL,
    readers_key TEXT NOT NULL,
    readers TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (topic, day, audience, readers_key)
);
"#,
];

impl PgStore {
    pub(crate) async fn migrate(&self) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(be)?;
        // Several processes may start at once against one database: one migrates at a time.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(be)?;
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)")
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
            if m.contains("CREATE TABLE network_counts") {
                crate::counts::fill(&mut tx).await?;
            }
            sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
                .bind(i as i64 + 1)
                .execute(&mut *tx)
                .await
                .map_err(be)?;
        }
        tx.commit().await.map_err(be)
    }
}

//! The embedded SQLite backend of the storage trait (the zero-setup default): one file in
//! the node's data directory, WAL journal, synchronous=FULL so an acknowledged write
//! survives a crash. Nothing outside this crate sees a SQLite type.

use async_trait::async_trait;
use entente_domain::{Audience, FormatState, ItemState, PartnerCode};
use entente_log::{LogDescriptor, LogHead, ParsedEntry, SignedEntry};
use entente_store::codec::{corrupt, hash32, json, partner, to_json};
use entente_store::*;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, SqlitePool};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// Append-only migrations: a new schema change is a new element, never an edit.
const MIGRATIONS: &[&str] = &[
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
];

/// The by-object index key: the first 48 bits of the id's UUID, then 16 bits of
/// SHA-256(collection NUL id). Time-ordered ids (UUIDv7, as items and many tools use) then land
/// next to each other in the index, so appending them touches its last pages instead of every
/// page; random (v4) ids are as random as a hash. Equal keys are harmless — every lookup also
/// compares collection and id — and the hash bits keep a run of ids forged with one prefix
/// spread over 65,536 keys.
fn stix_key(collection: &str, stix_id: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(collection.as_bytes());
    h.update([0u8]);
    h.update(stix_id.as_bytes());
    let d = h.finalize();
    let hashed = u16::from_be_bytes([d[0], d[1]]);
    let prefix: Option<u64> = stix_id.rsplit_once("--").and_then(|(_, uuid)| {
        let hex: String = uuid.chars().filter(|c| *c != '-').take(12).collect();
        u64::from_str_radix(&hex, 16)
            .ok()
            .filter(|_| hex.len() == 12)
    });
    match prefix {
        Some(p) => ((p << 16) | u64::from(hashed)) as i64,
        None => i64::from_be_bytes(d[..8].try_into().expect("8 bytes")),
    }
}

/// Rows per multi-row INSERT: 200 rows × 5 columns stays far below SQLite's variable limit.
const INSERT_CHUNK: usize = 200;

/// STIX rows per INSERT: 500 rows × 18 columns stays below SQLite's 32,766-variable limit,
/// and bulk imports pay the per-statement round trip to the database thread 500× less often.
const STIX_INSERT_CHUNK: usize = 500;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Wakes the background checkpointer after a write; when the last clone of the store is
    /// dropped, the checkpointer stops.
    checkpoint: tokio::sync::mpsc::Sender<()>,
}

fn be(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    /// Open (creating if needed) the database file and run pending migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // A larger page cache (32 MiB per connection) keeps hot index pages (random STIX ids) in memory.
            .pragma("cache_size", "-32768")
            // Checkpoints run in the background after appends (see below); a committing writer
            // checkpoints only past 10,000 pages (160 MiB of WAL), a safety net for nodes that
            // write other things for a long time without appending.
            .pragma("wal_autocheckpoint", "10000")
            .page_size(16384);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await
            .map_err(be)?;
        // Checkpoints (copying the WAL into the database file) run on their own connection,
        // woken after writes, instead of inside the commit that crosses the WAL size limit: a
        // bulk import's next batch is written while the last one is checkpointed. PASSIVE never
        // blocks readers or writers; durability does not depend on it (the WAL is synced on
        // every commit), and SQLite checkpoints when the last connection closes.
        let (checkpoint, mut wake) = tokio::sync::mpsc::channel::<()>(1);
        let bg = pool.clone();
        tokio::spawn(async move {
            while wake.recv().await.is_some() {
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&bg)
                    .await
                {
                    tracing::warn!(error = %e, "WAL checkpoint failed; it will be retried");
                }
            }
        });
        let store = SqliteStore { pool, checkpoint };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
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
            sqlx::query("INSERT INTO schema_migrations (version) VALUES (?)")
                .bind(i as i64 + 1)
                .execute(&mut *tx)
                .await
                .map_err(be)?;
        }
        tx.commit().await.map_err(be)
    }

    /// The collection's small integer id, created on first use.
    async fn collection_id(tx: &mut SqliteConnection, name: &str) -> Result<i64> {
        sqlx::query("INSERT OR IGNORE INTO collections (name) VALUES (?)")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(be)?;
        sqlx::query_scalar("SELECT cid FROM collections WHERE name = ?")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(be)
    }

    /// The STIX part of `append`: deletions, then new rows. A row whose (collection, id,
    /// version) is held already is ignored; exactly one row per object keeps `latest = 1`.
    /// Both are decided here from one lookup of the object key per row (rows the writer marks
    /// single-versioned skip it), so the only per-object index is a small integer one.
    async fn append_stix(
        &self,
        tx: &mut SqliteConnection,
        log_id: &str,
        projections: &[Projection],
    ) -> Result<()> {
        let mut cids: HashMap<&str, i64> = HashMap::new();
        // Deletions first: a fold that replaces or removes a STIX object emits the delete and
        // drops any row it was about to add, so removing before adding is always right.
        for p in projections {
            if let Projection::StixDelete {
                collection,
                stix_id,
            } = p
            {
                sqlx::query(
                    "DELETE FROM stix_rows WHERE k = ? AND stix_id = ?
                     AND cid = (SELECT cid FROM collections WHERE name = ?)",
                )
                .bind(stix_key(collection, stix_id))
                .bind(stix_id)
                .bind(collection)
                .execute(&mut *tx)
                .await
                .map_err(be)?;
            }
        }
        let stix: Vec<&StixRow> = projections
            .iter()
            .filter_map(|p| match p {
                Projection::Stix(r) => Some(r),
                _ => None,
            })
            .collect();
        if stix.is_empty() {
            return Ok(());
        }
        for r in &stix {
            if !cids.contains_key(r.collection.as_str()) {
                let cid = Self::collection_id(tx, &r.collection).await?;
                cids.insert(&r.collection, cid);
            }
        }
        let keys: Vec<i64> = stix
            .iter()
            .map(|r| stix_key(&r.collection, &r.stix_id))
            .collect();
        // Versions held of the objects this batch touches, by (cid, key); rows of another object
        // with a colliding key are told apart by id.
        struct Held {
            pos: Option<i64>,
            new: Option<usize>,
            id: String,
            version: String,
            latest: bool,
            origin: String,
        }
        let mut held: HashMap<(i64, i64), Vec<Held>> = HashMap::new();
        // Probing (and below, inserting) in key order walks the object index leaf by leaf
        // instead of jumping around it: at a million objects that halves the cost of a batch.
        let mut probe: Vec<i64> = stix
            .iter()
            .zip(&keys)
            .filter(|(r, _)| !r.single_version)
            .map(|(_, k)| *k)
            .collect();
        probe.sort_unstable();
        probe.dedup();
        for chunk in probe.chunks(500) {
            let sql = format!(
                "SELECT pos, cid, k, stix_id, version, latest, origin FROM stix_rows WHERE k IN ({})",
                vec!["?"; chunk.len()].join(",")
            );
            let mut q = sqlx::query_as::<_, (i64, i64, i64, String, String, i64, String)>(
                AssertSqlSafe(sql),
            );
            for k in chunk {
                q = q.bind(*k);
            }
            for (pos, cid, k, id, version, latest, origin) in
                q.fetch_all(&mut *tx).await.map_err(be)?
            {
                held.entry((cid, k)).or_default().push(Held {
                    pos: Some(pos),
                    new: None,
                    id,
                    version,
                    latest: latest == 1,
                    origin,
                });
            }
        }
        // Decide which rows go in; then which version of each touched object is the newest.
        let mut accept: Vec<(usize, i64)> = Vec::with_capacity(stix.len());
        for (i, r) in stix.iter().enumerate() {
            let cid = cids[r.collection.as_str()];
            if r.single_version {
                accept.push((i, cid));
                continue;
            }
            let versions = held.entry((cid, keys[i])).or_default();
            // Already held, or held from another origin: an object id belongs to the origin
            // that first published it (H2), so another's "newer version" is never projected.
            if versions.iter().any(|h| {
                h.id == r.stix_id && (h.version == r.version || h.origin != r.origin.as_str())
            }) {
                continue;
            }
            versions.push(Held {
                pos: None,
                new: Some(i),
                id: r.stix_id.clone(),
                version: r.version.clone(),
                latest: false,
                origin: r.origin.to_string(),
            });
            accept.push((i, cid));
        }
        let mut latest_new = vec![true; stix.len()];
        let mut demote: Vec<i64> = Vec::new();
        for versions in held.values() {
            for h in versions {
                let newest = versions
                    .iter()
                    .filter(|o| o.id == h.id)
                    .all(|o| o.version <= h.version);
                match (h.pos, h.new) {
                    (Some(pos), _) if h.latest && !newest => demote.push(pos),
                    (_, Some(i)) => latest_new[i] = newest,
                    _ => {}
                }
            }
        }
        for chunk in demote.chunks(500) {
            let sql = format!(
                "UPDATE stix_rows SET latest = 0 WHERE pos IN ({})",
                vec!["?"; chunk.len()].join(",")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for pos in chunk {
                q = q.bind(*pos);
            }
            q.execute(&mut *tx).await.map_err(be)?;
        }
        let log_row: i64 = sqlx::query_scalar("SELECT rowid FROM logs WHERE log_id = ?")
            .bind(log_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(be)?;
        accept.sort_by_key(|&(i, _)| keys[i]);
        // Texts repeated across rows (type, origin, audience, author, …) are bound as shared
        // `Arc<str>`s: sqlx copies every other text it is given.
        let mut interned: HashMap<String, std::sync::Arc<str>> = HashMap::new();
        let mut intern = |s: &str| -> std::sync::Arc<str> {
            if let Some(a) = interned.get(s) {
                return a.clone();
            }
            let a: std::sync::Arc<str> = s.into();
            interned.insert(s.to_owned(), a.clone());
            a
        };
        let mut audience_keys: HashMap<&Audience, std::sync::Arc<str>> = HashMap::new();
        for chunk in accept.chunks(STIX_INSERT_CHUNK) {
            let sql = format!(
                "INSERT INTO stix_rows (cid, k, stix_id, stix_type, version, spec_version, date_added, latest,
                 origin, audience, tlp, author, named_users, raw, entry_log, entry_seq, raw_start, raw_len) VALUES {}",
                placeholders(chunk.len(), 18)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for &(i, cid) in chunk {
                let r = stix[i];
                let latest = latest_new[i];
                let audience = audience_keys
                    .entry(&r.audience)
                    .or_insert_with(|| r.audience.key().into())
                    .clone();
                let named = if r.named_users.is_empty() {
                    intern("")
                } else {
                    intern(&r.named_users.join(","))
                };
                q = q
                    .bind(cid)
                    .bind(keys[i])
                    .bind(r.stix_id.clone())
                    .bind(intern(&r.stix_type))
                    .bind(r.version.clone())
                    .bind(intern(&r.spec_version))
                    .bind(r.date_added.clone())
                    .bind(i64::from(latest))
                    .bind(intern(r.origin.as_str()))
                    .bind(audience)
                    .bind(intern(r.tlp.as_str()))
                    .bind(intern(&r.author))
                    .bind(named);
                q = if r.raw.is_empty() {
                    q.bind(intern(""))
                } else {
                    q.bind(r.raw.clone())
                };
                q = match r.span {
                    Some(sp) => q
                        .bind(log_row)
                        .bind(sp.seq as i64)
                        .bind(sp.start as i64)
                        .bind(sp.len as i64),
                    None => q
                        .bind(None::<i64>)
                        .bind(None::<i64>)
                        .bind(None::<i64>)
                        .bind(None::<i64>),
                };
            }
            q.execute(&mut *tx).await.map_err(be)?;
        }
        Ok(())
    }

    fn log_row(r: &SqliteRow) -> Result<LogInfo> {
        let audience: String = r.get("audience");
        Ok(LogInfo {
            log_id: r.get("log_id"),
            origin: partner(r.get("origin"))?,
            audience: Audience::parse_key(&audience).map_err(|e| corrupt("audience", e))?,
            head_seq: r.get::<i64, _>("head_seq") as u64,
            head_hash: hash32(r.get("head_hash"))?,
        })
    }

    async fn audit_query(
        &self,
        sql: &'static str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>> {
        let q = sqlx::query(sql);
        let q = if sql.contains("?1") {
            q.bind(after as i64).bind(limit as i64)
        } else {
            q
        };
        let rows = q.fetch_all(&self.pool).await.map_err(be)?;
        Ok(rows
            .iter()
            .map(|r| AuditRecord {
                seq: r.get::<i64, _>("seq") as u64,
                at: r.get("at"),
                actor: r.get("actor"),
                action: r.get("action"),
                detail: r.get("detail"),
                prev: r.get("prev"),
                hash: r.get("hash"),
            })
            .collect())
    }

    fn peer_row(r: &SqliteRow) -> Result<PeerRecord> {
        Ok(PeerRecord {
            partner: partner(r.get("partner"))?,
            url: r.get("url"),
            public_key: r.get("public_key"),
            added_at: r.get("added_at"),
            last_sync_at: r.get("last_sync_at"),
            last_ok_at: r.get("last_ok_at"),
            last_error: r.get("last_error"),
            state: r.get("state"),
        })
    }

    fn token_row(r: &SqliteRow) -> Result<TokenRecord> {
        let kind: String = r.get("kind");
        Ok(TokenRecord {
            token_hash: r.get("token_hash"),
            username: r.get("username"),
            label: r.get("label"),
            kind: codec::token_kind(&kind)?,
            created_at: r.get("created_at"),
            expires_at: r.get("expires_at"),
        })
    }

    fn user_row(r: &SqliteRow) -> Result<UserRecord> {
        let role: String = r.get("role");
        Ok(UserRecord {
            username: r.get("username"),
            role: entente_domain::Role::parse(&role).map_err(|e| corrupt("role", e))?,
            password_hash: r.get("password_hash"),
            created_at: r.get("created_at"),
            disabled: r.get::<i64, _>("disabled") != 0,
        })
    }
}

fn placeholders(rows: usize, cols: usize) -> String {
    let row = format!("({})", vec!["?"; cols].join(","));
    vec![row; rows].join(",")
}

#[async_trait]
impl Store for SqliteStore {
    async fn claim_partner(&self, p: &PartnerCode) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(be)?;
        let found: Option<String> = sqlx::query_scalar("SELECT v FROM meta WHERE k = 'partner'")
            .fetch_optional(&mut *tx)
            .await
            .map_err(be)?;
        match found {
            Some(f) if f != p.as_str() => {
                return Err(StoreError::WrongPartner {
                    expected: p.to_string(),
                    found: f,
                });
            }
            Some(_) => {}
            None => {
                sqlx::query("INSERT INTO meta (k, v) VALUES ('partner', ?)")
                    .bind(p.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(be)?;
            }
        }
        tx.commit().await.map_err(be)
    }

    async fn backup_to(&self, path: &Path) -> Result<()> {
        if path.exists() {
            return Err(StoreError::Conflict(format!("{}", path.display())));
        }
        // VACUUM INTO reads one consistent snapshot (a read transaction) and writes a compact copy.
        sqlx::query("VACUUM INTO ?")
            .bind(path.to_string_lossy().into_owned())
            .execute(&self.pool)
            .await
            .map_err(be)?;
        Ok(())
    }

    async fn log(&self, log_id: &str) -> Result<Option<LogInfo>> {
        let r = sqlx::query("SELECT * FROM logs WHERE log_id = ?")
            .bind(log_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(be)?;
        r.as_ref().map(Self::log_row).transpose()
    }

    async fn logs(&self) -> Result<Vec<LogInfo>> {
        let rows = sqlx::query("SELECT * FROM logs ORDER BY log_id")
            .fetch_all(&self.pool)
            .await
            .map_err(be)?;
        rows.iter().map(Self::log_row).collect()
    }

    async fn entries_after(
        &self,
        log_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<SignedEntry>> {
        let rows = sqlx::query(
            "SELECT body, sig FROM entries WHERE log_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(log_id)
        .bind(after as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(be)?;
        Ok(rows
            .into_iter()
            .map(|r| SignedEntry {
                body: r.get("body"),
                sig: hex::encode(r.get::<Vec<u8>, _>("sig")),
            })
            .collect())
    }

    async fn entry_hashes(&self, log_id: &str, from: u64, to: u64) -> Result<Vec<(u64, [u8; 32])>> {
        let rows = sqlx::query(
            "SELECT seq, hash FROM entries WHERE log_id = ? AND seq BETWEEN ? AND ? ORDER BY seq",
        )
        .bind(log_id)
        .bind(from as i64)
        .bind(to as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(be)?;
        rows.into_iter()
            .map(|r| Ok((r.get::<i64, _>("seq") as u64, hash32(r.get("hash"))?)))
            .collect()
    }

    async fn append(
        &self,
        log: &LogDescriptor,
        expected: LogHead,
        entries: &[ParsedEntry],
        projections: &[Projection],
    ) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(be)?;
        let head: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT head_seq, head_hash FROM logs WHERE log_id = ?")
                .bind(&log.log_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(be)?;
        let current = match head {
            Some((seq, hash)) => LogHead {
                seq: seq as u64,
                hash: hash32(hash)?,
            },
            None => LogHead::EMPTY,
        };
        if current != expected {
            return Err(StoreError::HeadMoved {
                log_id: log.log_id.clone(),
                expected: expected.seq,
            });
        }
        let Some(last) = entries.last() else {
            return Ok(());
        };
        // Rows that point into an entry body must point into one appended here.
        for p in projections {
            if let Projection::Stix(StixRow {
                span: Some(sp),
                stix_id,
                ..
            }) = p
            {
                let inside = entries
                    .iter()
                    .find(|e| e.header.seq == sp.seq)
                    .and_then(|e| e.body.get(sp.start..sp.start + sp.len))
                    .is_some();
                if !inside {
                    return Err(StoreError::Backend(format!(
                        "{stix_id}: its span is not inside an entry of this append"
                    )));
                }
            }
        }
        for chunk in entries.chunks(INSERT_CHUNK) {
            let sql = format!(
                "INSERT INTO entries (log_id, seq, body, sig, hash) VALUES {}",
                placeholders(chunk.len(), 5)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for e in chunk {
                q = q
                    .bind(&log.log_id)
                    .bind(e.header.seq as i64)
                    .bind(&e.body)
                    .bind(e.sig.as_slice())
                    .bind(e.hash.as_slice());
            }
            q.execute(&mut *tx).await.map_err(be)?;
        }
        sqlx::query(
            "INSERT INTO logs (log_id, origin, audience, head_seq, head_hash) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (log_id) DO UPDATE SET head_seq = excluded.head_seq, head_hash = excluded.head_hash",
        )
        .bind(&log.log_id)
        .bind(log.origin.as_str())
        .bind(log.audience.key())
        .bind(last.header.seq as i64)
        .bind(last.hash.as_slice())
        .execute(&mut *tx)
        .await
        .map_err(be)?;

        let items: Vec<&ItemState> = projections
            .iter()
            .filter_map(|p| {
                if let Projection::Item(i) = p {
                    Some(i)
                } else {
                    None
                }
            })
            .collect();
        for chunk in items.chunks(INSERT_CHUNK / 2) {
            let sql = format!(
                "INSERT INTO items (item_id, format_id, origin, kind, tlp, topics, updated_at, state) VALUES {}
                 ON CONFLICT (item_id) DO UPDATE SET format_id = excluded.format_id, kind = excluded.kind,
                 tlp = excluded.tlp, topics = excluded.topics, updated_at = excluded.updated_at, state = excluded.state",
                placeholders(chunk.len(), 8)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for i in chunk {
                q = q
                    .bind(&i.item_id)
                    .bind(&i.format_id)
                    .bind(i.origin.as_str())
                    .bind(i.kind.as_str())
                    .bind(i.tlp.as_str())
                    .bind(format!(",{},", i.topics.join(",")))
                    .bind(&i.updated_at)
                    .bind(to_json(i));
            }
            q.execute(&mut *tx).await.map_err(be)?;
        }
        self.append_stix(&mut tx, &log.log_id, projections).await?;
        for p in projections {
            if let Projection::Object {
                kind,
                id,
                format_id,
                state,
            } = p
            {
                sqlx::query(
                    "INSERT INTO objects (kind, id, format_id, state) VALUES (?, ?, ?, ?)
                     ON CONFLICT (kind, id) DO UPDATE SET state = excluded.state",
                )
                .bind(*kind)
                .bind(id)
                .bind(format_id)
                .bind(state)
                .execute(&mut *tx)
                .await
                .map_err(be)?;
            }
            if let Projection::Statement(st) = p {
                sqlx::query(
                    "INSERT INTO statements (statement_id, format_id, state) VALUES (?, ?, ?)
                     ON CONFLICT (statement_id) DO UPDATE SET state = excluded.state",
                )
                .bind(&st.statement_id)
                .bind(&st.format_id)
                .bind(to_json(st))
                .execute(&mut *tx)
                .await
                .map_err(be)?;
            }
            if let Projection::Format(f) = p {
                sqlx::query(
                    "INSERT INTO formats (format_id, state) VALUES (?, ?)
                     ON CONFLICT (format_id) DO UPDATE SET state = excluded.state",
                )
                .bind(&f.format_id)
                .bind(to_json(f))
                .execute(&mut *tx)
                .await
                .map_err(be)?;
            }
        }
        tx.commit().await.map_err(be)?;
        // Full: a checkpoint is already pending, which covers this write too.
        let _ = self.checkpoint.try_send(());
        Ok(())
    }

    async fn record_fork(&self, f: &ForkEvidence) -> Result<()> {
        sqlx::query(
            "INSERT OR IGNORE INTO forks (log_id, seq, origin, held_body, held_sig, conflicting_body, conflicting_sig,
             received_from, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&f.log_id)
        .bind(f.seq as i64)
        .bind(f.origin.as_str())
        .bind(&f.held.body)
        .bind(&f.held.sig)
        .bind(&f.conflicting.body)
        .bind(&f.conflicting.sig)
        .bind(f.received_from.as_str())
        .bind(&f.detected_at)
        .execute(&self.pool)
        .await
        .map_err(be)?;
        Ok(())
    }

    async fn put_witness(&self, w: &WitnessRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO witnesses (origin, witness, checkpoint, origin_sig, cosig, recorded_at)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (origin, witness) DO UPDATE SET checkpoint = excluded.checkpoint,
               origin_sig = excluded.origin_sig, cosig = excluded.cosig,
               recorded_at = excluded.recorded_at",
        )
        .bind(w.origin.as_str())
        .bind(w.witness.as_str())
        .bind(&w.checkpoint)
        .bind(&w.origin_sig)
        .bind(&w.cosig)
        .bind(&w.recorded_at)
        .execute(&self.pool)
        .await
        .map_err(be)?;
        Ok(())
    }

    async fn witnesses(&self) -> Result<Vec<WitnessRecord>> {
        let rows = sqlx::query("SELECT * FROM witnesses ORDER BY origin, witness")
            .fetch_all(&self.pool)
            .await
            .map_err(be)?;
        rows.into_iter()
            .map(|r| {
                Ok(WitnessRecord {
                    origin: partner(r.get("origin"))?,
                    witness: partner(r.get("witness"))?,
                    checkpoint: r.get("checkpoint"),
                    origin_sig: r.get("origin_sig"),
                    cosig: r.get("cosig"),
                    recorded_at: r.get("recorded_at"),
                })
            })
            .collect()
    }

    async fn forks(&self) -> Result<Vec<ForkEvidence>> {
        let rows = sqlx::query("SELECT * FROM forks ORDER BY detected_at, log_id, seq")
            .fetch_all(&self.pool)
            .await
            .map_err(be)?;
        rows.into_iter()
            .map(|r| {
                Ok(ForkEvidence {
                    log_id: r.get("log_id"),
                    origin: partner(r.get("origin"))?,
                    seq: r.get::<i64, _>("seq") as u64,
                    held: SignedEntry {
                        body: r.get("held_body"),
                        sig: r.get("held_sig"),
                    },
                    conflicting: SignedEntry {
                        body: r.get("conflicting_body"),
                        sig: r.get("conflicting_sig"),
                    },
                    received_from: partner(r.get("received_from"))?,
                    detected_at: r.get("detected_at"),
                })
            })
            .collect()
    }

    async fn format(&self, id: &str) -> Result<Option<FormatState>> {
        let s: Option<String> = sqlx::query_scalar("SELECT state FROM formats WHERE format_id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(be)?;
        s.as_deref().map(json).transpose()
    }

    async fn formats(&self) -> Result<Vec<FormatState>> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT state FROM formats ORDER BY format_id")
            .fetch_all(&self.pool)
            .await
            .map_err(be)?;
        rows.iter().map(|s| json(s)).collect()
    }

    async fn item(&self, id: &str) -> Result<Option<ItemState>> {
        let s: Option<String> = sqlx::query_scalar("SELECT state FROM items WHERE item_id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(be)?;
        s.as_deref().map(json).transpose()
    }

    async fn items(&self, q: &ItemQuery) -> Result<Vec<ItemState>> {
        let rows = sqlx::query(
            "SELECT state FROM items WHERE pos > COALESCE((SELECT pos FROM items WHERE item_id = ?1), 0)
               AND (?2 IS NULL OR format_id = ?2) AND (?3 IS NULL OR kind = ?3)
               AND (?4 IS NULL OR instr(topics, ?4) > 0) AND (?5 IS NULL OR origin = ?5)
               AND (?6 IS NULL OR tlp = ?6) AND (?7 IS NULL OR updated_at >= ?7)
             ORDER BY pos LIMIT ?8",
        )
        .bind(q.after.as_deref())
        .bind(q.format_id.as_deref())
        .bind(q.kind.map(|k| k.as_str()))
        .bind(q.topic.as_ref().map(|t| format!(",{t},")))
        .bind(q.origin.as_ref().map(|o| o.as_str()))
        .bind(q.tlp.map(|t| t.as_str()))
        .bind(q.since.as_deref())
        .bind(q.limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(be)?;
        rows.into_iter()
            .map(|r| json(&r.get::<String, _>("state")))
            .collect()
    }

    async fn items_by_id(&self, ids: &[String]) -> Result<Vec<ItemState>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT state FROM items WHERE item_id IN ({})",
                vec!["?"; chunk.len()].join(",")
            );
            let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id);
            }
            for s in q.fetch_all(&self.pool).await.map_err(be)? {
                out.push(json(&s)?);
            }
        }
        Ok(out)
    }

    async fn stix_owners(
        &self,
        collection: &str,
        ids: &[&str],
    ) -> Result<Vec<(String, PartnerCode)>> {
        let mut out: HashMap<String, (i64, String)> = HashMap::new();
        let Some(cid) = sqlx::query_scalar::<_, i64>("SELECT cid FROM collections WHERE name = ?")
            .bind(collection)
            .fetch_optional(&self.pool)
            .await
            .map_err(be)?
        else {
            return Ok(vec![]);
        };
        let wanted: std::collections::HashSet<&str> = ids.iter().copied().collect();
        let mut keys: Vec<i64> = ids.iter().map(|id| stix_key(collection, id)).collect();
        keys.sort_unstable();
        keys.dedup();
        for chunk in keys.chunks(500) {
            let sql = format!(
                // `+cid`: look rows up by the object key; an index on `cid` would scan the
                // whole collection for every batch (quadratic over an import).
                "SELECT pos, stix_id, origin FROM stix_rows WHERE k IN ({}) AND +cid = ?",
                vec!["?"; chunk.len()].join(",")
            );
            let mut q = sqlx::query_as::<_, (i64, String, String)>(AssertSqlSafe(sql));
            for k in chunk {
                q = q.bind(*k);
            }
            for (pos, id, origin) in q.bind(cid).fetch_all(&self.pool).await.map_err(be)? {
                if !wanted.contains(id.as_str()) {
                    continue;
                }
                let e = out.entry(id).or_insert((pos, origin.clone()));
                if pos < e.0 {
                    *e = (pos, origin);
                }
            }
        }
        out.into_iter()
            .map(|(id, (_, o))| Ok((id, partner(o)?)))
            .collect()
    }

    async fn stix_query(&self, q: &StixQuery) -> Result<Vec<StixRow>> {
        // Values are always bound; only the shape (how many placeholders) is built here.
        let mut sql = String::from(
            "SELECT * FROM stix_rows WHERE cid = (SELECT cid FROM collections WHERE name = ?)",
        );
        let mut binds: Vec<String> = vec![q.collection.clone()];
        if !q.ids.is_empty() {
            sql.push_str(&format!(" AND k IN ({})", vec!["?"; q.ids.len()].join(",")));
        }
        if let Some(a) = &q.added_after {
            sql.push_str(" AND date_added > ?");
            binds.push(a.clone());
        }
        if let Some(a) = &q.after {
            sql.push_str(" AND date_added > ?");
            binds.push(a.clone());
        }
        for (col, vals) in [
            ("stix_id", &q.ids),
            ("stix_type", &q.types),
            ("spec_version", &q.spec_versions),
        ] {
            if !vals.is_empty() {
                sql.push_str(&format!(
                    " AND {col} IN ({})",
                    vec!["?"; vals.len()].join(",")
                ));
                binds.extend(vals.iter().cloned());
            }
        }
        match &q.versions {
            VersionFilter::Last => sql.push_str(" AND latest = 1"),
            VersionFilter::First => sql.push_str(
                " AND version = (SELECT MIN(version) FROM stix_rows f WHERE f.k = stix_rows.k AND f.cid = stix_rows.cid AND f.stix_id = stix_rows.stix_id)",
            ),
            VersionFilter::All => {}
            VersionFilter::Exact(v) => {
                sql.push_str(&format!(" AND version IN ({})", vec!["?"; v.len()].join(",")));
                binds.extend(v.iter().cloned());
            }
        }
        // With an id filter, look rows up by key (the object index) and sort the few found; the
        // unary + keeps SQLite from scanning the date index to avoid that sort.
        sql.push_str(if q.ids.is_empty() {
            " ORDER BY date_added LIMIT ?"
        } else {
            " ORDER BY +date_added LIMIT ?"
        });
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(&binds[0]);
        for id in &q.ids {
            query = query.bind(stix_key(&q.collection, id));
        }
        for b in &binds[1..] {
            query = query.bind(b);
        }
        let rows = query
            .bind(q.limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(be)?;
        let mut out = rows
            .iter()
            .map(|r| {
                let audience: String = r.get("audience");
                let tlp: String = r.get("tlp");
                let named: String = r.get("named_users");
                Ok(StixRow {
                    collection: q.collection.clone(),
                    stix_id: r.get("stix_id"),
                    stix_type: r.get("stix_type"),
                    version: r.get("version"),
                    spec_version: r.get("spec_version"),
                    date_added: r.get("date_added"),
                    origin: partner(r.get("origin"))?,
                    audience: Audience::parse_key(&audience).map_err(|e| corrupt("audience", e))?,
                    tlp: entente_domain::Tlp::parse(&tlp).map_err(|e| corrupt("tlp", e))?,
                    author: r.get("author"),
                    named_users: named
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    raw: r.get("raw"),
                    single_version: false,
                    span: None,
                })
            })
            .collect::<Result<Vec<StixRow>>>()?;
        // Rows that point into entry bodies: read each body once and cut the objects out.
        let mut bodies: HashMap<(i64, i64), String> = HashMap::new();
        for (row, out) in rows.iter().zip(out.iter_mut()) {
            let Some(log_row) = row.get::<Option<i64>, _>("entry_log") else {
                continue;
            };
            let seq: i64 = row.get("entry_seq");
            let start: i64 = row.get("raw_start");
            let len: i64 = row.get("raw_len");
            if let std::collections::hash_map::Entry::Vacant(slot) = bodies.entry((log_row, seq)) {
                let body: String = sqlx::query_scalar(
                    "SELECT e.body FROM entries e JOIN logs l ON e.log_id = l.log_id
                     WHERE l.rowid = ? AND e.seq = ?",
                )
                .bind(log_row)
                .bind(seq)
                .fetch_optional(&self.pool)
                .await
                .map_err(be)?
                .ok_or_else(|| corrupt("stix row", "its entry is missing"))?;
                slot.insert(body);
            }
            let body = &bodies[&(log_row, seq)];
            out.raw = usize::try_from(start)
                .ok()
                .zip(usize::try_from(len).ok())
                .and_then(|(s, l)| body.get(s..s + l))
                .ok_or_else(|| corrupt("stix row", "its span is outside its entry"))?
                .to_owned();
        }
        Ok(out)
    }

    async fn object(&self, kind: &str, id: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT state FROM objects WHERE kind = ? AND id = ?")
            .bind(kind)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(be)
    }

    async fn objects(&self, kind: &str) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT state FROM objects WHERE kind = ? ORDER BY id")
            .bind(kind)
            .fetch_all(&self.pool)
            .await
            .map_err(be)
    }

    async fn statement(
        &self,
        id: &str,
    ) -> Result<Option<entente_domain::statement::StatementState>> {
        let s: Option<String> =
            sqlx::query_scalar("SELECT state FROM statements WHERE statement_id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(be)?;
        s.as_deref().map(json).transpose()
    }

    async fn statements(&self) -> Result<Vec<entente_domain::statement::StatementState>> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT state FROM statements ORDER BY statement_id")
                .fetch_all(&self.pool)
                .await
                .map_err(be)?;
        rows.iter().map(|s| json(s)).collect()
    }

    async fn put_status(&self, id: &str, username: &str, json: &str) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO taxii_status (status_id, username, body) VALUES (?, ?, ?)",
        )
        .bind(id)
        .bind(username)
        .bind(json)
        .execute(&self.pool)
        .await
        .map_err(be)?;
        Ok(())
    }

    async fn status(&self, id: &str) -> Result<Option<(String, String)>> {
        sqlx::query_as("SELECT username, body FROM taxii_status WHERE status_id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(be)
    }

    async fn append_audit(&self, r: &AuditRecord) -> Result<()> {
        let res = sqlx::query("INSERT INTO audit (seq, at, actor, action, detail, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(r.seq as i64)
            .bind(&r.at)
            .bind(&r.actor)
            .bind(&r.action)
            .bind(&r.detail)
            .bind(&r.prev)
            .bind(&r.hash)
            .execute(&self.pool)
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                Err(StoreError::HeadMoved {
                    log_id: "audit".into(),
                    expected: r.seq,
                })
            }
            Err(e) => Err(be(e)),
        }
    }

    async fn audit_head(&self) -> Result<Option<AuditRecord>> {
        Ok(self
            .audit_query("SELECT * FROM audit ORDER BY seq DESC LIMIT 1", 0, 1)
            .await?
            .pop())
    }

    async fn audit_records(&self, after: u64, limit: u32) -> Result<Vec<AuditRecord>> {
        self.audit_query(
            "SELECT * FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            after,
            limit,
        )
        .await
    }

    async fn upsert_peer(&self, p: &PeerRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO peers (partner, url, public_key, added_at, state) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (partner) DO UPDATE SET url = excluded.url, public_key = excluded.public_key,
               state = excluded.state",
        )
        .bind(p.partner.as_str())
        .bind(p.url.as_deref())
        .bind(&p.public_key)
        .bind(&p.added_at)
        .bind(&p.state)
        .execute(&self.pool)
        .await
        .map_err(be)?;
        Ok(())
    }

    async fn peers(&self) -> Result<Vec<PeerRecord>> {
        let rows = sqlx::query("SELECT * FROM peers ORDER BY partner")
            .fetch_all(&self.pool)
            .await
            .map_err(be)?;
        rows.iter().map(Self::peer_row).collect()
    }

    async fn set_peer_status(&self, p: &PartnerCode, at: &str, error: Option<&str>) -> Result<()> {
        sqlx::query(
            "UPDATE peers SET last_sync_at = ?1, last_error = ?2,
             last_ok_at = CASE WHEN ?2 IS NULL THEN ?1 ELSE last_ok_at END WHERE partner = ?3",
        )
        .bind(at)
        .bind(error)
        .bind(p.as_str())
        .execute(&self.pool)
        .await
        .map_err(be)?;
        Ok(())
    }

    async fn create_user(&self, u: &UserRecord) -> Result<()> {
        let r = sqlx::query(
            "INSERT INTO users (username, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(&u.username)
        .bind(u.role.as_str())
        .bind(&u.password_hash)
        .bind(&u.created_at)
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                Err(StoreError::Conflict(format!("user {}", u.username)))
            }
            Err(e) => Err(be(e)),
        }
    }

    async fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        let r = sqlx::query("SELECT * FROM users WHERE username = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(be)?;
        r.as_ref().map(Self::user_row).transpose()
    }

    async fn users(&self) -> Result<Vec<UserRecord>> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY username")
            .fetch_all(&self.pool)
            .await
            .map_err(be)?;
        rows.iter().map(Self::user_row).collect()
    }

    async fn create_token(&self, t: &TokenRecord) -> Result<()> {
        sqlx::query("INSERT INTO tokens (token_hash, username, label, kind, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(&t.token_hash)
            .bind(&t.username)
            .bind(&t.label)
            .bind(t.kind.as_str())
            .bind(&t.created_at)
            .bind(t.expires_at.as_deref())
            .execute(&self.pool)
            .await
            .map_err(be)?;
        Ok(())
    }

    async fn update_user(
        &self,
        username: &str,
        role: Option<entente_domain::Role>,
        disabled: Option<bool>,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE users SET role = COALESCE(?, role), disabled = COALESCE(?, disabled)
             WHERE username = ?",
        )
        .bind(role.map(|r| r.as_str()))
        .bind(disabled.map(i64::from))
        .bind(username)
        .execute(&self.pool)
        .await
        .map_err(be)?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_user(&self, username: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(be)?;
        sqlx::query("DELETE FROM tokens WHERE username = ?")
            .bind(username)
            .execute(&mut *tx)
            .await
            .map_err(be)?;
        let r = sqlx::query("DELETE FROM users WHERE username = ?")
            .bind(username)
            .execute(&mut *tx)
            .await
            .map_err(be)?;
        tx.commit().await.map_err(be)?;
        Ok(r.rows_affected() == 1)
    }

    async fn tokens(&self, username: Option<&str>) -> Result<Vec<TokenRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM tokens WHERE ? IS NULL OR username = ? ORDER BY created_at, token_hash",
        )
        .bind(username)
        .bind(username)
        .fetch_all(&self.pool)
        .await
        .map_err(be)?;
        rows.iter().map(Self::token_row).collect()
    }

    async fn set_peer_state(&self, partner: &PartnerCode, state: &str) -> Result<bool> {
        let r = sqlx::query("UPDATE peers SET state = ? WHERE partner = ?")
            .bind(state)
            .bind(partner.as_str())
            .execute(&self.pool)
            .await
            .map_err(be)?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_token(&self, hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM tokens WHERE token_hash = ?")
            .bind(hash)
            .execute(&self.pool)
            .await
            .map_err(be)?;
        Ok(())
    }

    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let r = sqlx::query("SELECT * FROM tokens WHERE token_hash = ?")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(be)?;
        r.as_ref().map(Self::token_row).transpose()
    }
}

#[cfg(test)]
mod tests;

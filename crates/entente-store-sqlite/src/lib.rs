//! The embedded SQLite backend of the storage trait (the zero-setup default): one file in
//! the node's data directory, WAL journal, synchronous=FULL so an acknowledged write
//! survives a crash. Nothing outside this crate sees a SQLite type.

use async_trait::async_trait;
use entente_domain::{FormatState, ItemState, PartnerCode};
use entente_log::{LogDescriptor, LogHead, ParsedEntry, SignedEntry};
use entente_store::codec::{hash32, json, to_json};
use entente_store::*;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, SqlitePool};
use std::path::Path;
use std::time::Duration;

/// Rows per multi-row INSERT: 200 rows × 5 columns stays far below SQLite's variable limit.
const INSERT_CHUNK: usize = 200;

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
            // 8 MiB of page cache per connection (8 connections: at most 64 MiB). The database file
            // is in the OS page cache anyway; 32 MiB each held 256 MiB of a node's resident memory.
            .pragma("cache_size", "-8192")
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
}

/// Column access for the shared row mapping (`entente_store::rows`).
struct Cols<'a>(&'a SqliteRow);

impl rows::Columns for Cols<'_> {
    fn text(&self, c: &str) -> String {
        self.0.get(c)
    }
    fn opt_text(&self, c: &str) -> Option<String> {
        self.0.get(c)
    }
    fn int(&self, c: &str) -> i64 {
        self.0.get(c)
    }
    fn bytes(&self, c: &str) -> Vec<u8> {
        self.0.get(c)
    }
    fn flag(&self, c: &str) -> bool {
        self.0.get::<i64, _>(c) != 0
    }
}

/// The stored states of the items with these ids that exist (also read inside an append).
async fn items_with_ids(
    c: &mut sqlx::SqliteConnection,
    ids: &[impl AsRef<str>],
) -> Result<Vec<ItemState>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT state FROM items WHERE item_id IN ({})",
            vec!["?"; chunk.len()].join(",")
        );
        let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(id.as_ref());
        }
        for s in q.fetch_all(&mut *c).await.map_err(be)? {
            out.push(json(&s)?);
        }
    }
    Ok(out)
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
        r.as_ref().map(|r| rows::log(&Cols(r))).transpose()
    }

    async fn logs(&self) -> Result<Vec<LogInfo>> {
        let rows = sqlx::query("SELECT * FROM logs ORDER BY log_id")
            .fetch_all(&self.pool)
            .await
            .map_err(be)?;
        rows.iter().map(|r| rows::log(&Cols(r))).collect()
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
        // Before the items are written: the counts read the states they replace.
        counts::apply(&mut tx, &items).await?;
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
        blobs::write_refs(&mut tx, projections).await?;
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
        rows.iter().map(|r| rows::witness(&Cols(r))).collect()
    }

    async fn forks(&self) -> Result<Vec<ForkEvidence>> {
        let rows = sqlx::query("SELECT * FROM forks ORDER BY detected_at, log_id, seq")
            .fetch_all(&self.pool)
            .await
            .map_err(be)?;
        rows.iter().map(|r| rows::fork(&Cols(r))).collect()
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
        // Two literal queries rather than one with a computed order, so each walks the
        // position index in its own direction.
        let sql = if q.newest_first {
            "SELECT state FROM items WHERE pos < COALESCE((SELECT pos FROM items WHERE item_id = ?1), 9223372036854775807)
               AND (?2 IS NULL OR format_id = ?2) AND (?3 IS NULL OR kind = ?3)
               AND (?4 IS NULL OR instr(topics, ?4) > 0) AND (?5 IS NULL OR origin = ?5)
               AND (?6 IS NULL OR tlp = ?6) AND (?7 IS NULL OR updated_at >= ?7)
             ORDER BY pos DESC LIMIT ?8"
        } else {
            "SELECT state FROM items WHERE pos > COALESCE((SELECT pos FROM items WHERE item_id = ?1), 0)
               AND (?2 IS NULL OR format_id = ?2) AND (?3 IS NULL OR kind = ?3)
               AND (?4 IS NULL OR instr(topics, ?4) > 0) AND (?5 IS NULL OR origin = ?5)
               AND (?6 IS NULL OR tlp = ?6) AND (?7 IS NULL OR updated_at >= ?7)
             ORDER BY pos LIMIT ?8"
        };
        let rows = sqlx::query(sql)
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

    async fn network_counts(
        &self,
        topic: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<Vec<entente_store::counts::NetworkCount>> {
        counts::read(&self.pool, topic, since, until).await
    }

    async fn items_by_id(&self, ids: &[String]) -> Result<Vec<ItemState>> {
        items_with_ids(&mut *self.pool.acquire().await.map_err(be)?, ids).await
    }

    async fn stix_owners(
        &self,
        collection: &str,
        ids: &[&str],
    ) -> Result<Vec<(String, PartnerCode)>> {
        self.read_stix_owners(collection, ids).await
    }

    async fn stix_query(&self, q: &StixQuery) -> Result<Vec<StixRow>> {
        self.read_stix(q).await
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

    async fn append_audit(&self, run: &[AuditRecord]) -> Result<()> {
        audit::append(self, run).await
    }

    async fn audit_head(&self) -> Result<Option<AuditRecord>> {
        Ok(
            audit::query(self, "SELECT * FROM audit ORDER BY seq DESC LIMIT 1", 0, 1)
                .await?
                .pop(),
        )
    }

    async fn audit_records(&self, after: u64, limit: u32) -> Result<Vec<AuditRecord>> {
        audit::query(
            self,
            "SELECT * FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            after,
            limit,
        )
        .await
    }

    async fn upsert_peer(&self, p: &PeerRecord) -> Result<()> {
        peers::upsert(self, p).await
    }

    async fn peers(&self) -> Result<Vec<PeerRecord>> {
        peers::all(self).await
    }

    async fn set_peer_status(&self, p: &PartnerCode, at: &str, error: Option<&str>) -> Result<()> {
        peers::set_status(self, p, at, error).await
    }

    async fn create_user(&self, u: &UserRecord) -> Result<()> {
        users::create_user(self, u).await
    }

    async fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        users::user(self, name).await
    }

    async fn users(&self) -> Result<Vec<UserRecord>> {
        users::users(self).await
    }

    async fn create_token(&self, t: &TokenRecord) -> Result<()> {
        users::create_token(self, t).await
    }

    async fn update_user(
        &self,
        username: &str,
        role: Option<entente_domain::Role>,
        disabled: Option<bool>,
    ) -> Result<bool> {
        users::update_user(self, username, role, disabled).await
    }

    async fn set_user_settings(&self, username: &str, settings: &UserSettings) -> Result<bool> {
        users::set_user_settings(self, username, settings).await
    }

    async fn set_read_mark(&self, username: &str, thread_id: &str, seen: &str) -> Result<()> {
        users::set_read_mark(self, username, thread_id, seen).await
    }

    async fn read_marks(&self, username: &str) -> Result<Vec<(String, String)>> {
        users::read_marks(self, username).await
    }

    async fn queue_notifications(&self, n: &[NotificationRecord]) -> Result<()> {
        notifications::queue(self, n).await
    }

    async fn due_notifications(&self, now: &str, limit: u32) -> Result<Vec<NotificationRecord>> {
        notifications::due(self, now, limit).await
    }

    async fn update_notification(&self, n: &NotificationRecord) -> Result<()> {
        notifications::update(self, n).await
    }

    async fn notifications(&self, limit: u32) -> Result<Vec<NotificationRecord>> {
        notifications::latest(self, limit).await
    }

    async fn notify_cursors(&self) -> Result<Vec<(String, u64)>> {
        notifications::cursors(self).await
    }

    async fn set_notify_cursors(&self, cursors: &[(String, u64)]) -> Result<()> {
        notifications::set_cursors(self, cursors).await
    }

    async fn prune_notifications(&self, before: &str) -> Result<u64> {
        notifications::prune(self, before).await
    }

    async fn undigest_notifications(
        &self,
        recipient: &str,
        kind: &str,
        due_at: &str,
    ) -> Result<u64> {
        notifications::undigest(self, recipient, kind, due_at).await
    }

    async fn delete_user(&self, username: &str) -> Result<bool> {
        users::delete_user(self, username).await
    }

    async fn tokens(&self, username: Option<&str>) -> Result<Vec<TokenRecord>> {
        users::tokens(self, username).await
    }

    async fn set_peer_state(&self, partner: &PartnerCode, state: &str) -> Result<bool> {
        peers::set_state(self, partner, state).await
    }

    async fn put_blob_chunk(&self, sha256: &str, index: u32, data: &[u8], at: &str) -> Result<()> {
        blobs::put_chunk(self, sha256, index, data, at).await
    }
    async fn blob_chunk(&self, sha256: &str, index: u32) -> Result<Option<Vec<u8>>> {
        blobs::chunk(self, sha256, index).await
    }
    async fn blob_chunk_indexes(&self, sha256: &str) -> Result<Vec<u32>> {
        blobs::chunk_indexes(self, sha256).await
    }
    async fn drop_blob_chunks(&self, sha256: &str) -> Result<()> {
        blobs::drop_chunks(self, sha256).await
    }
    async fn complete_blob(&self, b: &BlobInfo, uploader: Option<&str>) -> Result<()> {
        blobs::complete(self, b, uploader).await
    }
    async fn blob(&self, sha256: &str) -> Result<Option<BlobInfo>> {
        blobs::blob(self, sha256).await
    }
    async fn blob_uploaded_by(&self, sha256: &str, username: &str) -> Result<bool> {
        blobs::uploaded_by(self, sha256, username).await
    }
    async fn put_blob_text(&self, sha256: &str, text: &str) -> Result<()> {
        blobs::put_text(self, sha256, text).await
    }
    async fn blob_text(&self, sha256: &str) -> Result<Option<String>> {
        blobs::text(self, sha256).await
    }
    async fn verify_blob_for_item(&self, sha256: &str, item_id: &str) -> Result<()> {
        blobs::verify_for_item(self, sha256, item_id).await
    }
    async fn blob_for_item(&self, sha256: &str, item_id: &str) -> Result<bool> {
        blobs::for_item(self, sha256, item_id).await
    }
    async fn missing_blobs(
        &self,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<(String, String, u64)>> {
        blobs::missing(self, after, limit).await
    }
    async fn quarantine_blob(&self, sha: &str, item: &str, finding: &str, at: &str) -> Result<()> {
        blobs::quarantine(self, sha, item, finding, at).await
    }
    async fn blob_quarantine(&self, sha: &str, item: Option<&str>) -> Result<Option<String>> {
        blobs::quarantined(self, sha, item).await
    }
    async fn quarantined_blobs(
        &self,
        sha: Option<&str>,
        limit: u32,
    ) -> Result<Vec<QuarantineRecord>> {
        blobs::quarantine_list(self, sha, limit).await
    }
    async fn release_blob_quarantine(
        &self,
        b: &BlobInfo,
        items: &[String],
        overridden: Option<&str>,
    ) -> Result<Vec<String>> {
        blobs::quarantine_release(self, b, items, overridden).await
    }
    async fn drop_abandoned_blobs(&self, before: &str, limit: u32) -> Result<Vec<String>> {
        blobs::drop_abandoned(self, before, limit).await
    }
    async fn held_blobs(&self, after: Option<&str>, limit: u32) -> Result<Vec<BlobInfo>> {
        blobs::held(self, after, limit).await
    }
    async fn quarantine_held_blob(
        &self,
        sha: &str,
        finding: &str,
        at: &str,
    ) -> Result<Vec<String>> {
        blobs::quarantine_held(self, sha, finding, at).await
    }

    async fn delete_token(&self, hash: &str) -> Result<()> {
        users::delete_token(self, hash).await
    }

    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        users::token(self, hash).await
    }
}

mod audit;
mod blobs;
mod counts;
mod migrations;
mod notifications;
mod peers;
mod stix;
#[cfg(test)]
mod tests;
mod users;

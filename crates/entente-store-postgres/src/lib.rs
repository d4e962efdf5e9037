//! The PostgreSQL backend of the storage trait, for nodes that outgrow one machine: several
//! stateless `entente serve` processes of one node share one database. It owns its append-only
//! migrations and the database-level write lock; nothing outside this crate sees a PostgreSQL
//! type.

use async_trait::async_trait;
use entente_domain::{FormatState, ItemState, PartnerCode};
use entente_log::{LogDescriptor, LogHead, ParsedEntry, SignedEntry};
use entente_store::codec::{hash32, json, to_json};
use entente_store::*;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Executor, PgPool, Row};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// Advisory lock keys (arbitrary constants, one per purpose).
const MIGRATION_LOCK: i64 = 0x656e_7465_6e74_6501;

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

fn be(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl PgStore {
    /// Connect to `url` (`postgres://user:password@host:port/database`) and run pending
    /// migrations.
    pub async fn open(url: &str) -> Result<PgStore> {
        Self::open_in_schema(url, None).await
    }

    /// [`PgStore::open`] inside a schema of its own (created if needed): the tests give every
    /// store a fresh one in a shared database.
    pub async fn open_in_schema(url: &str, schema: Option<&str>) -> Result<PgStore> {
        let mut opts = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Backend(format!("database URL: {e}")))?;
        if let Some(s) = schema {
            if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(StoreError::Backend(format!("schema name {s:?}")));
            }
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(opts.clone())
                .await
                .map_err(be)?;
            admin
                .execute(AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS {s}")))
                .await
                .map_err(be)?;
            admin.close().await;
            opts = opts.options([("search_path", s)]);
        }
        // One direct connection first: an unreachable server or a refused login is reported at
        // once with its cause, instead of as a pool timeout.
        use sqlx::Connection;
        sqlx::PgConnection::connect_with(&opts)
            .await
            .map_err(be)?
            .close()
            .await
            .map_err(be)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(be)?;
        let store = PgStore { pool };
        store.migrate().await?;
        Ok(store)
    }
}

/// Column access for the shared row mapping (`entente_store::rows`).
struct Cols<'a>(&'a PgRow);

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
        self.0.get(c)
    }
}

#[async_trait]
impl Store for PgStore {
    async fn claim_partner(&self, p: &PartnerCode) -> Result<()> {
        sqlx::query("INSERT INTO meta (k, v) VALUES ('partner', $1) ON CONFLICT (k) DO NOTHING")
            .bind(p.as_str())
            .execute(&self.pool)
            .await
            .map_err(be)?;
        let found: String = sqlx::query_scalar("SELECT v FROM meta WHERE k = 'partner'")
            .fetch_one(&self.pool)
            .await
            .map_err(be)?;
        if found != p.as_str() {
            return Err(StoreError::WrongPartner {
                expected: p.to_string(),
                found,
            });
        }
        Ok(())
    }

    async fn backup_to(&self, _path: &Path) -> Result<()> {
        Err(StoreError::Backend(
            "a PostgreSQL node is backed up with PostgreSQL's own tools (pg_dump or pg_basebackup); \
             `entente backup` copies SQLite nodes"
                .into(),
        ))
    }

    async fn lock_writes(&self) -> Result<Box<dyn WriteLock>> {
        let mut conn = self.pool.acquire().await.map_err(be)?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(WRITE_LOCK)
            .execute(&mut *conn)
            .await
            .map_err(be)?;
        Ok(Box::new(PgWriteLock { conn: Some(conn) }))
    }

    async fn log(&self, log_id: &str) -> Result<Option<LogInfo>> {
        let r = sqlx::query("SELECT * FROM logs WHERE log_id = $1")
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
            "SELECT body, sig FROM entries WHERE log_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
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
            "SELECT seq, hash FROM entries WHERE log_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq",
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
        let moved = || StoreError::HeadMoved {
            log_id: log.log_id.clone(),
            expected: expected.seq,
        };
        let mut tx = self.pool.begin().await.map_err(be)?;
        // The log's row is locked until commit: a concurrent append to the same log (another
        // process) waits, then finds the head moved. A log's first append has no row to lock;
        // there the entries' primary key refuses the second writer.
        let head: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT head_seq, head_hash FROM logs WHERE log_id = $1 FOR UPDATE")
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
            return Err(moved());
        }
        let Some(last) = entries.last() else {
            return Ok(());
        };
        let seqs: Vec<i64> = entries.iter().map(|e| e.header.seq as i64).collect();
        let bodies: Vec<&str> = entries.iter().map(|e| e.body.as_str()).collect();
        let sigs: Vec<&[u8]> = entries.iter().map(|e| e.sig.as_slice()).collect();
        let hashes: Vec<&[u8]> = entries.iter().map(|e| e.hash.as_slice()).collect();
        let r = sqlx::query(
            "INSERT INTO entries (log_id, seq, body, sig, hash)
             SELECT $1, s, b, g, h FROM UNNEST($2::bigint[], $3::text[], $4::bytea[], $5::bytea[])
               AS x(s, b, g, h)",
        )
        .bind(&log.log_id)
        .bind(&seqs)
        .bind(&bodies)
        .bind(&sigs)
        .bind(&hashes)
        .execute(&mut *tx)
        .await;
        match r {
            Err(e) if unique_violation(&e) => return Err(moved()),
            Err(e) => return Err(be(e)),
            Ok(_) => {}
        }
        let r = sqlx::query(
            "INSERT INTO logs (log_id, origin, audience, head_seq, head_hash) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (log_id) DO UPDATE SET head_seq = excluded.head_seq, head_hash = excluded.head_hash",
        )
        .bind(&log.log_id)
        .bind(log.origin.as_str())
        .bind(log.audience.key())
        .bind(last.header.seq as i64)
        .bind(last.hash.as_slice())
        .execute(&mut *tx)
        .await;
        match r {
            Err(e) if unique_violation(&e) => return Err(moved()),
            Err(e) => return Err(be(e)),
            Ok(_) => {}
        }
        let items: Vec<&ItemState> = projections
            .iter()
            .filter_map(|p| match p {
                Projection::Item(i) => Some(i),
                _ => None,
            })
            .collect();
        // Before the items are written: the counts read the states they replace.
        counts::apply(&mut tx, &items).await?;
        if !items.is_empty() {
            let col = |f: &dyn Fn(&ItemState) -> String| -> Vec<String> {
                items.iter().map(|i| f(i)).collect()
            };
            sqlx::query(
                "INSERT INTO items (item_id, format_id, origin, kind, tlp, topics, updated_at, state)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                   $6::text[], $7::text[], $8::text[])
                 ON CONFLICT (item_id) DO UPDATE SET format_id = excluded.format_id, kind = excluded.kind,
                 tlp = excluded.tlp, topics = excluded.topics, updated_at = excluded.updated_at,
                 state = excluded.state",
            )
            .bind(col(&|i| i.item_id.clone()))
            .bind(col(&|i| i.format_id.clone()))
            .bind(col(&|i| i.origin.to_string()))
            .bind(col(&|i| i.kind.as_str().to_owned()))
            .bind(col(&|i| i.tlp.as_str().to_owned()))
            .bind(col(&|i| format!(",{},", i.topics.join(","))))
            .bind(col(&|i| i.updated_at.clone()))
            .bind(col(&|i| to_json(i)))
            .execute(&mut *tx)
            .await
            .map_err(be)?;
        }
        blobs::write_refs(&mut tx, projections).await?;
        Self::append_stix(&mut tx, entries, projections).await?;
        for p in projections {
            match p {
                Projection::Object {
                    kind,
                    id,
                    format_id,
                    state,
                } => {
                    sqlx::query(
                        "INSERT INTO objects (kind, id, format_id, state) VALUES ($1, $2, $3, $4)
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
                Projection::Statement(st) => {
                    sqlx::query(
                        "INSERT INTO statements (statement_id, format_id, state) VALUES ($1, $2, $3)
                         ON CONFLICT (statement_id) DO UPDATE SET state = excluded.state",
                    )
                    .bind(&st.statement_id)
                    .bind(&st.format_id)
                    .bind(to_json(st))
                    .execute(&mut *tx)
                    .await
                    .map_err(be)?;
                }
                Projection::Format(f) => {
                    sqlx::query(
                        "INSERT INTO formats (format_id, state) VALUES ($1, $2)
                         ON CONFLICT (format_id) DO UPDATE SET state = excluded.state",
                    )
                    .bind(&f.format_id)
                    .bind(to_json(f))
                    .execute(&mut *tx)
                    .await
                    .map_err(be)?;
                }
                _ => {}
            }
        }
        match tx.commit().await {
            Err(e) if unique_violation(&e) => Err(moved()),
            r => r.map_err(be),
        }
    }

    async fn record_fork(&self, f: &ForkEvidence) -> Result<()> {
        sqlx::query(
            "INSERT INTO forks (log_id, seq, origin, held_body, held_sig, conflicting_body, conflicting_sig,
             received_from, detected_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
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
             VALUES ($1, $2, $3, $4, $5, $6)
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
        let s: Option<String> =
            sqlx::query_scalar("SELECT state FROM formats WHERE format_id = $1")
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
        let s: Option<String> = sqlx::query_scalar("SELECT state FROM items WHERE item_id = $1")
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
            "SELECT state FROM items WHERE pos < COALESCE((SELECT pos FROM items WHERE item_id = $1), 9223372036854775807)
               AND ($2::text IS NULL OR format_id = $2) AND ($3::text IS NULL OR kind = $3)
               AND ($4::text IS NULL OR strpos(topics, $4) > 0) AND ($5::text IS NULL OR origin = $5)
               AND ($6::text IS NULL OR tlp = $6) AND ($7::text IS NULL OR updated_at >= $7)
             ORDER BY pos DESC LIMIT $8"
        } else {
            "SELECT state FROM items WHERE pos > COALESCE((SELECT pos FROM items WHERE item_id = $1), 0)
               AND ($2::text IS NULL OR format_id = $2) AND ($3::text IS NULL OR kind = $3)
               AND ($4::text IS NULL OR strpos(topics, $4) > 0) AND ($5::text IS NULL OR origin = $5)
               AND ($6::text IS NULL OR tlp = $6) AND ($7::text IS NULL OR updated_at >= $7)
             ORDER BY pos LIMIT $8"
        };
        let rows: Vec<String> = sqlx::query_scalar(sql)
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
        rows.iter().map(|s| json(s)).collect()
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
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT state FROM items WHERE item_id = ANY($1)")
                .bind(ids)
                .fetch_all(&self.pool)
                .await
                .map_err(be)?;
        rows.iter().map(|s| json(s)).collect()
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
        sqlx::query_scalar("SELECT state FROM objects WHERE kind = $1 AND id = $2")
            .bind(kind)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(be)
    }

    async fn objects(&self, kind: &str) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT state FROM objects WHERE kind = $1 ORDER BY id")
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
            sqlx::query_scalar("SELECT state FROM statements WHERE statement_id = $1")
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
            "INSERT INTO taxii_status (status_id, username, body) VALUES ($1, $2, $3)
             ON CONFLICT (status_id) DO UPDATE SET username = excluded.username, body = excluded.body",
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
        sqlx::query_as("SELECT username, body FROM taxii_status WHERE status_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(be)
    }

    async fn append_audit(&self, run: &[AuditRecord]) -> Result<()> {
        audit::append(self, run).await
    }

    async fn audit_head(&self) -> Result<Option<AuditRecord>> {
        audit::head(self).await
    }

    async fn audit_records(&self, after: u64, limit: u32) -> Result<Vec<AuditRecord>> {
        audit::records(self, after, limit).await
    }

    async fn upsert_peer(&self, p: &PeerRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO peers (partner, url, public_key, added_at, state) VALUES ($1, $2, $3, $4, $5)
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
        rows.iter().map(|r| rows::peer(&Cols(r))).collect()
    }

    async fn set_peer_status(&self, p: &PartnerCode, at: &str, error: Option<&str>) -> Result<()> {
        sqlx::query(
            "UPDATE peers SET last_sync_at = $1, last_error = $2,
             last_ok_at = CASE WHEN $2::text IS NULL THEN $1 ELSE last_ok_at END WHERE partner = $3",
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
        let r = sqlx::query("UPDATE peers SET state = $1 WHERE partner = $2")
            .bind(state)
            .bind(partner.as_str())
            .execute(&self.pool)
            .await
            .map_err(be)?;
        Ok(r.rows_affected() == 1)
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
mod lock;
mod migrations;
use lock::{PgWriteLock, WRITE_LOCK};
mod notifications;
mod stix;
#[cfg(test)]
mod tests;
mod users;

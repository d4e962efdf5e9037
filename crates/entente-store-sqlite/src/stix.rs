//! SQLite's STIX rows: writing them in an append (ownership, versions, the latest flag) and
//! reading them for TAXII, each object's text cut out of the entry that carries it.

use crate::{Cols, SqliteStore, be, placeholders};
use entente_domain::{Audience, PartnerCode};
use entente_store::codec::{corrupt, partner};
use entente_store::*;
use sqlx::sqlite::SqliteConnection;
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;

/// The by-object index key: the first 48 bits of the id's UUID, then 16 bits of
/// SHA-256(collection NUL id). Time-ordered ids (UUIDv7, as items and many tools use) then land
/// next to each other in the index, so appending them touches its last pages instead of every
/// page; random (v4) ids are as random as a hash. Equal keys are harmless — every lookup also
/// compares collection and id — and the hash bits keep a run of ids forged with one prefix
/// spread over 65,536 keys.
pub(crate) fn stix_key(collection: &str, stix_id: &str) -> i64 {
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

/// STIX rows per INSERT: 500 rows × 18 columns stays below SQLite's 32,766-variable limit,
/// and bulk imports pay the per-statement round trip to the database thread 500× less often.
const STIX_INSERT_CHUNK: usize = 500;

impl SqliteStore {
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
    pub(crate) async fn append_stix(
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
        // A batch's rows share one audience or a few: compared in a short list, not hashed
        // (hashing an audience, a set of partners, per row cost ~1 % of an import).
        let mut audience_keys: Vec<(&Audience, std::sync::Arc<str>)> = Vec::new();
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
                let audience = match audience_keys.iter().find(|(a, _)| **a == r.audience) {
                    Some((_, k)) => k.clone(),
                    None => {
                        let k: std::sync::Arc<str> = r.audience.key().into();
                        audience_keys.push((&r.audience, k.clone()));
                        k
                    }
                };
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

    pub(crate) async fn read_stix_owners(
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

    pub(crate) async fn read_stix(&self, q: &StixQuery) -> Result<Vec<StixRow>> {
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
            .map(|r| rows::stix(&Cols(r), &q.collection))
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
}

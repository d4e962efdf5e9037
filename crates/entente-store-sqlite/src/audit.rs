//! SQLite's audit log rows: runs of chained records appended in one transaction, and reads in
//! sequence order. The chain itself (hashes, verification) is the node's.

use crate::{Cols, SqliteStore, be};
use entente_store::*;

/// Insert a run of records in one transaction; a taken sequence number rolls back all of them.
pub(crate) async fn append(s: &SqliteStore, run: &[AuditRecord]) -> Result<()> {
    let Some(first) = run.first() else {
        return Ok(());
    };
    let mut tx = s.pool.begin_with("BEGIN IMMEDIATE").await.map_err(be)?;
    for r in run {
        let res = sqlx::query(
            "INSERT INTO audit (seq, at, actor, action, detail, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(r.seq as i64)
        .bind(&r.at)
        .bind(&r.actor)
        .bind(&r.action)
        .bind(&r.detail)
        .bind(&r.prev)
        .bind(&r.hash)
        .execute(&mut *tx)
        .await;
        match res {
            Ok(_) => {}
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                return Err(StoreError::HeadMoved {
                    log_id: "audit".into(),
                    expected: first.seq,
                });
            }
            Err(e) => return Err(be(e)),
        }
    }
    tx.commit().await.map_err(be)
}

/// Records by `sql`: either the head query (no parameters) or a page after `after`.
pub(crate) async fn query(
    s: &SqliteStore,
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
    let rows = q.fetch_all(&s.pool).await.map_err(be)?;
    Ok(rows.iter().map(|r| rows::audit(&Cols(r))).collect())
}

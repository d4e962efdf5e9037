//! PostgreSQL's audit log rows: runs of chained records appended in one statement, and reads
//! in sequence order. The chain itself (hashes, verification) is the node's.

use crate::{Cols, PgStore, be, unique_violation};
use entente_store::*;

/// Insert a run of records in one statement (one round trip, one commit); a taken sequence
/// number fails the statement, so none of them is written.
pub(crate) async fn append(s: &PgStore, run: &[AuditRecord]) -> Result<()> {
    let Some(first) = run.first() else {
        return Ok(());
    };
    let col = |f: fn(&AuditRecord) -> &str| -> Vec<&str> { run.iter().map(f).collect() };
    let seqs: Vec<i64> = run.iter().map(|r| r.seq as i64).collect();
    let res = sqlx::query(
        "INSERT INTO audit (seq, at, actor, action, detail, prev, hash)
         SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
           $6::text[], $7::text[])",
    )
    .bind(&seqs)
    .bind(col(|r| r.at.as_str()))
    .bind(col(|r| r.actor.as_str()))
    .bind(col(|r| r.action.as_str()))
    .bind(col(|r| r.detail.as_str()))
    .bind(col(|r| r.prev.as_str()))
    .bind(col(|r| r.hash.as_str()))
    .execute(&s.pool)
    .await;
    match res {
        Ok(_) => Ok(()),
        Err(e) if unique_violation(&e) => Err(StoreError::HeadMoved {
            log_id: "audit".into(),
            expected: first.seq,
        }),
        Err(e) => Err(be(e)),
    }
}

pub(crate) async fn head(s: &PgStore) -> Result<Option<AuditRecord>> {
    let r = sqlx::query("SELECT * FROM audit ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&s.pool)
        .await
        .map_err(be)?;
    Ok(r.as_ref().map(|r| rows::audit(&Cols(r))))
}

pub(crate) async fn records(s: &PgStore, after: u64, limit: u32) -> Result<Vec<AuditRecord>> {
    let rows = sqlx::query("SELECT * FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2")
        .bind(after as i64)
        .bind(limit as i64)
        .fetch_all(&s.pool)
        .await
        .map_err(be)?;
    Ok(rows.iter().map(|r| rows::audit(&Cols(r))).collect())
}

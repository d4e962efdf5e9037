//! PostgreSQL's notification outbox: what is queued for e-mail and webhooks, retried until
//! delivered, and kept as the delivery log. Node-local, never replicated.

use crate::{Cols, PgStore, be};
use entente_store::*;

/// The columns, in the order every query names them (a macro: queries must be literals).
macro_rules! cols {
    () => {
        "id, created_at, due_at, channel, target, recipient, kind, digest, subject, body, attempts, state, last_error, sent_at"
    };
}

pub(crate) async fn queue(s: &PgStore, list: &[NotificationRecord]) -> Result<()> {
    let mut tx = s.pool.begin().await.map_err(be)?;
    for n in list {
        sqlx::query(concat!(
            "INSERT INTO notifications (",
            cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (id) DO NOTHING"
        ))
        .bind(&n.id)
        .bind(&n.created_at)
        .bind(&n.due_at)
        .bind(&n.channel)
        .bind(&n.target)
        .bind(&n.recipient)
        .bind(&n.kind)
        .bind(n.digest)
        .bind(&n.subject)
        .bind(&n.body)
        .bind(i64::from(n.attempts))
        .bind(&n.state)
        .bind(&n.last_error)
        .bind(&n.sent_at)
        .execute(&mut *tx)
        .await
        .map_err(be)?;
    }
    tx.commit().await.map_err(be)
}

pub(crate) async fn due(s: &PgStore, now: &str, limit: u32) -> Result<Vec<NotificationRecord>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        cols!(),
        " FROM notifications WHERE state = 'pending' AND due_at <= $1 ORDER BY due_at, id LIMIT $2"
    ))
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(&s.pool)
    .await
    .map_err(be)?;
    Ok(rows.iter().map(|r| rows::notification(&Cols(r))).collect())
}

pub(crate) async fn update(s: &PgStore, n: &NotificationRecord) -> Result<()> {
    sqlx::query(
        "UPDATE notifications SET state = $1, attempts = $2, due_at = $3, last_error = $4, sent_at = $5, digest = $6 WHERE id = $7",
    )
    .bind(&n.state)
    .bind(i64::from(n.attempts))
    .bind(&n.due_at)
    .bind(&n.last_error)
    .bind(&n.sent_at)
    .bind(n.digest)
    .bind(&n.id)
    .execute(&s.pool)
    .await
    .map_err(be)?;
    Ok(())
}

pub(crate) async fn latest(s: &PgStore, limit: u32) -> Result<Vec<NotificationRecord>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        cols!(),
        " FROM notifications ORDER BY created_at DESC, id LIMIT $1"
    ))
    .bind(i64::from(limit))
    .fetch_all(&s.pool)
    .await
    .map_err(be)?;
    Ok(rows.iter().map(|r| rows::notification(&Cols(r))).collect())
}

pub(crate) async fn cursors(s: &PgStore) -> Result<Vec<(String, u64)>> {
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT log_id, seq FROM notify_cursors")
        .fetch_all(&s.pool)
        .await
        .map_err(be)?;
    Ok(rows
        .into_iter()
        .map(|(l, q)| (l, u64::try_from(q).unwrap_or(0)))
        .collect())
}

pub(crate) async fn set_cursors(s: &PgStore, cursors: &[(String, u64)]) -> Result<()> {
    let mut tx = s.pool.begin().await.map_err(be)?;
    for (log, seq) in cursors {
        sqlx::query(
            "INSERT INTO notify_cursors (log_id, seq) VALUES ($1, $2) ON CONFLICT (log_id) DO UPDATE SET seq = GREATEST(notify_cursors.seq, excluded.seq)",
        )
        .bind(log)
        .bind(i64::try_from(*seq).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(be)?;
    }
    tx.commit().await.map_err(be)
}

pub(crate) async fn prune(s: &PgStore, before: &str) -> Result<u64> {
    let r = sqlx::query("DELETE FROM notifications WHERE state <> 'pending' AND created_at < $1")
        .bind(before)
        .execute(&s.pool)
        .await
        .map_err(be)?;
    Ok(r.rows_affected())
}

pub(crate) async fn undigest(
    s: &PgStore,
    recipient: &str,
    kind: &str,
    due_at: &str,
) -> Result<u64> {
    let r = sqlx::query(
        "UPDATE notifications SET digest = false, due_at = $1 WHERE recipient = $2 AND kind = $3 AND digest AND state = 'pending' AND channel = 'email'",
    )
    .bind(due_at)
    .bind(recipient)
    .bind(kind)
    .execute(&s.pool)
    .await
    .map_err(be)?;
    Ok(r.rows_affected())
}

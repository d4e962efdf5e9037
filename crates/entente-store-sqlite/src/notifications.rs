//! SQLite's notification outbox: what is queued for e-mail and webhooks, retried until
//! delivered, and kept as the delivery log. Node-local, never replicated.

use crate::{Cols, SqliteStore, be};
use entente_store::*;

/// The columns, in the order every query names them (a macro: queries must be literals).
macro_rules! cols {
    () => {
        "id, created_at, due_at, channel, target, recipient, kind, digest, subject, body, attempts, state, last_error, sent_at"
    };
}

pub(crate) async fn queue(s: &SqliteStore, list: &[NotificationRecord]) -> Result<()> {
    let mut tx = s.pool.begin().await.map_err(be)?;
    for n in list {
        sqlx::query(concat!(
            "INSERT INTO notifications (",
            cols!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
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

pub(crate) async fn due(s: &SqliteStore, now: &str, limit: u32) -> Result<Vec<NotificationRecord>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        cols!(),
        " FROM notifications WHERE state = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT ?"
    ))
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(&s.pool)
    .await
    .map_err(be)?;
    Ok(rows.iter().map(|r| rows::notification(&Cols(r))).collect())
}

pub(crate) async fn update(s: &SqliteStore, n: &NotificationRecord) -> Result<()> {
    sqlx::query(
        "UPDATE notifications SET state = ?, attempts = ?, due_at = ?, last_error = ?, sent_at = ?, digest = ? WHERE id = ?",
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

pub(crate) async fn latest(s: &SqliteStore, limit: u32) -> Result<Vec<NotificationRecord>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        cols!(),
        " FROM notifications ORDER BY created_at DESC, id LIMIT ?"
    ))
    .bind(i64::from(limit))
    .fetch_all(&s.pool)
    .await
    .map_err(be)?;
    Ok(rows.iter().map(|r| rows::notification(&Cols(r))).collect())
}

pub(crate) async fn cursors(s: &SqliteStore) -> Result<Vec<(String, u64)>> {
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT log_id, seq FROM notify_cursors")
        .fetch_all(&s.pool)
        .await
        .map_err(be)?;
    Ok(rows
        .into_iter()
        .map(|(l, q)| (l, u64::try_from(q).unwrap_or(0)))
        .collect())
}

pub(crate) async fn set_cursors(s: &SqliteStore, cursors: &[(String, u64)]) -> Result<()> {
    let mut tx = s.pool.begin().await.map_err(be)?;
    for (log, seq) in cursors {
        sqlx::query(
            "INSERT INTO notify_cursors (log_id, seq) VALUES (?, ?) ON CONFLICT (log_id) DO UPDATE SET seq = MAX(notify_cursors.seq, excluded.seq)",
        )
        .bind(log)
        .bind(i64::try_from(*seq).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(be)?;
    }
    tx.commit().await.map_err(be)
}

pub(crate) async fn prune(s: &SqliteStore, before: &str) -> Result<u64> {
    let r = sqlx::query("DELETE FROM notifications WHERE state <> 'pending' AND created_at < ?")
        .bind(before)
        .execute(&s.pool)
        .await
        .map_err(be)?;
    Ok(r.rows_affected())
}

pub(crate) async fn undigest(
    s: &SqliteStore,
    recipient: &str,
    kind: &str,
    due_at: &str,
) -> Result<u64> {
    let r = sqlx::query(
        "UPDATE notifications SET digest = false, due_at = ? WHERE recipient = ? AND kind = ? AND digest AND state = 'pending' AND channel = 'email'",
    )
    .bind(due_at)
    .bind(recipient)
    .bind(kind)
    .execute(&s.pool)
    .await
    .map_err(be)?;
    Ok(r.rows_affected())
}

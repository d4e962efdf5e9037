//! SQLite's pinned peers: their keys, addresses, states and the last sync's outcome.

use crate::{Cols, SqliteStore, be};
use entente_domain::PartnerCode;
use entente_store::*;

pub(crate) async fn upsert(s: &SqliteStore, p: &PeerRecord) -> Result<()> {
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
    .execute(&s.pool)
    .await
    .map_err(be)?;
    Ok(())
}

pub(crate) async fn all(s: &SqliteStore) -> Result<Vec<PeerRecord>> {
    let rows = sqlx::query("SELECT * FROM peers ORDER BY partner")
        .fetch_all(&s.pool)
        .await
        .map_err(be)?;
    rows.iter().map(|r| rows::peer(&Cols(r))).collect()
}

pub(crate) async fn set_status(
    s: &SqliteStore,
    p: &PartnerCode,
    at: &str,
    error: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "UPDATE peers SET last_sync_at = ?1, last_error = ?2,
         last_ok_at = CASE WHEN ?2 IS NULL THEN ?1 ELSE last_ok_at END WHERE partner = ?3",
    )
    .bind(at)
    .bind(error)
    .bind(p.as_str())
    .execute(&s.pool)
    .await
    .map_err(be)?;
    Ok(())
}

pub(crate) async fn set_state(s: &SqliteStore, partner: &PartnerCode, state: &str) -> Result<bool> {
    let r = sqlx::query("UPDATE peers SET state = ? WHERE partner = ?")
        .bind(state)
        .bind(partner.as_str())
        .execute(&s.pool)
        .await
        .map_err(be)?;
    Ok(r.rows_affected() == 1)
}

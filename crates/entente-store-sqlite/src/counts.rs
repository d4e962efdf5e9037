//! The network counts (`entente_store::counts`) in SQLite: changed in the transaction that
//! stores the items, read by a view, and filled once from the items already held when the table
//! was added. Which keys an item counts under is the shared module's, not this one's.

use crate::{Cols, be, placeholders};
use entente_domain::ItemState;
use entente_store::codec::json;
use entente_store::counts::{self, CountKey, NetworkCount};
use entente_store::{Result, rows};
use sqlx::{AssertSqlSafe, Row};
use std::collections::{BTreeMap, HashMap};

/// Rows per statement: six parameters each, well under SQLite's limit.
const CHUNK: usize = 200;

/// Change the counts for `items`, stored in this transaction after this call reads the states
/// they replace.
pub(crate) async fn apply(tx: &mut sqlx::SqliteConnection, items: &[&ItemState]) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = items
        .iter()
        .filter(|i| counts::may_be_stored(i))
        .map(|i| i.item_id.as_str())
        .collect();
    let stored: HashMap<String, ItemState> = crate::items_with_ids(tx, &ids)
        .await?
        .into_iter()
        .map(|it| (it.item_id.clone(), it))
        .collect();
    add(tx, &counts::count_changes(&stored, items.iter().copied())).await
}

/// Add `change` to the stored counts; a count that reaches zero is removed.
pub(crate) async fn add(
    tx: &mut sqlx::SqliteConnection,
    change: &BTreeMap<CountKey, i64>,
) -> Result<()> {
    let rows: Vec<(&CountKey, &i64)> = change.iter().collect();
    for chunk in rows.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO network_counts (topic, day, audience, readers_key, readers, n) VALUES {}
             ON CONFLICT (topic, day, audience, readers_key) DO UPDATE SET n = n + excluded.n",
            placeholders(chunk.len(), 6)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (k, n) in chunk {
            q = q
                .bind(&k.topic)
                .bind(&k.day)
                .bind(&k.audience)
                .bind(&k.readers_key)
                .bind(&k.readers)
                .bind(**n);
        }
        q.execute(&mut *tx).await.map_err(be)?;
    }
    for (k, _) in rows.iter().filter(|(_, n)| **n < 0) {
        sqlx::query(
            "DELETE FROM network_counts WHERE topic = ? AND day = ? AND audience = ?
               AND readers_key = ? AND n = 0",
        )
        .bind(&k.topic)
        .bind(&k.day)
        .bind(&k.audience)
        .bind(&k.readers_key)
        .execute(&mut *tx)
        .await
        .map_err(be)?;
    }
    Ok(())
}

/// Fill the counts from every item held (the migration that adds the table), a page at a time.
pub(crate) async fn fill(tx: &mut sqlx::SqliteConnection) -> Result<()> {
    let mut after = 0i64;
    loop {
        let rows =
            sqlx::query("SELECT pos, state FROM items WHERE pos > ? ORDER BY pos LIMIT 5000")
                .bind(after)
                .fetch_all(&mut *tx)
                .await
                .map_err(be)?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.get("pos");
        let items = rows
            .iter()
            .map(|r| json::<ItemState>(&r.get::<String, _>("state")))
            .collect::<Result<Vec<_>>>()?;
        add(tx, &counts::count_all(&items)).await?;
    }
}

pub(crate) async fn read(
    pool: &sqlx::SqlitePool,
    topic: Option<&str>,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Vec<NetworkCount>> {
    sqlx::query(
        "SELECT day, audience, readers, n FROM network_counts
         WHERE topic = ?1 AND (?2 IS NULL OR day >= ?2) AND (?3 IS NULL OR day < ?3) AND n > 0",
    )
    .bind(topic.unwrap_or(""))
    .bind(since)
    .bind(until)
    .fetch_all(pool)
    .await
    .map_err(be)?
    .iter()
    .map(|r| rows::network_count(&Cols(r)))
    .collect()
}

//! The network counts (`entente_store::counts`) in PostgreSQL: changed in the transaction that
//! stores the items, read by a view, and filled once from the items already held when the table
//! was added. Which keys an item counts under is the shared module's, not this one's.

use crate::{Cols, be};
use entente_domain::ItemState;
use entente_store::codec::json;
use entente_store::counts::{self, CountKey, NetworkCount};
use entente_store::{Result, rows};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

type Tx<'a> = sqlx::Transaction<'a, sqlx::Postgres>;

/// Change the counts for `items`, stored in this transaction after this call reads the states
/// they replace.
pub(crate) async fn apply(tx: &mut Tx<'_>, items: &[&ItemState]) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = items
        .iter()
        .filter(|i| counts::may_be_stored(i))
        .map(|i| i.item_id.clone())
        .collect();
    let mut stored = HashMap::new();
    if !ids.is_empty() {
        let rows = sqlx::query("SELECT state FROM items WHERE item_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut **tx)
            .await
            .map_err(be)?;
        for r in rows {
            let it: ItemState = json(&r.get::<String, _>("state"))?;
            stored.insert(it.item_id.clone(), it);
        }
    }
    add(tx, &counts::count_changes(&stored, items.iter().copied())).await
}

/// Add `change` to the stored counts in one statement; a count that reaches zero is removed.
pub(crate) async fn add(tx: &mut Tx<'_>, change: &BTreeMap<CountKey, i64>) -> Result<()> {
    if change.is_empty() {
        return Ok(());
    }
    let col = |f: &dyn Fn(&CountKey) -> String| -> Vec<String> { change.keys().map(f).collect() };
    let n: Vec<i64> = change.values().copied().collect();
    sqlx::query(
        "INSERT INTO network_counts (topic, day, audience, readers_key, readers, n)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
           $6::bigint[])
         ON CONFLICT (topic, day, audience, readers_key)
         DO UPDATE SET n = network_counts.n + excluded.n",
    )
    .bind(col(&|k| k.topic.clone()))
    .bind(col(&|k| k.day.clone()))
    .bind(col(&|k| k.audience.clone()))
    .bind(col(&|k| k.readers_key.clone()))
    .bind(col(&|k| k.readers.clone()))
    .bind(&n)
    .execute(&mut **tx)
    .await
    .map_err(be)?;
    // Only the keys this change lowered can have reached zero.
    let lowered: Vec<&CountKey> = change
        .iter()
        .filter(|(_, n)| **n < 0)
        .map(|(k, _)| k)
        .collect();
    if !lowered.is_empty() {
        let col = |f: &dyn Fn(&CountKey) -> String| -> Vec<String> {
            lowered.iter().map(|k| f(k)).collect()
        };
        sqlx::query(
            "DELETE FROM network_counts c USING UNNEST($1::text[], $2::text[], $3::text[],
               $4::text[]) AS d(topic, day, audience, readers_key)
             WHERE c.topic = d.topic AND c.day = d.day AND c.audience = d.audience
               AND c.readers_key = d.readers_key AND c.n = 0",
        )
        .bind(col(&|k| k.topic.clone()))
        .bind(col(&|k| k.day.clone()))
        .bind(col(&|k| k.audience.clone()))
        .bind(col(&|k| k.readers_key.clone()))
        .execute(&mut **tx)
        .await
        .map_err(be)?;
    }
    Ok(())
}

/// Fill the counts from every item held (the migration that adds the table), a page at a time.
pub(crate) async fn fill(tx: &mut Tx<'_>) -> Result<()> {
    let mut after = 0i64;
    loop {
        let rows =
            sqlx::query("SELECT pos, state FROM items WHERE pos > $1 ORDER BY pos LIMIT 5000")
                .bind(after)
                .fetch_all(&mut **tx)
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
    pool: &sqlx::PgPool,
    topic: Option<&str>,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Vec<NetworkCount>> {
    sqlx::query(
        "SELECT day, audience, readers, n FROM network_counts
         WHERE topic = $1 AND ($2::text IS NULL OR day >= $2) AND ($3::text IS NULL OR day < $3)
           AND n > 0",
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

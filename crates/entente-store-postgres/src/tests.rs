//! The PostgreSQL backend's own tests: the conformance suite (one test per check) and what only
//! this backend has (migrations, reopening, its locks).

use super::*;

/// A fresh store in a schema of its own, when `ENTENTE_TEST_PG_URL` names a database (CI
/// always sets it; without it these tests say so and pass vacuously).
pub async fn fresh() -> Option<PgStore> {
    let Ok(url) = std::env::var("ENTENTE_TEST_PG_URL") else {
        eprintln!("ENTENTE_TEST_PG_URL is not set: PostgreSQL tests skipped");
        return None;
    };
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    let schema = format!("t_{}", hex::encode(b));
    Some(PgStore::open_in_schema(&url, Some(&schema)).await.unwrap())
}

/// The conformance suite, one test per check, each in a schema of its own.
mod conformance {
    use super::*;
    entente_store::conformance_tests!(async { fresh().await.map(Box::new) });
}

#[tokio::test]
async fn migrations_are_idempotent_and_the_write_lock_excludes() {
    let Some(store) = fresh().await else { return };
    store.migrate().await.unwrap();
    let try_lock = async || -> bool {
        let mut c = store.pool.acquire().await.unwrap();
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(WRITE_LOCK)
            .fetch_one(&mut *c)
            .await
            .unwrap();
        if got {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(WRITE_LOCK)
                .execute(&mut *c)
                .await
                .unwrap();
        }
        got
    };
    let held = store.lock_writes().await.unwrap();
    // Another session (another process) cannot take it while it is held...
    assert!(!try_lock().await);
    drop(held);
    // ...and can once it is released (the release runs on the runtime right after the drop).
    let mut free = false;
    for _ in 0..1000 {
        if try_lock().await {
            free = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(free, "the write lock was not released");
}

/// A chunk without a time (written before the store recorded times, or by an older binary
/// during an upgrade) counts as written when the store began to record them: an upload cut off
/// long before is dropped once that is a day ago, and not at the first pass after the upgrade.
#[tokio::test]
async fn chunks_without_a_time_count_from_when_times_began() {
    let Some(store) = fresh().await else { return };
    let since: String = sqlx::query_scalar("SELECT v FROM meta WHERE k = 'chunk_times_since'")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    // The same form as the node's times, so that the two compare as text.
    assert_eq!(since.len(), "2026-12-07T10:00:00.000Z".len(), "{since}");
    assert!(
        since.ends_with('Z') && since.as_bytes()[10] == b'T',
        "{since}"
    );
    let sha = "e".repeat(64);
    sqlx::query("INSERT INTO blob_chunks (sha256, idx, data) VALUES ($1, 0, '\\x00'::bytea)")
        .bind(&sha)
        .execute(&store.pool)
        .await
        .unwrap();
    assert!(
        store
            .drop_abandoned_blobs("2000-01-01T00:00:00.000Z", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.blob_chunk_indexes(&sha).await.unwrap(), vec![0]);
    assert_eq!(
        store
            .drop_abandoned_blobs("2999-01-01T00:00:00.000Z", 10)
            .await
            .unwrap(),
        vec![sha.clone()]
    );
    assert!(store.blob_chunk_indexes(&sha).await.unwrap().is_empty());
}

/// A database from before the network counts (items held, no table) gets them filled from its
/// items by the migration that adds the table.
#[tokio::test]
async fn the_counts_migration_fills_from_the_items_held() {
    let Some(store) = fresh().await else { return };
    entente_store::conformance::network_counts_follow_items(&store).await;
    let version = crate::migrations::MIGRATIONS
        .iter()
        .position(|m| m.contains("CREATE TABLE network_counts"))
        .unwrap() as i64
        + 1;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP TABLE network_counts; DELETE FROM schema_migrations WHERE version >= {version};"
    )))
    .execute(&store.pool)
    .await
    .unwrap();
    store.migrate().await.unwrap();
    entente_store::conformance::counts_match_items(&store, "after the migration").await;
    assert!(
        !store
            .network_counts(None, None, None)
            .await
            .unwrap()
            .is_empty()
    );
}

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

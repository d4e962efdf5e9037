//! The SQLite backend's own tests: the conformance suite (one test per check) and what only
//! this backend has (migrations, reopening, its locks).

use super::*;
use crate::migrations::MIGRATIONS;
use crate::stix::stix_key;

/// A fresh store in a temporary directory, removed when the test ends.
struct Fresh(#[allow(dead_code)] tempfile::TempDir, SqliteStore);

impl std::ops::Deref for Fresh {
    type Target = SqliteStore;
    fn deref(&self) -> &SqliteStore {
        &self.1
    }
}

async fn fresh() -> Option<Fresh> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("entente.db"))
        .await
        .unwrap();
    Some(Fresh(dir, store))
}

/// The conformance suite, one test per check.
mod conformance {
    use super::*;
    entente_store::conformance_tests!(fresh());
}

#[tokio::test]
async fn reopening_keeps_data_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("entente.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store
        .claim_partner(&PartnerCode::parse("EU").unwrap())
        .await
        .unwrap();
    drop(store);
    let store = SqliteStore::open(&path).await.unwrap();
    assert!(
        store
            .claim_partner(&PartnerCode::parse("JPN").unwrap())
            .await
            .is_err()
    );
}

#[test]
fn object_keys_keep_time_ordered_ids_together() {
    let a = stix_key("c", "report--01890a5d-ac96-7000-8000-000000000001");
    let b = stix_key("c", "report--01890a5d-ac97-7000-8000-000000000002");
    assert!(a < b, "a later UUIDv7 sorts later");
    assert_eq!(a >> 16, 0x0189_0a5d_ac96);
    assert_ne!(
        stix_key("c", "report--01890a5d-ac96-7000-8000-000000000001"),
        stix_key("d", "report--01890a5d-ac96-7000-8000-000000000001"),
        "the hash bits tell collections apart"
    );
    // Not a UUID (never stored, but keys must not fail): a plain hash.
    let _ = stix_key("c", "x");
}

/// A database written before the compact collection table (migration 6) keeps its STIX
/// rows: same bytes, same latest flags, found by id.
#[tokio::test]
async fn stix_rows_survive_the_compact_table_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("entente.db");
    {
        let pool = SqlitePool::connect_with(
            SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true),
        )
        .await
        .unwrap();
        sqlx::query("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)")
            .execute(&pool)
            .await
            .unwrap();
        let old = MIGRATIONS
            .iter()
            .position(|m| m.contains("CREATE TABLE stix_rows"))
            .unwrap();
        for (i, m) in MIGRATIONS[..old].iter().enumerate() {
            sqlx::raw_sql(AssertSqlSafe(*m))
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query("INSERT INTO schema_migrations (version) VALUES (?)")
                .bind(i as i64 + 1)
                .execute(&pool)
                .await
                .unwrap();
        }
        for (v, latest) in [
            ("2026-01-01T00:00:00.000Z", 0),
            ("2026-01-02T00:00:00.000Z", 1),
        ] {
            sqlx::query(
                "INSERT INTO stix (collection, stix_id, stix_type, version, spec_version, date_added,
                 latest, origin, audience, tlp, author, named_users, raw)
                 VALUES ('coll', 'indicator--1', 'indicator', ?, '2.1', ?, ?, 'EU', 'EU,JPN', 'green', 'a@EU', '', ?)",
            )
            .bind(v)
            .bind(format!("2026-11-27T00:00:0{latest}.000000Z"))
            .bind(latest)
            .bind(format!("{{\"v\":\"{v}\"}}"))
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let q = |versions| StixQuery {
        collection: "coll".into(),
        ids: vec!["indicator--1".into()],
        versions,
        limit: 10,
        ..Default::default()
    };
    let last = store.stix_query(&q(VersionFilter::Last)).await.unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].raw, r#"{"v":"2026-01-02T00:00:00.000Z"}"#);
    let all = store.stix_query(&q(VersionFilter::All)).await.unwrap();
    assert_eq!(all.len(), 2);
}

/// A chunk without a time (written before the store recorded times, or by an older binary
/// during an upgrade) counts as written when the store began to record them: an upload cut off
/// long before is dropped once that is a day ago, and not at the first pass after the upgrade.
#[tokio::test]
async fn chunks_without_a_time_count_from_when_times_began() {
    let store = fresh().await.unwrap();
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
    sqlx::query("INSERT INTO blob_chunks (sha256, idx, data) VALUES (?1, 0, x'00')")
        .bind(&sha)
        .execute(&store.pool)
        .await
        .unwrap();
    // A cut-off before the store began to record times: not old enough.
    assert!(
        store
            .drop_abandoned_blobs("2000-01-01T00:00:00.000Z", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.blob_chunk_indexes(&sha).await.unwrap(), vec![0]);
    // A cut-off after it: dropped.
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
    let store = fresh().await.unwrap();
    entente_store::conformance::network_counts_follow_items(&*store).await;
    let version = MIGRATIONS
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
    entente_store::conformance::counts_match_items(&*store, "after the migration").await;
    assert!(
        !store
            .network_counts(None, None, None)
            .await
            .unwrap()
            .is_empty()
    );
}

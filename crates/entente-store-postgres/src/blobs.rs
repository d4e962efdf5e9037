//! PostgreSQL's attachment bytes: chunks by file and index, the files held whole, their uploaders,
//! and the references items make (written by `append` with the item). Node-local.

use crate::{PgStore, be};
use entente_store::*;
use sqlx::AssertSqlSafe;

pub(crate) async fn put_chunk(
    s: &PgStore,
    sha256: &str,
    index: u32,
    data: &[u8],
    at: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO blob_chunks (sha256, idx, data, at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(sha256)
    .bind(i64::from(index))
    .bind(data)
    .bind(at)
    .execute(&s.pool)
    .await
    .map_err(be)?;
    Ok(())
}

pub(crate) async fn chunk(s: &PgStore, sha256: &str, index: u32) -> Result<Option<Vec<u8>>> {
    let r: Option<(Vec<u8>,)> =
        sqlx::query_as("SELECT data FROM blob_chunks WHERE sha256 = $1 AND idx = $2")
            .bind(sha256)
            .bind(i64::from(index))
            .fetch_optional(&s.pool)
            .await
            .map_err(be)?;
    Ok(r.map(|(d,)| d))
}

pub(crate) async fn chunk_indexes(s: &PgStore, sha256: &str) -> Result<Vec<u32>> {
    let r: Vec<(i64,)> =
        sqlx::query_as("SELECT idx FROM blob_chunks WHERE sha256 = $1 ORDER BY idx")
            .bind(sha256)
            .fetch_all(&s.pool)
            .await
            .map_err(be)?;
    r.into_iter()
        .map(|(i,)| u32::try_from(i).map_err(|e| codec::corrupt("chunk index", e)))
        .collect()
}

pub(crate) async fn drop_chunks(s: &PgStore, sha256: &str) -> Result<()> {
    sqlx::query(
        "DELETE FROM blob_chunks WHERE sha256 = $1 AND NOT EXISTS (SELECT 1 FROM blobs WHERE sha256 = $1)",
    )
    .bind(sha256)
    .execute(&s.pool)
    .await
    .map_err(be)?;
    Ok(())
}

pub(crate) async fn complete(s: &PgStore, b: &BlobInfo, uploader: Option<&str>) -> Result<()> {
    let mut tx = s.pool.begin().await.map_err(be)?;
    sqlx::query(match uploader {
        None => {
            "INSERT INTO blobs (sha256, size, stored_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
        }
        Some(_) => {
            "INSERT INTO blobs (sha256, size, stored_at) VALUES ($1, $2, $3)
                    ON CONFLICT (sha256) DO UPDATE SET stored_at = excluded.stored_at"
        }
    })
    .bind(&b.sha256)
    .bind(i64::try_from(b.size).map_err(|e| codec::corrupt("blob size", e))?)
    .bind(&b.stored_at)
    .execute(&mut *tx)
    .await
    .map_err(be)?;
    if let Some(u) = uploader {
        sqlx::query(
            "INSERT INTO blob_uploads (sha256, username) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&b.sha256)
        .bind(u)
        .execute(&mut *tx)
        .await
        .map_err(be)?;
    }
    tx.commit().await.map_err(be)
}

pub(crate) async fn blob(s: &PgStore, sha256: &str) -> Result<Option<BlobInfo>> {
    let r: Option<(String, i64, String)> =
        sqlx::query_as("SELECT sha256, size, stored_at FROM blobs WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&s.pool)
            .await
            .map_err(be)?;
    r.map(|(sha256, size, stored_at)| {
        Ok(BlobInfo {
            sha256,
            size: u64::try_from(size).map_err(|e| codec::corrupt("blob size", e))?,
            stored_at,
        })
    })
    .transpose()
}

pub(crate) async fn uploaded_by(s: &PgStore, sha256: &str, username: &str) -> Result<bool> {
    let (r,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM blob_uploads WHERE sha256 = $1 AND username = $2)",
    )
    .bind(sha256)
    .bind(username)
    .fetch_one(&s.pool)
    .await
    .map_err(be)?;
    Ok(r)
}

pub(crate) async fn verify_for_item(s: &PgStore, sha256: &str, item_id: &str) -> Result<()> {
    // The file's row is locked while the check is recorded: a scan holding the file aside
    // (`quarantine_held`, which locks it for update first) is either wholly before, and the
    // check is not recorded, or wholly after, and it sees the check.
    let mut tx = s.pool.begin().await.map_err(be)?;
    let whole: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM blobs WHERE sha256 = $1 FOR SHARE")
        .bind(sha256)
        .fetch_optional(&mut *tx)
        .await
        .map_err(be)?;
    if whole.is_some() {
        sqlx::query(
            "INSERT INTO blob_items (sha256, item_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(sha256)
        .bind(item_id)
        .execute(&mut *tx)
        .await
        .map_err(be)?;
    }
    tx.commit().await.map_err(be)
}

pub(crate) async fn for_item(s: &PgStore, sha256: &str, item_id: &str) -> Result<bool> {
    let (r,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM blob_items i JOIN blobs b ON b.sha256 = i.sha256
         WHERE i.sha256 = $1 AND i.item_id = $2)",
    )
    .bind(sha256)
    .bind(item_id)
    .fetch_one(&s.pool)
    .await
    .map_err(be)?;
    Ok(r)
}

pub(crate) async fn missing(
    s: &PgStore,
    after: Option<(&str, &str)>,
    limit: u32,
) -> Result<Vec<(String, String, u64)>> {
    let (a_sha, a_item) = after.unwrap_or_default();
    let r: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT r.sha256, r.item_id, r.size FROM attachment_refs r
         WHERE NOT EXISTS (SELECT 1 FROM blob_items i WHERE i.sha256 = r.sha256 AND i.item_id = r.item_id)
           AND NOT EXISTS (SELECT 1 FROM blob_quarantine q WHERE q.sha256 = r.sha256 AND q.item_id = r.item_id)
           AND (r.sha256, r.item_id) > ($1, $2)
         ORDER BY r.sha256, r.item_id LIMIT $3",
    )
    .bind(a_sha)
    .bind(a_item)
    .bind(i64::from(limit))
    .fetch_all(&s.pool)
    .await
    .map_err(be)?;
    r.into_iter()
        .map(|(sha, item, size)| {
            Ok((
                sha,
                item,
                u64::try_from(size).map_err(|e| codec::corrupt("blob size", e))?,
            ))
        })
        .collect()
}

/// Record the files the appended items and posts reference (in the append's transaction).
pub(crate) async fn write_refs(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    projections: &[Projection],
) -> Result<()> {
    for p in projections {
        let (owner, files): (&str, Vec<(&str, u64)>) = match p {
            Projection::Item(i) => (
                &i.item_id,
                i.attachments
                    .iter()
                    .map(|a| (a.sha256.as_str(), a.size))
                    .collect(),
            ),
            Projection::Files { owner, files } => {
                (owner, files.iter().map(|(s, n)| (s.as_str(), *n)).collect())
            }
            _ => continue,
        };
        for (sha256, size) in files {
            sqlx::query("INSERT INTO attachment_refs (sha256, item_id, size) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(sha256)
                .bind(owner)
                .bind(i64::try_from(size).map_err(|e| codec::corrupt("blob size", e))?)
                .execute(&mut **tx)
                .await
                .map_err(be)?;
        }
    }
    Ok(())
}

pub(crate) async fn put_text(s: &PgStore, sha256: &str, text: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO blob_texts (sha256, text) VALUES ($1, $2) ON CONFLICT (sha256) DO UPDATE SET text = excluded.text",
    )
    .bind(sha256)
    .bind(text)
    .execute(&s.pool)
    .await
    .map_err(be)?;
    Ok(())
}

pub(crate) async fn text(s: &PgStore, sha256: &str) -> Result<Option<String>> {
    let r: Option<(String,)> = sqlx::query_as("SELECT text FROM blob_texts WHERE sha256 = $1")
        .bind(sha256)
        .fetch_optional(&s.pool)
        .await
        .map_err(be)?;
    Ok(r.map(|(t,)| t))
}

pub(crate) async fn quarantine(
    s: &PgStore,
    sha256: &str,
    item_id: &str,
    finding: &str,
    at: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO blob_quarantine (sha256, item_id, finding, at)
         SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE sha256 = $1)
         ON CONFLICT (sha256, item_id) DO NOTHING",
    )
    .bind(sha256)
    .bind(item_id)
    .bind(finding)
    .bind(at)
    .execute(&s.pool)
    .await
    .map_err(be)?;
    Ok(())
}

pub(crate) async fn quarantined(
    s: &PgStore,
    sha256: &str,
    item_id: Option<&str>,
) -> Result<Option<String>> {
    let r: Option<(String,)> = sqlx::query_as(
        "SELECT finding FROM blob_quarantine WHERE sha256 = $1 AND ($2 IS NULL OR item_id = $2)
         ORDER BY at, item_id LIMIT 1",
    )
    .bind(sha256)
    .bind(item_id)
    .fetch_optional(&s.pool)
    .await
    .map_err(be)?;
    Ok(r.map(|(t,)| t))
}

pub(crate) async fn quarantine_list(
    s: &PgStore,
    sha256: Option<&str>,
    limit: u32,
) -> Result<Vec<QuarantineRecord>> {
    let r: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT sha256, item_id, finding, at FROM blob_quarantine
         WHERE $1 IS NULL OR sha256 = $1
         ORDER BY at DESC, sha256, item_id LIMIT $2",
    )
    .bind(sha256)
    .bind(i64::from(limit))
    .fetch_all(&s.pool)
    .await
    .map_err(be)?;
    Ok(r.into_iter()
        .map(|(sha256, item_id, finding, at)| QuarantineRecord {
            sha256,
            item_id,
            finding,
            at,
        })
        .collect())
}

pub(crate) async fn quarantine_release(
    s: &PgStore,
    b: &BlobInfo,
    items: &[String],
    overridden: Option<&str>,
) -> Result<Vec<String>> {
    let mut tx = s.pool.begin().await.map_err(be)?;
    // Rows checking the file for an item while it was not whole (a check that raced the file's
    // quarantine) must not come to count now: only the released items' do, the others are
    // held aside with the file's finding.
    let (whole,): (bool,) = sqlx::query_as("SELECT EXISTS (SELECT 1 FROM blobs WHERE sha256 = $1)")
        .bind(&b.sha256)
        .fetch_one(&mut *tx)
        .await
        .map_err(be)?;
    if !whole {
        // Held aside for those items too (the released ones come out again below).
        sqlx::query(
            "INSERT INTO blob_quarantine (sha256, item_id, finding, at)
             SELECT i.sha256, i.item_id,
                    COALESCE((SELECT q.finding FROM blob_quarantine q WHERE q.sha256 = i.sha256
                              ORDER BY q.at, q.item_id LIMIT 1), 'held aside'),
                    $2
             FROM blob_items i WHERE i.sha256 = $1
             ON CONFLICT (sha256, item_id) DO NOTHING",
        )
        .bind(&b.sha256)
        .bind(&b.stored_at)
        .execute(&mut *tx)
        .await
        .map_err(be)?;
        sqlx::query("DELETE FROM blob_items WHERE sha256 = $1")
            .bind(&b.sha256)
            .execute(&mut *tx)
            .await
            .map_err(be)?;
    }
    if let Some(at) = overridden {
        sqlx::query(
            "INSERT INTO blob_released (sha256, at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&b.sha256)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(be)?;
    }
    sqlx::query(
        "INSERT INTO blobs (sha256, size, stored_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(&b.sha256)
    .bind(i64::try_from(b.size).map_err(|e| codec::corrupt("blob size", e))?)
    .bind(&b.stored_at)
    .execute(&mut *tx)
    .await
    .map_err(be)?;
    let mut released = vec![];
    for item in items {
        let gone = sqlx::query("DELETE FROM blob_quarantine WHERE sha256 = $1 AND item_id = $2")
            .bind(&b.sha256)
            .bind(item)
            .execute(&mut *tx)
            .await
            .map_err(be)?
            .rows_affected();
        if gone == 0 {
            continue;
        }
        sqlx::query(
            "INSERT INTO blob_items (sha256, item_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&b.sha256)
        .bind(item)
        .execute(&mut *tx)
        .await
        .map_err(be)?;
        released.push(item.clone());
    }
    tx.commit().await.map_err(be)?;
    released.sort();
    released.dedup();
    Ok(released)
}

pub(crate) async fn held(s: &PgStore, after: Option<&str>, limit: u32) -> Result<Vec<BlobInfo>> {
    let r: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT sha256, size, stored_at FROM blobs b WHERE sha256 > $1
           AND NOT EXISTS (SELECT 1 FROM blob_released r WHERE r.sha256 = b.sha256)
         ORDER BY sha256 LIMIT $2",
    )
    .bind(after.unwrap_or_default())
    .bind(i64::from(limit))
    .fetch_all(&s.pool)
    .await
    .map_err(be)?;
    r.into_iter()
        .map(|(sha256, size, stored_at)| {
            Ok(BlobInfo {
                sha256,
                size: u64::try_from(size).map_err(|e| codec::corrupt("blob size", e))?,
                stored_at,
            })
        })
        .collect()
}

pub(crate) async fn quarantine_held(
    s: &PgStore,
    sha256: &str,
    finding: &str,
    at: &str,
) -> Result<Vec<String>> {
    let mut tx = s.pool.begin().await.map_err(be)?;
    let whole: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM blobs WHERE sha256 = $1 FOR UPDATE")
        .bind(sha256)
        .fetch_optional(&mut *tx)
        .await
        .map_err(be)?;
    // Gone meanwhile (dropped, or held aside by another process's scan): nothing to hold aside.
    if whole.is_none() {
        return Ok(vec![]);
    }
    let mut owners: Vec<(String,)> =
        sqlx::query_as("DELETE FROM blob_items WHERE sha256 = $1 RETURNING item_id")
            .bind(sha256)
            .fetch_all(&mut *tx)
            .await
            .map_err(be)?;
    owners.sort();
    for (item,) in &owners {
        sqlx::query(
            "INSERT INTO blob_quarantine (sha256, item_id, finding, at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (sha256, item_id) DO NOTHING",
        )
        .bind(sha256)
        .bind(item)
        .bind(finding)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(be)?;
    }
    let mut gone = vec![
        "DELETE FROM blobs WHERE sha256 = $1",
        "DELETE FROM blob_texts WHERE sha256 = $1",
    ];
    // Nothing checked it for an item, and nothing references it: an upload never attached,
    // dropped altogether. Referenced but not yet checked, its chunks stay: the fetcher finds it
    // not whole, scans it again from them and holds it aside for that item.
    let (referenced,): (bool,) =
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM attachment_refs WHERE sha256 = $1)")
            .bind(sha256)
            .fetch_one(&mut *tx)
            .await
            .map_err(be)?;
    if owners.is_empty() && !referenced {
        gone.push("DELETE FROM blob_uploads WHERE sha256 = $1");
        gone.push("DELETE FROM blob_chunks WHERE sha256 = $1");
    }
    for q in gone {
        sqlx::query(q)
            .bind(sha256)
            .execute(&mut *tx)
            .await
            .map_err(be)?;
    }
    tx.commit().await.map_err(be)?;
    Ok(owners.into_iter().map(|(k,)| k).collect())
}

pub(crate) async fn drop_abandoned(s: &PgStore, before: &str, limit: u32) -> Result<Vec<String>> {
    // Checked and dropped in one transaction. An attach verifies the file for its item before
    // it signs, which makes the file referenced here; an upload a day old attached in the very
    // moment it is dropped is refused as unknown or, past that check, left without its bytes
    // at this node (its author attaches it again).
    let mut tx = s.pool.begin().await.map_err(be)?;
    let gone: Vec<(String,)> = sqlx::query_as(
        "SELECT b.sha256 FROM blobs b WHERE b.stored_at < $1
           AND NOT EXISTS (SELECT 1 FROM attachment_refs r WHERE r.sha256 = b.sha256)
           AND NOT EXISTS (SELECT 1 FROM blob_items i WHERE i.sha256 = b.sha256)
           AND NOT EXISTS (SELECT 1 FROM blob_quarantine q WHERE q.sha256 = b.sha256)
         ORDER BY b.sha256 LIMIT $2",
    )
    .bind(before)
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await
    .map_err(be)?;
    let mut dropped = vec![];
    for (sha,) in gone {
        // Locked, then checked again in a statement of its own: a check for an item committed
        // meanwhile (which locks the row to share) is seen, and the file stays.
        sqlx::query("SELECT 1 FROM blobs WHERE sha256 = $1 FOR UPDATE")
            .bind(&sha)
            .execute(&mut *tx)
            .await
            .map_err(be)?;
        // The time too: an upload of the same bytes recorded meanwhile makes the file new.
        let still = sqlx::query(
            "DELETE FROM blobs b WHERE b.sha256 = $1 AND b.stored_at < $2
               AND NOT EXISTS (SELECT 1 FROM attachment_refs r WHERE r.sha256 = b.sha256)
               AND NOT EXISTS (SELECT 1 FROM blob_items i WHERE i.sha256 = b.sha256)
               AND NOT EXISTS (SELECT 1 FROM blob_quarantine q WHERE q.sha256 = b.sha256)",
        )
        .bind(&sha)
        .bind(before)
        .execute(&mut *tx)
        .await
        .map_err(be)?
        .rows_affected();
        if still == 0 {
            continue;
        }
        for q in [
            "DELETE FROM blob_chunks WHERE sha256 = $1",
            "DELETE FROM blob_uploads WHERE sha256 = $1",
            "DELETE FROM blob_texts WHERE sha256 = $1",
        ] {
            sqlx::query(q)
                .bind(&sha)
                .execute(&mut *tx)
                .await
                .map_err(be)?;
        }
        dropped.push(sha);
    }
    // Chunks written before the cut-off of files not held whole that nothing references or
    // holds aside: uploads cut off (a client gone, a crash) before they completed. A file on
    // its way from a peer is referenced by the item that brought it, and an upload writes its
    // chunks anew (so a pass that picked a file as an upload of it starts drops none of the
    // new chunks). A chunk without a time counts as written when the column was added.
    let orphan = "NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = c.sha256)
           AND NOT EXISTS (SELECT 1 FROM attachment_refs r WHERE r.sha256 = c.sha256)
           AND NOT EXISTS (SELECT 1 FROM blob_quarantine q WHERE q.sha256 = c.sha256)
           AND COALESCE(c.at, (SELECT v FROM meta WHERE k = 'chunk_times_since')) < $1";
    let cut_off: Vec<(String,)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT DISTINCT c.sha256 FROM blob_chunks c WHERE {orphan} ORDER BY c.sha256 LIMIT $2"
    )))
    .bind(before)
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await
    .map_err(be)?;
    let mut cut: Vec<String> = Vec::with_capacity(cut_off.len());
    for (sha,) in cut_off {
        let dropped = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM blob_chunks AS c WHERE c.sha256 = $2 AND {orphan}"
        )))
        .bind(before)
        .bind(&sha)
        .execute(&mut *tx)
        .await
        .map_err(be)?
        .rows_affected();
        // On PostgreSQL an upload of the file may have started meanwhile: nothing old is left.
        if dropped > 0 {
            cut.push(sha);
        }
    }
    tx.commit().await.map_err(be)?;
    dropped.extend(cut);
    Ok(dropped)
}

//! SQLite's users, tokens and read marks: the account rows behind sign-in and access
//! control, and what each user has read of each discussion.

use crate::Cols;
use crate::{SqliteStore, be};
use entente_store::codec::to_json;
use entente_store::*;

pub(crate) async fn create_user(s: &SqliteStore, u: &UserRecord) -> Result<()> {
    let r = sqlx::query(
        "INSERT INTO users (username, role, password_hash, created_at, settings) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&u.username)
    .bind(u.role.as_str())
    .bind(&u.password_hash)
    .bind(&u.created_at)
    .bind(to_json(&u.settings))
    .execute(&s.pool)
    .await;
    match r {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
            Err(StoreError::Conflict(format!("user {}", u.username)))
        }
        Err(e) => Err(be(e)),
    }
}

pub(crate) async fn user(s: &SqliteStore, name: &str) -> Result<Option<UserRecord>> {
    let r = sqlx::query("SELECT * FROM users WHERE username = ?")
        .bind(name)
        .fetch_optional(&s.pool)
        .await
        .map_err(be)?;
    r.as_ref().map(|r| rows::user(&Cols(r))).transpose()
}

pub(crate) async fn users(s: &SqliteStore) -> Result<Vec<UserRecord>> {
    let rows = sqlx::query("SELECT * FROM users ORDER BY username")
        .fetch_all(&s.pool)
        .await
        .map_err(be)?;
    rows.iter().map(|r| rows::user(&Cols(r))).collect()
}

pub(crate) async fn create_token(s: &SqliteStore, t: &TokenRecord) -> Result<()> {
    sqlx::query("INSERT INTO tokens (token_hash, username, label, kind, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(&t.token_hash)
        .bind(&t.username)
        .bind(&t.label)
        .bind(t.kind.as_str())
        .bind(&t.created_at)
        .bind(t.expires_at.as_deref())
        .execute(&s.pool)
        .await
        .map_err(be)?;
    Ok(())
}

pub(crate) async fn token(s: &SqliteStore, hash: &str) -> Result<Option<TokenRecord>> {
    let r = sqlx::query("SELECT * FROM tokens WHERE token_hash = ?")
        .bind(hash)
        .fetch_optional(&s.pool)
        .await
        .map_err(be)?;
    r.as_ref().map(|r| rows::token(&Cols(r))).transpose()
}

pub(crate) async fn delete_token(s: &SqliteStore, hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM tokens WHERE token_hash = ?")
        .bind(hash)
        .execute(&s.pool)
        .await
        .map_err(be)?;
    Ok(())
}

pub(crate) async fn update_user(
    s: &SqliteStore,
    username: &str,
    role: Option<entente_domain::Role>,
    disabled: Option<bool>,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE users SET role = COALESCE(?, role), disabled = COALESCE(?, disabled)
         WHERE username = ?",
    )
    .bind(role.map(|r| r.as_str()))
    .bind(disabled.map(i64::from))
    .bind(username)
    .execute(&s.pool)
    .await
    .map_err(be)?;
    Ok(r.rows_affected() == 1)
}

pub(crate) async fn set_user_settings(
    s: &SqliteStore,
    username: &str,
    settings: &UserSettings,
) -> Result<bool> {
    let r = sqlx::query("UPDATE users SET settings = ? WHERE username = ?")
        .bind(to_json(settings))
        .bind(username)
        .execute(&s.pool)
        .await
        .map_err(be)?;
    Ok(r.rows_affected() == 1)
}

pub(crate) async fn set_read_mark(
    s: &SqliteStore,
    username: &str,
    thread_id: &str,
    seen: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO read_marks (username, thread_id, seen) VALUES (?, ?, ?) ON CONFLICT (username, thread_id) DO UPDATE SET seen = excluded.seen")
        .bind(username)
        .bind(thread_id)
        .bind(seen)
        .execute(&s.pool)
        .await
        .map_err(be)?;
    Ok(())
}

pub(crate) async fn read_marks(s: &SqliteStore, username: &str) -> Result<Vec<(String, String)>> {
    sqlx::query_as("SELECT thread_id, seen FROM read_marks WHERE username = ? ORDER BY thread_id")
        .bind(username)
        .fetch_all(&s.pool)
        .await
        .map_err(be)
}

pub(crate) async fn delete_user(s: &SqliteStore, username: &str) -> Result<bool> {
    let mut tx = s.pool.begin().await.map_err(be)?;
    sqlx::query("DELETE FROM read_marks WHERE username = ?")
        .bind(username)
        .execute(&mut *tx)
        .await
        .map_err(be)?;
    sqlx::query("DELETE FROM tokens WHERE username = ?")
        .bind(username)
        .execute(&mut *tx)
        .await
        .map_err(be)?;
    let r = sqlx::query("DELETE FROM users WHERE username = ?")
        .bind(username)
        .execute(&mut *tx)
        .await
        .map_err(be)?;
    tx.commit().await.map_err(be)?;
    Ok(r.rows_affected() == 1)
}

pub(crate) async fn tokens(s: &SqliteStore, username: Option<&str>) -> Result<Vec<TokenRecord>> {
    let rows = sqlx::query(
        "SELECT * FROM tokens WHERE ? IS NULL OR username = ? ORDER BY created_at, token_hash",
    )
    .bind(username)
    .bind(username)
    .fetch_all(&s.pool)
    .await
    .map_err(be)?;
    rows.iter().map(|r| rows::token(&Cols(r))).collect()
}

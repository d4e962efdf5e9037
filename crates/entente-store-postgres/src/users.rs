//! PostgreSQL's users, tokens and read marks: the account rows behind sign-in and access
//! control, and what each user has read of each discussion.

use crate::{Cols, unique_violation};
use crate::{PgStore, be};
use entente_store::codec::to_json;
use entente_store::*;

pub(crate) async fn create_user(s: &PgStore, u: &UserRecord) -> Result<()> {
    let r = sqlx::query(
        "INSERT INTO users (username, role, password_hash, created_at, settings) VALUES ($1, $2, $3, $4, $5)",
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
        Err(e) if unique_violation(&e) => Err(StoreError::Conflict(format!("user {}", u.username))),
        Err(e) => Err(be(e)),
    }
}

pub(crate) async fn user(s: &PgStore, name: &str) -> Result<Option<UserRecord>> {
    let r = sqlx::query("SELECT * FROM users WHERE username = $1")
        .bind(name)
        .fetch_optional(&s.pool)
        .await
        .map_err(be)?;
    r.as_ref().map(|r| rows::user(&Cols(r))).transpose()
}

pub(crate) async fn users(s: &PgStore) -> Result<Vec<UserRecord>> {
    let rows = sqlx::query("SELECT * FROM users ORDER BY username")
        .fetch_all(&s.pool)
        .await
        .map_err(be)?;
    rows.iter().map(|r| rows::user(&Cols(r))).collect()
}

pub(crate) async fn create_token(s: &PgStore, t: &TokenRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO tokens (token_hash, username, label, kind, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
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

pub(crate) async fn token(s: &PgStore, hash: &str) -> Result<Option<TokenRecord>> {
    let r = sqlx::query("SELECT * FROM tokens WHERE token_hash = $1")
        .bind(hash)
        .fetch_optional(&s.pool)
        .await
        .map_err(be)?;
    r.as_ref().map(|r| rows::token(&Cols(r))).transpose()
}

pub(crate) async fn delete_token(s: &PgStore, hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM tokens WHERE token_hash = $1")
        .bind(hash)
        .execute(&s.pool)
        .await
        .map_err(be)?;
    Ok(())
}

pub(crate) async fn update_user(
    s: &PgStore,
    username: &str,
    role: Option<entente_domain::Role>,
    disabled: Option<bool>,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE users SET role = COALESCE($1, role), disabled = COALESCE($2, disabled)
         WHERE username = $3",
    )
    .bind(role.map(|r| r.as_str()))
    .bind(disabled)
    .bind(username)
    .execute(&s.pool)
    .await
    .map_err(be)?;
    Ok(r.rows_affected() == 1)
}

pub(crate) async fn set_user_settings(
    s: &PgStore,
    username: &str,
    settings: &UserSettings,
) -> Result<bool> {
    let r = sqlx::query("UPDATE users SET settings = $1 WHERE username = $2")
        .bind(to_json(settings))
        .bind(username)
        .execute(&s.pool)
        .await
        .map_err(be)?;
    Ok(r.rows_affected() == 1)
}

pub(crate) async fn set_read_mark(
    s: &PgStore,
    username: &str,
    thread_id: &str,
    seen: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO read_marks (username, thread_id, seen) VALUES ($1, $2, $3) ON CONFLICT (username, thread_id) DO UPDATE SET seen = excluded.seen")
        .bind(username)
        .bind(thread_id)
        .bind(seen)
        .execute(&s.pool)
        .await
        .map_err(be)?;
    Ok(())
}

pub(crate) async fn read_marks(s: &PgStore, username: &str) -> Result<Vec<(String, String)>> {
    sqlx::query_as("SELECT thread_id, seen FROM read_marks WHERE username = $1 ORDER BY thread_id")
        .bind(username)
        .fetch_all(&s.pool)
        .await
        .map_err(be)
}

pub(crate) async fn delete_user(s: &PgStore, username: &str) -> Result<bool> {
    let mut tx = s.pool.begin().await.map_err(be)?;
    sqlx::query("DELETE FROM read_marks WHERE username = $1")
        .bind(username)
        .execute(&mut *tx)
        .await
        .map_err(be)?;
    sqlx::query("DELETE FROM tokens WHERE username = $1")
        .bind(username)
        .execute(&mut *tx)
        .await
        .map_err(be)?;
    let r = sqlx::query("DELETE FROM users WHERE username = $1")
        .bind(username)
        .execute(&mut *tx)
        .await
        .map_err(be)?;
    tx.commit().await.map_err(be)?;
    Ok(r.rows_affected() == 1)
}

pub(crate) async fn tokens(s: &PgStore, username: Option<&str>) -> Result<Vec<TokenRecord>> {
    let rows = sqlx::query(
        "SELECT * FROM tokens WHERE $1::text IS NULL OR username = $2 ORDER BY created_at, token_hash",
    )
    .bind(username)
    .bind(username)
    .fetch_all(&s.pool)
    .await
    .map_err(be)?;
    rows.iter().map(|r| rows::token(&Cols(r))).collect()
}

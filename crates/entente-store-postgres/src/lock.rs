//! The database-wide write lock (a PostgreSQL advisory lock held on a connection of its own):
//! several `serve` processes of one node fold and append one at a time.

use entente_store::WriteLock;
use sqlx::Postgres;

/// The advisory lock key of writes (arbitrary, distinct from the migration lock's).
pub(crate) const WRITE_LOCK: i64 = 0x656e_7465_6e74_6502;

/// Holds the database-wide write lock on a connection of its own until dropped.
pub(crate) struct PgWriteLock {
    pub(crate) conn: Option<sqlx::pool::PoolConnection<Postgres>>,
}

impl WriteLock for PgWriteLock {}

impl Drop for PgWriteLock {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        // Unlock, and if that fails close the connection: a closed session holds no locks.
        let unlock = async move {
            let ok = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(WRITE_LOCK)
                .execute(&mut *conn)
                .await
                .is_ok();
            if !ok {
                drop(conn.detach());
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(unlock);
            }
            Err(_) => tracing::warn!("write lock dropped outside a runtime; its session will end"),
        }
    }
}

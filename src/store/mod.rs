//! The only place with SQL. Every query names its application (`app_id`) first; functions take
//! any executor so the service layer decides the transaction boundaries.

pub mod access_schemas;
pub mod app_snapshots;
pub mod apps;
pub mod audit;
pub mod clients;
pub mod console_sessions;
pub mod entity_types;
pub mod fixtures;
pub mod secrets;
pub mod settings;
pub mod signed;
pub mod snapshots;

/// What the database said, in the terms the service layer decides on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unique constraint {constraint} violated")]
    UniqueViolation { constraint: String },
    /// PostgreSQL refused text it cannot store (U+0000): a caller's bad value that got past
    /// the edge checks. Never a fault of ours, so never a 500.
    #[error("text the database cannot store: {0}")]
    UnstorableText(#[source] sqlx::Error),
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
                StoreError::UniqueViolation {
                    constraint: db.constraint().unwrap_or_default().to_owned(),
                }
            }
            // Connection-level trouble: the caller gets 503 and the pool reconnects by itself.
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            // 08: connection exception; 57P: shutdown / cannot connect now; 53: out of resources
            // (too many connections); 55000 / 3D000: the database refuses connections or is gone.
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| {
                    ["08", "57P", "53"].iter().any(|p| c.starts_with(p))
                        || c == "55000"
                        || c == "3D000"
                }) =>
            {
                StoreError::Unavailable(e)
            }
            // 22021: character_not_in_repertoire ("invalid byte sequence for encoding UTF8: 0x00").
            sqlx::Error::Database(db) if db.code().as_deref() == Some("22021") => {
                StoreError::UnstorableText(e)
            }
            _ => StoreError::Other(e),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A read-only transaction whose reads all see one snapshot (REPEATABLE READ): for reads that
/// must agree with each other (a whole-chain verification, a report, both lists of settings).
pub async fn begin_snapshot(
    pool: &sqlx::PgPool,
) -> StoreResult<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

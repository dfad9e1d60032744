//! The only place with SQL. Every query names its application (`app_id`) first; functions take
//! any executor so the service layer decides the transaction boundaries.

pub mod access_schemas;
pub mod app_snapshots;
pub mod apps;
pub mod audit;
pub mod clients;
pub mod console_sessions;
pub mod entitlements;
pub mod entity_types;
pub mod evidence;
pub mod fixtures;
pub mod oauth;
pub mod primary;
pub mod replays;
pub mod secrets;
pub mod settings;
pub mod signed;
pub mod sinks;
pub mod snapshots;
pub mod tx;

pub use tx::{Revision, Revisions, WriteTx};

/// The migrations of this build (`migrations/`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Migrations this build knows that the database has not applied.
pub async fn pending_migrations(pool: &sqlx::PgPool) -> Result<usize, sqlx::Error> {
    let applied: Vec<i64> =
        sqlx::query_scalar!("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await
            .or_else(|e| match &e {
                // No table yet: nothing applied.
                sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => {
                    Ok(Vec::new())
                }
                _ => Err(e),
            })?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
        .count())
}

/// What the database said, in the terms the service layer decides on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key the service gives a meaning to was taken.
    #[error("unique constraint {0:?} violated")]
    Duplicate(Constraint),
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
    /// A saved snapshot this release cannot read (`app_snapshots::decode`).
    #[error("snapshot unreadable: {0}")]
    Snapshot(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
                match Constraint::named(db.constraint().unwrap_or_default()) {
                    Some(c) => StoreError::Duplicate(c),
                    None => StoreError::UniqueViolation {
                        constraint: db.constraint().unwrap_or_default().to_owned(),
                    },
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
            // 25006: read_only_sql_transaction. The connection reached a node that only reads
            // (a demoted primary, a standby behind a proxy): 503, and the pool recycles it.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("25006") => {
                primary::note_refusal();
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

/// The unique keys whose violation the service turns into a caller's error (migrations' names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// `apps_pkey`: the application id is taken.
    AppId,
    /// `apps_name_key`: the application name is taken.
    AppName,
    /// `clients_app_name_key`: a client of the application has the name.
    ClientName,
    /// `entity_types_pkey`: the application has an entity type of the name.
    EntityTypeName,
    /// `sinks_pkey`: a sink has the name.
    SinkName,
}

impl Constraint {
    fn named(name: &str) -> Option<Self> {
        match name {
            "apps_pkey" => Some(Self::AppId),
            "apps_name_key" => Some(Self::AppName),
            "clients_app_name_key" => Some(Self::ClientName),
            "entity_types_pkey" => Some(Self::EntityTypeName),
            "sinks_pkey" => Some(Self::SinkName),
            _ => None,
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

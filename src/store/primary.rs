//! The request pool must reach a writable primary. After a failover a connection may land on
//! a node that only reads: a standby (`pg_is_in_recovery()`), or a server or pooler set
//! `default_transaction_read_only`. Such a connection would answer reads from a copy that may
//! be behind and refuse every write with SQLSTATE 25006 (`read_only_sql_transaction`), so:
//!
//! * a new connection is checked once ([`writable`], the pool's `after_connect`) and refused
//!   when it is read-only (the pool tries again until its acquire timeout: 503 meanwhile);
//! * a write refused with 25006 on an older connection ([`note_refusal`], from the store's error
//!   mapping) makes the pool check each connection it hands out ([`suspect`], its
//!   `before_acquire`) for the next [`SUSPECT_FOR`], closing those that are read-only.
//!
//! So no connection keeps answering read-only once seen, while a healthy pool pays no round
//! trip per request (the check costs one only during the suspect period).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::PgExecutor;

/// How long after a read-only refusal every connection handed out is checked.
pub const SUSPECT_FOR: Duration = Duration::from_secs(10);

/// When the last read-only refusal was seen (milliseconds since the Unix epoch; 0: never). One
/// for the process: a refusal makes every pool of it check its connections for a while, which
/// costs a round trip per acquire and nothing else.
static REFUSED_AT_MS: AtomicU64 = AtomicU64::new(0);

/// Read-only refusals seen since the process started (for metrics).
static REFUSALS: AtomicU64 = AtomicU64::new(0);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A statement was refused because the connection is read-only.
pub fn note_refusal() {
    REFUSALS.fetch_add(1, Ordering::Relaxed);
    REFUSED_AT_MS.store(now_ms(), Ordering::Release);
    tracing::warn!("the database refused a write as read-only: checking connections");
}

/// Whether connections must be checked before use (a read-only refusal was seen lately).
pub fn suspect() -> bool {
    let at = REFUSED_AT_MS.load(Ordering::Acquire);
    at != 0 && now_ms().saturating_sub(at) < u64::try_from(SUSPECT_FOR.as_millis()).unwrap_or(0)
}

/// Read-only refusals seen since start.
pub fn refusals() -> u64 {
    REFUSALS.load(Ordering::Relaxed)
}

/// Whether the connection can write: not a standby, and its transactions are not read-only.
pub async fn writable(db: impl PgExecutor<'_>) -> Result<bool, sqlx::Error> {
    let writable = sqlx::query_scalar!(
        r#"SELECT NOT pg_is_in_recovery()
                  AND current_setting('transaction_read_only') = 'off' AS "writable!""#
    )
    .fetch_one(db)
    .await?;
    Ok(writable)
}

/// The refusal of a read-only connection, as the pool's `after_connect` reports it.
#[derive(Debug, thiserror::Error)]
#[error("the server is read-only (a standby, or default_transaction_read_only): Latchkey needs the primary")]
pub struct ReadOnlyServer;

//! Replay logs: what was accepted once and must not be accepted again inside its window (the
//! signature of a signed request, the `jti` of an OAuth client assertion), kept per application
//! until the window closes. The two logs are one logic on two tables, written once here.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::StoreResult;

/// Which replay log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayLog {
    /// Signatures of accepted signed requests (`janrain-signed`, docs/signed-requests.md).
    SignedRequests,
    /// Accepted OAuth client assertions (private_key_jwt, docs/oauth.md).
    OAuthAssertions,
}

/// The checked INSERT of one log: `$table` with its hash column `$hash`. An expired row with the
/// same hash (the same thing presented again after its window closed, which its own check
/// refuses anyway) is taken over rather than counted, so the row count says "new".
macro_rules! record_in {
    ($table:literal, $hash:literal, $app_id:expr, $hash_value:expr, $expires_at:expr) => {
        sqlx::query!(
            "INSERT INTO "
                + $table
                + " (app_id, "
                + $hash
                + ", expires_at)
         VALUES ($1, $2, $3)
         ON CONFLICT ON CONSTRAINT "
                + $table
                + "_pkey DO UPDATE
            SET expires_at = EXCLUDED.expires_at
          WHERE "
                + $table
                + ".expires_at <= now()",
            $app_id,
            $hash_value,
            $expires_at,
        )
    };
}

/// Records an accepted `hash` until `expires_at`. False when it was already recorded and is
/// still inside its window: a replay.
pub async fn record(
    db: impl PgExecutor<'_>,
    log: ReplayLog,
    app_id: &str,
    hash: &[u8],
    expires_at: DateTime<Utc>,
) -> StoreResult<bool> {
    let done = match log {
        ReplayLog::SignedRequests => {
            record_in!(
                "signed_request_replays",
                "signature_hash",
                app_id,
                hash,
                expires_at
            )
            .execute(db)
            .await?
        }
        ReplayLog::OAuthAssertions => {
            record_in!(
                "oauth_assertion_replays",
                "jti_hash",
                app_id,
                hash,
                expires_at
            )
            .execute(db)
            .await?
        }
    };
    Ok(done.rows_affected() == 1)
}

/// Removes an application's records whose window has closed; returns how many.
pub async fn purge_expired(
    db: impl PgExecutor<'_>,
    log: ReplayLog,
    app_id: &str,
) -> StoreResult<u64> {
    let done = match log {
        ReplayLog::SignedRequests => {
            sqlx::query!(
                "DELETE FROM signed_request_replays WHERE app_id = $1 AND expires_at <= now()",
                app_id,
            )
            .execute(db)
            .await?
        }
        ReplayLog::OAuthAssertions => {
            sqlx::query!(
                "DELETE FROM oauth_assertion_replays WHERE app_id = $1 AND expires_at <= now()",
                app_id,
            )
            .execute(db)
            .await?
        }
    };
    Ok(done.rows_affected())
}

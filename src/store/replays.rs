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

/// Records an accepted `hash` until `expires_at`. False when it was already recorded and is
/// still inside its window: a replay.
pub async fn record(
    db: impl PgExecutor<'_>,
    log: ReplayLog,
    app_id: &str,
    hash: &[u8],
    expires_at: DateTime<Utc>,
) -> StoreResult<bool> {
    // An expired row with the same hash (the same thing presented again after its window
    // closed, which its own check refuses anyway) is taken over rather than counted. The two
    // statements differ only in their table (every checked query is written out in full, so
    // that the .sqlx staleness test finds its text in the source).
    let done = match log {
        ReplayLog::SignedRequests => {
            sqlx::query!(
                "INSERT INTO signed_request_replays (app_id, signature_hash, expires_at)
         VALUES ($1, $2, $3)
         ON CONFLICT ON CONSTRAINT signed_request_replays_pkey DO UPDATE
            SET expires_at = EXCLUDED.expires_at
          WHERE signed_request_replays.expires_at <= now()",
                app_id,
                hash,
                expires_at,
            )
            .execute(db)
            .await?
        }
        ReplayLog::OAuthAssertions => {
            sqlx::query!(
                "INSERT INTO oauth_assertion_replays (app_id, jti_hash, expires_at)
         VALUES ($1, $2, $3)
         ON CONFLICT ON CONSTRAINT oauth_assertion_replays_pkey DO UPDATE
            SET expires_at = EXCLUDED.expires_at
          WHERE oauth_assertion_replays.expires_at <= now()",
                app_id,
                hash,
                expires_at,
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

//! Web console sessions: an owner's belong to its application (keys start with `app_id`); the
//! operator's, who is no tenant, have their own table. Only SHA-256 hashes of tokens are stored.
//! The two sets of functions look alike but are kept apart on purpose: an owner's session is
//! scoped by its application and names a client, an operator's has no application and is bound
//! to the fingerprint of the operator token in force.

use sqlx::PgExecutor;

use super::StoreResult;

pub async fn insert_client(
    db: impl PgExecutor<'_>,
    app_id: &str,
    token_hash: &[u8],
    client_id: &str,
) -> StoreResult<()> {
    sqlx::query!(
        "INSERT INTO console_sessions (app_id, token_hash, client_id) VALUES ($1, $2, $3)",
        app_id,
        token_hash,
        client_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Marks a session as used now, if it was used within `idle_secs`; returns its client id.
pub async fn touch_client(
    db: impl PgExecutor<'_>,
    app_id: &str,
    token_hash: &[u8],
    idle_secs: f64,
) -> StoreResult<Option<String>> {
    Ok(sqlx::query_scalar!(
        "UPDATE console_sessions SET last_seen_at = now()
         WHERE app_id = $1 AND token_hash = $2
           AND last_seen_at > now() - make_interval(secs => $3)
         RETURNING client_id",
        app_id,
        token_hash,
        idle_secs
    )
    .fetch_optional(db)
    .await?)
}

pub async fn delete_client(
    db: impl PgExecutor<'_>,
    app_id: &str,
    token_hash: &[u8],
) -> StoreResult<()> {
    sqlx::query!(
        "DELETE FROM console_sessions WHERE app_id = $1 AND token_hash = $2",
        app_id,
        token_hash
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Removes the application's sessions idle for longer than `idle_secs`.
pub async fn delete_idle_clients(
    db: impl PgExecutor<'_>,
    app_id: &str,
    idle_secs: f64,
) -> StoreResult<()> {
    sqlx::query!(
        "DELETE FROM console_sessions
         WHERE app_id = $1 AND last_seen_at <= now() - make_interval(secs => $2)",
        app_id,
        idle_secs
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn insert_operator(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
    fingerprint: &[u8],
) -> StoreResult<()> {
    sqlx::query!(
        "INSERT INTO console_operator_sessions (token_hash, operator_fingerprint) VALUES ($1, $2)",
        token_hash,
        fingerprint
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Marks an operator session as used now, if it was used within `idle_secs` and opened with
/// the operator token now in force (`fingerprint`).
pub async fn touch_operator(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
    fingerprint: &[u8],
    idle_secs: f64,
) -> StoreResult<bool> {
    let found: Option<i32> = sqlx::query_scalar!(
        r#"UPDATE console_operator_sessions SET last_seen_at = now()
         WHERE token_hash = $1 AND operator_fingerprint = $2
           AND last_seen_at > now() - make_interval(secs => $3)
         RETURNING 1 AS "one!""#,
        token_hash,
        fingerprint,
        idle_secs
    )
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}

pub async fn delete_operator(db: impl PgExecutor<'_>, token_hash: &[u8]) -> StoreResult<()> {
    sqlx::query!(
        "DELETE FROM console_operator_sessions WHERE token_hash = $1",
        token_hash
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn delete_idle_operators(db: impl PgExecutor<'_>, idle_secs: f64) -> StoreResult<()> {
    sqlx::query!(
        "DELETE FROM console_operator_sessions
         WHERE last_seen_at <= now() - make_interval(secs => $1)",
        idle_secs
    )
    .execute(db)
    .await?;
    Ok(())
}

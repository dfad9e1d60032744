//! OAuth (docs/oauth.md): the applications' token settings and signing keys, the clients'
//! registered public keys, revoked tokens and accepted client assertions. Every query is
//! scoped by `app_id`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};

use super::StoreResult;

/// An application's OAuth settings as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsRow {
    pub signing_alg: String,
    pub token_lifetime_secs: i32,
}

/// Gives an existing application its settings row (the defaults) if it has none. False: no
/// such application.
async fn ensure_app(db: impl PgExecutor<'_>, app_id: &str) -> StoreResult<bool> {
    let found = sqlx::query_scalar!(
        r#"WITH ins AS (
               INSERT INTO oauth_apps (app_id)
               SELECT app_id FROM apps WHERE app_id = $1
               ON CONFLICT ON CONSTRAINT oauth_apps_pkey DO NOTHING)
           SELECT EXISTS (SELECT 1 FROM apps WHERE app_id = $1) AS "found!""#,
        app_id,
    )
    .fetch_one(db)
    .await?;
    Ok(found)
}

/// The settings, locked for the transaction (key changes of one application take turns); an
/// application without a settings row gets the defaults first. `None`: no such application.
pub async fn lock_settings(
    conn: &mut PgConnection,
    app_id: &str,
) -> StoreResult<Option<SettingsRow>> {
    if !ensure_app(&mut *conn, app_id).await? {
        return Ok(None);
    }
    Ok(sqlx::query_as!(
        SettingsRow,
        "SELECT signing_alg, token_lifetime_secs FROM oauth_apps WHERE app_id = $1 FOR UPDATE",
        app_id,
    )
    .fetch_optional(conn)
    .await?)
}

pub async fn set_settings(
    conn: &mut PgConnection,
    app_id: &str,
    settings: &SettingsRow,
) -> StoreResult<()> {
    sqlx::query!(
        "UPDATE oauth_apps SET signing_alg = $2, token_lifetime_secs = $3 WHERE app_id = $1",
        app_id,
        settings.signing_alg,
        settings.token_lifetime_secs,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A signing key as stored (the private half sealed).
#[derive(Debug, Clone)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub public_jwk: Value,
    pub sealed: Vec<u8>,
    pub sealing_key_id: String,
    pub created_at: DateTime<Utc>,
    pub signs_from: DateTime<Utc>,
    pub retires_at: Option<DateTime<Utc>>,
}

/// The application's settings and its published keys (not retired by now), oldest first, in
/// one statement. `None`: the application has no OAuth row yet.
pub async fn key_set(
    db: impl PgExecutor<'_>,
    app_id: &str,
) -> StoreResult<Option<(SettingsRow, Vec<KeyRow>)>> {
    let rows = sqlx::query!(
        r#"SELECT o.signing_alg, o.token_lifetime_secs,
                  k.kid AS "kid?", k.alg AS "alg?", k.public_jwk AS "public_jwk?",
                  k.sealed AS "sealed?", k.sealing_key_id AS "sealing_key_id?",
                  k.created_at AS "created_at?", k.signs_from AS "signs_from?", k.retires_at
             FROM oauth_apps o
             LEFT JOIN oauth_signing_keys k
               ON k.app_id = o.app_id AND (k.retires_at IS NULL OR k.retires_at > now())
            WHERE o.app_id = $1
            ORDER BY k.signs_from, k.kid"#,
        app_id,
    )
    .fetch_all(db)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let settings = SettingsRow {
        signing_alg: first.signing_alg.clone(),
        token_lifetime_secs: first.token_lifetime_secs,
    };
    let keys = rows
        .into_iter()
        .filter_map(|r| {
            Some(KeyRow {
                kid: r.kid?,
                alg: r.alg?,
                public_jwk: r.public_jwk?,
                sealed: r.sealed?,
                sealing_key_id: r.sealing_key_id?,
                created_at: r.created_at?,
                signs_from: r.signs_from?,
                retires_at: r.retires_at,
            })
        })
        .collect();
    Ok(Some((settings, keys)))
}

pub async fn insert_key(conn: &mut PgConnection, app_id: &str, key: &KeyRow) -> StoreResult<()> {
    sqlx::query!(
        "INSERT INTO oauth_signing_keys
             (app_id, kid, alg, public_jwk, sealed, sealing_key_id, created_at, signs_from)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        app_id,
        key.kid,
        key.alg,
        key.public_jwk,
        key.sealed,
        key.sealing_key_id,
        key.created_at,
        key.signs_from,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets when a key leaves the published set.
pub async fn retire_key(
    conn: &mut PgConnection,
    app_id: &str,
    kid: &str,
    retires_at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query!(
        "UPDATE oauth_signing_keys SET retires_at = $3 WHERE app_id = $1 AND kid = $2",
        app_id,
        kid,
        retires_at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// After a longer token lifetime: keys on their way out stay published `extra_secs` longer.
pub async fn extend_retirements(
    conn: &mut PgConnection,
    app_id: &str,
    extra_secs: i32,
) -> StoreResult<()> {
    sqlx::query!(
        "UPDATE oauth_signing_keys SET retires_at = retires_at + make_interval(secs => $2)
          WHERE app_id = $1 AND retires_at > now()",
        app_id,
        f64::from(extra_secs),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A client's registered key set (`None`: none registered).
pub async fn client_jwks(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
) -> StoreResult<Option<Value>> {
    Ok(sqlx::query_scalar!(
        "SELECT jwks FROM oauth_client_jwks WHERE app_id = $1 AND client_id = $2",
        app_id,
        client_id,
    )
    .fetch_optional(db)
    .await?)
}

/// Every client of the application with registered keys, by client id.
pub async fn all_client_jwks(
    db: impl PgExecutor<'_>,
    app_id: &str,
) -> StoreResult<Vec<(String, Value)>> {
    let rows = sqlx::query!(
        "SELECT client_id, jwks FROM oauth_client_jwks WHERE app_id = $1 ORDER BY client_id",
        app_id,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.client_id, r.jwks)).collect())
}

/// Sets a client's key set; returns the one it replaced.
pub async fn put_client_jwks(
    conn: &mut PgConnection,
    app_id: &str,
    client_id: &str,
    jwks: &Value,
) -> StoreResult<Option<Value>> {
    let before = client_jwks(&mut *conn, app_id, client_id).await?;
    sqlx::query!(
        "INSERT INTO oauth_client_jwks (app_id, client_id, jwks) VALUES ($1, $2, $3)
         ON CONFLICT ON CONSTRAINT oauth_client_jwks_pkey
         DO UPDATE SET jwks = EXCLUDED.jwks, updated_at = now()",
        app_id,
        client_id,
        jwks,
    )
    .execute(conn)
    .await?;
    Ok(before)
}

/// Removes a client's key set; returns it (`None`: there was none).
pub async fn delete_client_jwks(
    conn: &mut PgConnection,
    app_id: &str,
    client_id: &str,
) -> StoreResult<Option<Value>> {
    Ok(sqlx::query_scalar!(
        "DELETE FROM oauth_client_jwks WHERE app_id = $1 AND client_id = $2 RETURNING jwks",
        app_id,
        client_id,
    )
    .fetch_optional(conn)
    .await?)
}

/// Records a revoked token. False: it was already revoked.
pub async fn revoke(
    conn: &mut PgConnection,
    app_id: &str,
    jti: &str,
    client_id: &str,
    expires_at: DateTime<Utc>,
) -> StoreResult<bool> {
    let done = sqlx::query!(
        "INSERT INTO oauth_revoked_tokens (app_id, jti, client_id, expires_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT ON CONSTRAINT oauth_revoked_tokens_pkey DO NOTHING",
        app_id,
        jti,
        client_id,
        expires_at,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn is_revoked(db: impl PgExecutor<'_>, app_id: &str, jti: &str) -> StoreResult<bool> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM oauth_revoked_tokens WHERE app_id = $1 AND jti = $2)
             AS "revoked!""#,
        app_id,
        jti,
    )
    .fetch_one(db)
    .await?)
}

/// Removes an application's expired revocations and assertion records.
pub async fn purge_expired(db: &sqlx::PgPool, app_id: &str) -> StoreResult<()> {
    super::replays::purge_expired(db, super::replays::ReplayLog::OAuthAssertions, app_id).await?;
    sqlx::query!(
        "DELETE FROM oauth_revoked_tokens WHERE app_id = $1 AND expires_at <= now()",
        app_id,
    )
    .execute(db)
    .await?;
    Ok(())
}

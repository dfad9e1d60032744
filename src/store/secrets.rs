use sqlx::PgExecutor;
use uuid::Uuid;

use super::StoreResult;
use crate::auth::sealing::Sealed;

/// Stores a new secret: its Argon2id hash and, for applications that keep them, its sealed
/// copy. Called only by the service's one function that mints secrets.
pub async fn insert(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
    phc: &str,
    sealed: Option<&Sealed>,
) -> StoreResult<()> {
    sqlx::query!(
        "INSERT INTO client_secrets
                (app_id, client_id, secret_id, phc, sealed, sealing_key_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp())",
        app_id,
        client_id,
        Uuid::now_v7(),
        phc,
        sealed.map(|s| s.blob.as_slice()),
        sealed.map(|s| s.key_id.as_str()),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Adds the sealed copy to a secret that has none yet (a secret minted before its application
/// opted in, proven just now with Basic or parameters). True when a row changed.
pub async fn seal_existing(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
    phc: &str,
    sealed: &Sealed,
) -> StoreResult<bool> {
    let done = sqlx::query!(
        "UPDATE client_secrets SET sealed = $4, sealing_key_id = $5
          WHERE app_id = $1 AND client_id = $2 AND phc = $3 AND sealed IS NULL",
        app_id,
        client_id,
        phc,
        &sealed.blob,
        &sealed.key_id,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Removes every sealed copy of an application's secrets (both opt-ins switched off).
pub async fn drop_sealed(db: impl PgExecutor<'_>, app_id: &str) -> StoreResult<u64> {
    let done = sqlx::query!(
        "UPDATE client_secrets SET sealed = NULL, sealing_key_id = NULL
          WHERE app_id = $1 AND sealed IS NOT NULL",
        app_id,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// A sealed secret as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SealedRow {
    pub app_id: String,
    pub client_id: String,
    pub secret_id: Uuid,
    pub sealed: Vec<u8>,
    pub sealing_key_id: String,
}

/// The newest live secret of each of these clients, when it is sealed (what `show_secrets`
/// shows). A client whose newest secret is not sealed has no row.
pub async fn newest_sealed(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_ids: &[String],
) -> StoreResult<Vec<SealedRow>> {
    Ok(sqlx::query_as!(
        SealedRow,
        r#"SELECT app_id AS "app_id!", client_id AS "client_id!", secret_id AS "secret_id!",
                  sealed AS "sealed!", sealing_key_id AS "sealing_key_id!" FROM (
             SELECT DISTINCT ON (client_id) app_id, client_id, secret_id, sealed, sealing_key_id
               FROM client_secrets
              WHERE app_id = $1 AND client_id = ANY($2)
                AND (expires_at IS NULL OR expires_at > now())
              ORDER BY client_id, created_at DESC) newest
          WHERE sealed IS NOT NULL"#,
        app_id,
        client_ids,
    )
    .fetch_all(db)
    .await?)
}

/// Sealed secrets of every application not sealed with `current_key_id`, a batch at a time
/// (`latchkey keys rotate`). The one maintenance query that spans tenants: re-sealing is a
/// server-wide operation, like the application directory itself.
pub async fn sealed_with_other_keys(
    db: impl PgExecutor<'_>,
    current_key_id: &str,
    after: Option<(&str, &str, Uuid)>,
    limit: i64,
) -> StoreResult<Vec<SealedRow>> {
    let (a, c, s) = match after {
        Some((a, c, s)) => (Some(a), Some(c), Some(s)),
        None => (None, None, None),
    };
    Ok(sqlx::query_as!(
        SealedRow,
        r#"SELECT app_id, client_id, secret_id, sealed AS "sealed!",
                  sealing_key_id AS "sealing_key_id!" FROM client_secrets
          WHERE sealed IS NOT NULL AND sealing_key_id <> $1
            AND ($2::text IS NULL OR (app_id, client_id, secret_id) > ($2, $3, $4))
          ORDER BY app_id, client_id, secret_id LIMIT $5"#,
        current_key_id,
        a,
        c,
        s,
        limit,
    )
    .fetch_all(db)
    .await?)
}

/// Replaces one sealed copy by a re-sealing of the same secret under another key.
pub async fn reseal(db: impl PgExecutor<'_>, row: &SealedRow, sealed: &Sealed) -> StoreResult<()> {
    sqlx::query!(
        "UPDATE client_secrets SET sealed = $4, sealing_key_id = $5
          WHERE app_id = $1 AND client_id = $2 AND secret_id = $3 AND sealing_key_id = $6",
        &row.app_id,
        &row.client_id,
        row.secret_id,
        &sealed.blob,
        &sealed.key_id,
        &row.sealing_key_id,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Starts the grace period of every secret that does not expire yet: they keep working for
/// `hours` more hours (0: they stop now). Secrets already on their way out keep the earlier
/// expiry. Secrets that expired are removed, so hashes do not pile up. Returns the hashes still
/// live (those of the grace period).
pub async fn expire_current(
    db: &mut sqlx::PgConnection,
    app_id: &str,
    client_id: &str,
    hours: i32,
) -> StoreResult<Vec<String>> {
    let rows = sqlx::query!(
        r#"UPDATE client_secrets
            SET expires_at = LEAST(COALESCE(expires_at, 'infinity'),
                                   now() + make_interval(hours => $3))
          WHERE app_id = $1 AND client_id = $2
          RETURNING phc, expires_at > now() AS "live!""#,
        app_id,
        client_id,
        hours,
    )
    .fetch_all(&mut *db)
    .await?;
    sqlx::query!(
        "DELETE FROM client_secrets
          WHERE app_id = $1 AND client_id = $2 AND expires_at <= now()",
        app_id,
        client_id,
    )
    .execute(db)
    .await?;
    Ok(rows.into_iter().filter(|r| r.live).map(|r| r.phc).collect())
}

/// Replaces a hash by a re-hash of the same secret (Argon2 parameters were raised), and
/// records when the secret was last proven with Argon2.
pub async fn replace_phc(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
    old_phc: &str,
    new_phc: &str,
) -> StoreResult<()> {
    sqlx::query!(
        "UPDATE client_secrets SET phc = $4, last_used_at = now()
          WHERE app_id = $1 AND client_id = $2 AND phc = $3",
        app_id,
        client_id,
        old_phc,
        new_phc,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Notes when a secret was last proven with Argon2 (a cache miss, not every request: that
/// would add a write to the hot path).
pub async fn touch(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
    phc: &str,
) -> StoreResult<()> {
    sqlx::query!(
        "UPDATE client_secrets SET last_used_at = now()
          WHERE app_id = $1 AND client_id = $2 AND phc = $3",
        app_id,
        client_id,
        phc,
    )
    .execute(db)
    .await?;
    Ok(())
}

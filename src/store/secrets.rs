use sqlx::PgExecutor;
use uuid::Uuid;

use super::StoreResult;

pub async fn insert(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
    phc: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO client_secrets (app_id, client_id, secret_id, phc, created_at)
         VALUES ($1, $2, $3, $4, clock_timestamp())",
    )
    .bind(app_id)
    .bind(client_id)
    .bind(Uuid::now_v7())
    .bind(phc)
    .execute(db)
    .await?;
    Ok(())
}

/// Starts the grace period of every secret that does not expire yet: they keep working for
/// `hours` more hours (0: they stop now). Secrets already on their way out keep the earlier
/// expiry. Secrets that expired are removed, so hashes do not pile up.
pub async fn expire_current(
    db: &mut sqlx::PgConnection,
    app_id: &str,
    client_id: &str,
    hours: i32,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE client_secrets
            SET expires_at = LEAST(COALESCE(expires_at, 'infinity'),
                                   now() + make_interval(hours => $3))
          WHERE app_id = $1 AND client_id = $2",
    )
    .bind(app_id)
    .bind(client_id)
    .bind(hours)
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "DELETE FROM client_secrets
          WHERE app_id = $1 AND client_id = $2 AND expires_at <= now()",
    )
    .bind(app_id)
    .bind(client_id)
    .execute(db)
    .await?;
    Ok(())
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
    sqlx::query(
        "UPDATE client_secrets SET phc = $4, last_used_at = now()
          WHERE app_id = $1 AND client_id = $2 AND phc = $3",
    )
    .bind(app_id)
    .bind(client_id)
    .bind(old_phc)
    .bind(new_phc)
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
    sqlx::query(
        "UPDATE client_secrets SET last_used_at = now()
          WHERE app_id = $1 AND client_id = $2 AND phc = $3",
    )
    .bind(app_id)
    .bind(client_id)
    .bind(phc)
    .execute(db)
    .await?;
    Ok(())
}

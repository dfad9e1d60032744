use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};

use super::StoreResult;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppRow {
    pub app_id: String,
    pub name: String,
    pub region: String,
    pub created_at: DateTime<Utc>,
    /// `janrain-signed` requests are checked for this application's clients.
    pub signed_requests: bool,
    /// Owners see the clients' secrets in reads (as the vendor shows them).
    pub show_secrets: bool,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    app_id: &str,
    name: &str,
    region: &str,
) -> StoreResult<AppRow> {
    Ok(sqlx::query_as!(
        AppRow,
        "INSERT INTO apps (app_id, name, region) VALUES ($1, $2, $3)
         RETURNING app_id, name, region, created_at, signed_requests, show_secrets",
        app_id,
        name,
        region,
    )
    .fetch_one(db)
    .await?)
}

pub async fn get(db: impl PgExecutor<'_>, app_id: &str) -> StoreResult<Option<AppRow>> {
    Ok(sqlx::query_as!(
        AppRow,
        "SELECT app_id, name, region, created_at, signed_requests, show_secrets
         FROM apps WHERE app_id = $1",
        app_id,
    )
    .fetch_optional(db)
    .await?)
}

/// All applications, oldest first. Operator-only listing: the one query that spans tenants by
/// design (the applications table is the tenant directory itself).
pub async fn list(db: &PgPool) -> StoreResult<Vec<AppRow>> {
    Ok(sqlx::query_as!(
        AppRow,
        "SELECT app_id, name, region, created_at, signed_requests, show_secrets
         FROM apps ORDER BY created_at, app_id"
    )
    .fetch_all(db)
    .await?)
}

/// Sets the signed-requests and show-secrets options; `None` keeps one as it is.
pub async fn set_options(
    db: impl PgExecutor<'_>,
    app_id: &str,
    signed_requests: Option<bool>,
    show_secrets: Option<bool>,
) -> StoreResult<Option<AppRow>> {
    Ok(sqlx::query_as!(
        AppRow,
        "UPDATE apps SET signed_requests = COALESCE($2, signed_requests),
                         show_secrets = COALESCE($3, show_secrets)
          WHERE app_id = $1
          RETURNING app_id, name, region, created_at, signed_requests, show_secrets",
        app_id,
        signed_requests,
        show_secrets,
    )
    .fetch_optional(db)
    .await?)
}

/// Whether the application's new secrets are to be sealed (either opt-in is on). Takes a
/// share lock on the application row, so switching the options off (which drops the sealed
/// copies) waits for a transaction that is minting a secret, and the reverse.
pub async fn sealing_policy(db: impl PgExecutor<'_>, app_id: &str) -> StoreResult<bool> {
    Ok(sqlx::query_scalar!(
        r#"SELECT signed_requests OR show_secrets AS "sealing!"
             FROM apps WHERE app_id = $1 FOR SHARE"#,
        app_id,
    )
    .fetch_optional(db)
    .await?
    .unwrap_or(false))
}

/// Whether any application keeps sealed secrets (a server without a sealing key must not
/// start then).
pub async fn any_sealing(db: &PgPool) -> StoreResult<bool> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM apps WHERE signed_requests OR show_secrets) AS "any!""#
    )
    .fetch_one(db)
    .await?)
}

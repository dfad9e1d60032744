use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};

use super::StoreResult;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppRow {
    pub app_id: String,
    pub name: String,
    pub region: String,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    app_id: &str,
    name: &str,
    region: &str,
) -> StoreResult<AppRow> {
    Ok(sqlx::query_as::<_, AppRow>(
        "INSERT INTO apps (app_id, name, region) VALUES ($1, $2, $3)
         RETURNING app_id, name, region, created_at",
    )
    .bind(app_id)
    .bind(name)
    .bind(region)
    .fetch_one(db)
    .await?)
}

pub async fn get(db: impl PgExecutor<'_>, app_id: &str) -> StoreResult<Option<AppRow>> {
    Ok(sqlx::query_as::<_, AppRow>(
        "SELECT app_id, name, region, created_at FROM apps WHERE app_id = $1",
    )
    .bind(app_id)
    .fetch_optional(db)
    .await?)
}

/// All applications, oldest first. Operator-only listing: the one query that spans tenants by
/// design (the applications table is the tenant directory itself).
pub async fn list(db: &PgPool) -> StoreResult<Vec<AppRow>> {
    Ok(sqlx::query_as::<_, AppRow>(
        "SELECT app_id, name, region, created_at FROM apps ORDER BY created_at, app_id",
    )
    .fetch_all(db)
    .await?)
}

//! Entity types: one row per (application, type name); the attribute tree as JSON.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;

use super::StoreResult;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EntityTypeRow {
    pub app_id: String,
    pub name: String,
    pub attr_defs: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Inserts a type; a taken name is `Duplicate(Constraint::EntityTypeName)`.
pub async fn insert(
    db: impl PgExecutor<'_>,
    app_id: &str,
    name: &str,
    attr_defs: &Value,
) -> StoreResult<EntityTypeRow> {
    Ok(sqlx::query_as!(
        EntityTypeRow,
        "INSERT INTO entity_types (app_id, name, attr_defs) VALUES ($1, $2, $3)
         RETURNING app_id, name, attr_defs, created_at, updated_at",
        app_id,
        name,
        attr_defs,
    )
    .fetch_one(db)
    .await?)
}

// `get`, `lock` and `share` differ only in the row lock. They stay three written-out queries:
// a checked query's text must stand verbatim in the source (the .sqlx staleness test looks for
// it), so SQL is not assembled from pieces here.
pub async fn get(
    db: impl PgExecutor<'_>,
    app_id: &str,
    name: &str,
) -> StoreResult<Option<EntityTypeRow>> {
    Ok(sqlx::query_as!(
        EntityTypeRow,
        "SELECT app_id, name, attr_defs, created_at, updated_at FROM entity_types WHERE app_id = $1 AND name = $2",
        app_id,
        name,
    )
    .fetch_optional(db)
    .await?)
}

/// Reads and locks a type for a change of the type itself (blocks schema writes that hold
/// [`share`] on it until the transaction ends).
pub async fn lock(
    db: impl PgExecutor<'_>,
    app_id: &str,
    name: &str,
) -> StoreResult<Option<EntityTypeRow>> {
    Ok(sqlx::query_as!(
        EntityTypeRow,
        "SELECT app_id, name, attr_defs, created_at, updated_at FROM entity_types WHERE app_id = $1 AND name = $2 FOR UPDATE",
        app_id,
        name,
    )
    .fetch_optional(db)
    .await?)
}

/// Reads a type and keeps it from changing until the transaction ends: an access schema is
/// checked against the type it is written for.
pub async fn share(
    db: impl PgExecutor<'_>,
    app_id: &str,
    name: &str,
) -> StoreResult<Option<EntityTypeRow>> {
    Ok(sqlx::query_as!(
        EntityTypeRow,
        "SELECT app_id, name, attr_defs, created_at, updated_at FROM entity_types WHERE app_id = $1 AND name = $2 FOR SHARE",
        app_id,
        name,
    )
    .fetch_optional(db)
    .await?)
}

/// The types of an application, by name.
pub async fn list(db: impl PgExecutor<'_>, app_id: &str) -> StoreResult<Vec<EntityTypeRow>> {
    Ok(sqlx::query_as!(
        EntityTypeRow,
        "SELECT app_id, name, attr_defs, created_at, updated_at FROM entity_types WHERE app_id = $1 ORDER BY name",
        app_id,
    )
    .fetch_all(db)
    .await?)
}

pub async fn update(
    db: impl PgExecutor<'_>,
    app_id: &str,
    name: &str,
    attr_defs: &Value,
) -> StoreResult<EntityTypeRow> {
    Ok(sqlx::query_as!(
        EntityTypeRow,
        "UPDATE entity_types SET attr_defs = $3, updated_at = now()
         WHERE app_id = $1 AND name = $2 RETURNING app_id, name, attr_defs, created_at, updated_at",
        app_id,
        name,
        attr_defs,
    )
    .fetch_one(db)
    .await?)
}

pub async fn delete(db: impl PgExecutor<'_>, app_id: &str, name: &str) -> StoreResult<()> {
    sqlx::query!(
        "DELETE FROM entity_types WHERE app_id = $1 AND name = $2",
        app_id,
        name,
    )
    .execute(db)
    .await?;
    Ok(())
}

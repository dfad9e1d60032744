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

/// A checked query of [`EntityTypeRow`]s: the row's columns are written once, here, and
/// the literals after it are the SQL after `FROM entity_types`.
macro_rules! select_types {
    ($first:literal $(+ $rest:literal)*, $($arg:expr),+ $(,)?) => {
        sqlx::query_as!(
            EntityTypeRow,
            "SELECT app_id, name, attr_defs, created_at, updated_at FROM entity_types" + $first $(+ $rest)*,
            $($arg),+
        )
    };
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

/// The three reads of one type by name, which differ only in the row lock they take.
macro_rules! read_type_by_name {
    ($($(#[doc = $doc:literal])* $fn_name:ident => $lock:literal;)+) => {
        $(
            $(#[doc = $doc])*
            pub async fn $fn_name(
                db: impl PgExecutor<'_>,
                app_id: &str,
                name: &str,
            ) -> StoreResult<Option<EntityTypeRow>> {
                Ok(
                    select_types!(" WHERE app_id = $1 AND name = $2" + $lock, app_id, name)
                        .fetch_optional(db)
                        .await?,
                )
            }
        )+
    };
}

read_type_by_name! {
    /// Reads a type without locking it.
    get => "";
    /// Reads and locks a type for a change of the type itself (blocks schema writes that hold
    /// [`share`] on it until the transaction ends).
    lock => " FOR UPDATE";
    /// Reads a type and keeps it from changing until the transaction ends: an access schema is
    /// checked against the type it is written for.
    share => " FOR SHARE";
}

/// The types of an application, by name.
pub async fn list(db: impl PgExecutor<'_>, app_id: &str) -> StoreResult<Vec<EntityTypeRow>> {
    Ok(select_types!(" WHERE app_id = $1 ORDER BY name", app_id)
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

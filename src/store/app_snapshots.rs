//! Snapshots: an application's whole state as JSON of whole rows, saved under a name and put
//! back in one statement per table.
//!
//! Rows are read with `to_jsonb(row)` and written back with
//! `jsonb_populate_recordset(NULL::<table>, …)`, never naming a column, so columns that other
//! migrations add to these tables travel with the rows. (A column added after a snapshot was
//! saved is NULL in the restored rows; its migration's default does not apply.)

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};

use super::StoreResult;

/// The application's tables, parents first (the order rows are restored in), each with the order
/// its rows are listed in.
const TABLES: [(&str, &str); 6] = [
    ("entity_types", "name"),
    ("clients", "created_at, client_id"),
    ("client_secrets", "client_id, created_at, secret_id"),
    ("client_settings", "client_id, key"),
    ("app_settings", "key"),
    ("access_schemas", "client_id, type_name, access_type"),
];

/// `{"<table>": [row, …], …}` of one application, as a SQL expression of `$1` (the app id).
fn state_expression() -> String {
    let parts: Vec<String> = TABLES
        .iter()
        .map(|(table, order)| {
            format!(
                "'{table}', COALESCE((SELECT jsonb_agg(to_jsonb(t) ORDER BY {order})
                                      FROM {table} t WHERE t.app_id = $1), '[]'::jsonb)"
            )
        })
        .collect();
    format!("jsonb_build_object({})", parts.join(", "))
}

/// The application's current state, in the form snapshots hold.
pub async fn capture(db: impl PgExecutor<'_>, app_id: &str) -> StoreResult<Value> {
    // Built at run time from TABLES (format!), so not checked at compile time.
    Ok(
        sqlx::query_scalar::<_, Value>(&format!("SELECT {}", state_expression()))
            .bind(app_id)
            .fetch_one(db)
            .await?,
    )
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SnapshotRow {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub clients: i64,
}

/// Saves the current state under `name`, replacing a snapshot of that name. True when one was
/// replaced.
pub async fn save(
    db: impl PgExecutor<'_>,
    app_id: &str,
    name: &str,
) -> StoreResult<(SnapshotRow, bool)> {
    // Built at run time from TABLES (format!), so not checked at compile time.
    let (created_at, clients, replaced): (DateTime<Utc>, i64, bool) = sqlx::query_as(&format!(
        "INSERT INTO app_snapshots (app_id, name, state) VALUES ($1, $2, {})
         ON CONFLICT ON CONSTRAINT app_snapshots_pkey
         DO UPDATE SET state = EXCLUDED.state, created_at = now()
         RETURNING created_at, jsonb_array_length(state->'clients')::bigint, (xmax <> 0)",
        state_expression()
    ))
    .bind(app_id)
    .bind(name)
    .fetch_one(db)
    .await?;
    Ok((
        SnapshotRow {
            name: name.to_owned(),
            created_at,
            clients,
        },
        replaced,
    ))
}

pub async fn list(db: impl PgExecutor<'_>, app_id: &str) -> StoreResult<Vec<SnapshotRow>> {
    Ok(sqlx::query_as!(
        SnapshotRow,
        r#"SELECT name, created_at, jsonb_array_length(state->'clients')::bigint AS "clients!"
         FROM app_snapshots WHERE app_id = $1 ORDER BY name"#,
        app_id,
    )
    .fetch_all(db)
    .await?)
}

/// The state a snapshot holds (`None`: no such snapshot).
pub async fn load(db: impl PgExecutor<'_>, app_id: &str, name: &str) -> StoreResult<Option<Value>> {
    Ok(sqlx::query_scalar!(
        "SELECT state FROM app_snapshots WHERE app_id = $1 AND name = $2",
        app_id,
        name,
    )
    .fetch_optional(db)
    .await?)
}

/// Deletes a snapshot; false when there was none.
pub async fn delete(db: impl PgExecutor<'_>, app_id: &str, name: &str) -> StoreResult<bool> {
    Ok(sqlx::query!(
        "DELETE FROM app_snapshots WHERE app_id = $1 AND name = $2",
        app_id,
        name,
    )
    .execute(db)
    .await?
    .rows_affected()
        > 0)
}

/// Replaces every row of the application's tables by those of `state`. `current`: the state
/// being replaced (from [`capture`]); a client whose row changed since the snapshot was saved
/// comes back with a version above the one it has now, so an ETag never returns with other
/// content.
pub async fn restore(
    conn: &mut PgConnection,
    app_id: &str,
    state: &Value,
    current: &Value,
) -> StoreResult<()> {
    let state = with_fresh_versions(state, current);
    // Children first: the clients' cascades then find nothing left to do.
    // One statement per table, its name put in with format!: not checked at compile time.
    for table in [
        "access_schemas",
        "client_settings",
        "client_secrets",
        "clients",
        "app_settings",
        "entity_types",
    ] {
        sqlx::query(&format!("DELETE FROM {table} WHERE app_id = $1"))
            .bind(app_id)
            .execute(&mut *conn)
            .await?;
    }
    for (table, _) in TABLES {
        sqlx::query(&insert_statement(table))
            .bind(app_id)
            .bind(&state)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The settings tables' `value` is a `jsonb NOT NULL` column whose value may be JSON `null`
/// (a setting set to null), which `jsonb_populate_recordset` turns into SQL NULL: their rows
/// take `value` from the row object itself (`->` keeps a JSON null as jsonb), so these two
/// statements name their columns (a column added to these tables must be added here).
const SETTINGS_COLUMNS: [(&str, &str); 2] = [
    ("app_settings", "r.app_id, r.key, e->'value', r.updated_at"),
    (
        "client_settings",
        "r.app_id, r.client_id, r.key, e->'value', r.updated_at",
    ),
];

/// The statement that puts back `table`'s rows from `$2` (the saved state) for app `$1`.
fn insert_statement(table: &str) -> String {
    match SETTINGS_COLUMNS.iter().find(|(t, _)| *t == table) {
        Some((_, columns)) => format!(
            "INSERT INTO {table}
             SELECT {columns}
             FROM jsonb_array_elements(COALESCE($2->'{table}', '[]')) e,
                  jsonb_populate_record(NULL::{table}, e) r
             WHERE r.app_id = $1"
        ),
        None => format!(
            "INSERT INTO {table}
             SELECT * FROM jsonb_populate_recordset(NULL::{table}, COALESCE($2->'{table}', '[]'))
             WHERE app_id = $1"
        ),
    }
}

/// `state` with each client's `version` raised above its current one where that is not
/// already lower (the client changed after the save).
fn with_fresh_versions(state: &Value, current: &Value) -> Value {
    let now: HashMap<&str, i64> = current["clients"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c["client_id"].as_str()?, c["version"].as_i64()?)))
        .collect();
    let mut state = state.clone();
    if let Some(clients) = state.get_mut("clients").and_then(Value::as_array_mut) {
        for c in clients {
            let id = c["client_id"].as_str().unwrap_or_default();
            if let (Some(&current), Some(saved)) = (now.get(id), c["version"].as_i64()) {
                if current > saved {
                    c["version"] = Value::from(current + 1);
                }
            }
        }
    }
    state
}

/// Locks the application row until the transaction ends: whole-application writes (apply,
/// restore) take turns, and no client can be added meanwhile. False when there is no such
/// application.
pub async fn lock_app(db: impl PgExecutor<'_>, app_id: &str) -> StoreResult<bool> {
    Ok(sqlx::query_scalar!(
        r#"SELECT 1 AS "one!" FROM apps WHERE app_id = $1 FOR UPDATE"#,
        app_id
    )
    .fetch_optional(db)
    .await?
    .is_some())
}

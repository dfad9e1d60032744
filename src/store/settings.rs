//! Settings rows: application defaults (`app_settings`) and client values (`client_settings`).

use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};

use super::StoreResult;

/// Which set of settings a query is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// The application's defaults.
    Defaults,
    /// One client's own values.
    Client(&'a str),
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SettingRow {
    pub key: String,
    pub value: Value,
}

/// A value together with the scope it was found in (see [`lookup`]).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ScopedRow {
    /// True for the client's own value, false for the application default.
    pub from_client: bool,
    pub key: String,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ClientSettingRow {
    pub client_id: String,
    pub key: String,
    pub value: Value,
}

/// Row-locks what owns the settings (the application row for defaults, the client row for a
/// client's values) until the transaction ends, so that writes to one set of settings are
/// serialised and each can tell exactly what was there before it. `NO KEY UPDATE` does not
/// block foreign-key checks, so clients and secrets can still be written meanwhile. False when
/// the owner does not exist.
pub async fn lock_scope(
    conn: &mut PgConnection,
    app_id: &str,
    scope: Scope<'_>,
) -> StoreResult<bool> {
    match scope {
        Scope::Defaults => Ok(sqlx::query_scalar!(
            r#"SELECT 1 AS "one!" FROM apps WHERE app_id = $1 FOR NO KEY UPDATE"#,
            app_id,
        )
        .fetch_optional(conn)
        .await?
        .is_some()),
        Scope::Client(client_id) => super::clients::lock_as_owner(conn, app_id, client_id).await,
    }
}

// Each function below has one arm per scope: the same operation on `app_settings` (keyed by
// application) and `client_settings` (keyed by application and client), checked separately.

/// The values of one scope, by key; with `keys`, only those keys.
pub async fn list(
    db: impl PgExecutor<'_>,
    app_id: &str,
    scope: Scope<'_>,
    keys: Option<&[String]>,
) -> StoreResult<Vec<SettingRow>> {
    let rows = match scope {
        Scope::Defaults => {
            sqlx::query_as!(
                SettingRow,
                "SELECT key, value FROM app_settings
                 WHERE app_id = $1 AND ($2::text[] IS NULL OR key = ANY($2))
                 ORDER BY key",
                app_id,
                keys,
            )
            .fetch_all(db)
            .await?
        }
        Scope::Client(client_id) => {
            sqlx::query_as!(
                SettingRow,
                "SELECT key, value FROM client_settings
                 WHERE app_id = $1 AND client_id = $2 AND ($3::text[] IS NULL OR key = ANY($3))
                 ORDER BY key",
                app_id,
                client_id,
                keys,
            )
            .fetch_all(db)
            .await?
        }
    };
    Ok(rows)
}

/// A client's values and the application defaults in one statement (one snapshot), each row
/// tagged with its scope; the caller decides which wins. With `keys`, only those keys.
pub async fn lookup(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
    keys: Option<&[String]>,
) -> StoreResult<Vec<ScopedRow>> {
    Ok(sqlx::query_as!(
        ScopedRow,
        r#"SELECT true AS "from_client!", key AS "key!", value AS "value!" FROM client_settings
          WHERE app_id = $1 AND client_id = $2 AND ($3::text[] IS NULL OR key = ANY($3))
         UNION ALL
         SELECT false AS from_client, key, value FROM app_settings
          WHERE app_id = $1 AND ($3::text[] IS NULL OR key = ANY($3))
         ORDER BY 2, 1"#,
        app_id,
        client_id,
        keys,
    )
    .fetch_all(db)
    .await?)
}

/// Every client value of an application, by client then key.
pub async fn list_all_clients(
    db: impl PgExecutor<'_>,
    app_id: &str,
) -> StoreResult<Vec<ClientSettingRow>> {
    Ok(sqlx::query_as!(
        ClientSettingRow,
        "SELECT client_id, key, value FROM client_settings
          WHERE app_id = $1 ORDER BY client_id, key",
        app_id,
    )
    .fetch_all(db)
    .await?)
}

pub async fn upsert(
    db: impl PgExecutor<'_>,
    app_id: &str,
    scope: Scope<'_>,
    key: &str,
    value: &Value,
) -> StoreResult<()> {
    match scope {
        Scope::Defaults => {
            sqlx::query!(
                "INSERT INTO app_settings (app_id, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT (app_id, key)
                 DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
                app_id,
                key,
                value,
            )
            .execute(db)
            .await?
        }
        Scope::Client(client_id) => {
            sqlx::query!(
            "INSERT INTO client_settings (app_id, client_id, key, value) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (app_id, client_id, key)
                 DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
            app_id,
            client_id,
            key,
            value,
        )
            .execute(db)
            .await?
        }
    };
    Ok(())
}

/// Deletes `keys` from a scope and returns the rows that were there.
pub async fn delete(
    db: impl PgExecutor<'_>,
    app_id: &str,
    scope: Scope<'_>,
    keys: &[String],
) -> StoreResult<Vec<SettingRow>> {
    let rows = match scope {
        Scope::Defaults => {
            sqlx::query_as!(
                SettingRow,
                "DELETE FROM app_settings WHERE app_id = $1 AND key = ANY($2)
                 RETURNING key, value",
                app_id,
                keys,
            )
            .fetch_all(db)
            .await?
        }
        Scope::Client(client_id) => {
            sqlx::query_as!(
                SettingRow,
                "DELETE FROM client_settings WHERE app_id = $1 AND client_id = $2 AND key = ANY($3)
                 RETURNING key, value",
                app_id,
                client_id,
                keys,
            )
            .fetch_all(db)
            .await?
        }
    };
    Ok(rows)
}

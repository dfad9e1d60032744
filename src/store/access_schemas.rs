//! Access schemas: at most one attribute list per (client, entity type, access type).

use ipnet::IpNet;
use serde_json::Value;
use sqlx::PgExecutor;

use super::StoreResult;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessSchemaRow {
    pub client_id: String,
    pub access_type: String,
    pub attributes: Vec<String>,
}

pub async fn get(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
    type_name: &str,
    access_type: &str,
) -> StoreResult<Option<Vec<String>>> {
    Ok(sqlx::query_scalar!(
        "SELECT attributes FROM access_schemas
         WHERE app_id = $1 AND client_id = $2 AND type_name = $3 AND access_type = $4",
        app_id,
        client_id,
        type_name,
        access_type,
    )
    .fetch_optional(db)
    .await?)
}

/// Sets (replaces) a schema; returns the list it replaced, if any.
pub async fn upsert(
    db: &mut sqlx::PgConnection,
    app_id: &str,
    client_id: &str,
    type_name: &str,
    access_type: &str,
    attributes: &[String],
) -> StoreResult<Option<Vec<String>>> {
    let before = get(&mut *db, app_id, client_id, type_name, access_type).await?;
    sqlx::query!(
        "INSERT INTO access_schemas (app_id, client_id, type_name, access_type, attributes)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT ON CONSTRAINT access_schemas_pkey
         DO UPDATE SET attributes = EXCLUDED.attributes, updated_at = now()",
        app_id,
        client_id,
        type_name,
        access_type,
        attributes,
    )
    .execute(db)
    .await?;
    Ok(before)
}

/// Removes a schema; returns the list it held (`None`: there was none).
pub async fn delete(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
    type_name: &str,
    access_type: &str,
) -> StoreResult<Option<Vec<String>>> {
    Ok(sqlx::query_scalar!(
        "DELETE FROM access_schemas
         WHERE app_id = $1 AND client_id = $2 AND type_name = $3 AND access_type = $4
         RETURNING attributes",
        app_id,
        client_id,
        type_name,
        access_type,
    )
    .fetch_optional(db)
    .await?)
}

/// Every schema written for a type, by client: what a change of the type must keep valid.
pub async fn list_for_type(
    db: impl PgExecutor<'_>,
    app_id: &str,
    type_name: &str,
) -> StoreResult<Vec<AccessSchemaRow>> {
    Ok(sqlx::query_as!(
        AccessSchemaRow,
        "SELECT client_id, access_type, attributes FROM access_schemas
         WHERE app_id = $1 AND type_name = $2 ORDER BY client_id, access_type",
        app_id,
        type_name,
    )
    .fetch_all(db)
    .await?)
}

/// Whether the client exists, its row locked for the schema write (see the function).
pub use super::clients::lock_as_owner as lock_client;

/// Everything one access decision needs, in one round trip: the client (features, allow list,
/// live secret hashes), the entity type and the client's schema for it. `None`: no such client.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DecisionInputs {
    pub features: Vec<String>,
    pub ip_whitelist: Vec<IpNet>,
    pub phcs: Vec<String>,
    /// `None`: the application has no such entity type.
    pub attr_defs: Option<Value>,
    /// `None`: no schema restricts this client for this type and access type.
    pub attributes: Option<Vec<String>>,
    /// The application's revision these inputs were read at.
    pub revision: i64,
}

pub async fn decision_inputs(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
    type_name: &str,
    access_type: &str,
) -> StoreResult<Option<DecisionInputs>> {
    Ok(sqlx::query_as!(
        DecisionInputs,
        r#"SELECT c.features, c.ip_whitelist,
                COALESCE(ARRAY(SELECT s.phc FROM client_secrets s
                               WHERE s.app_id = c.app_id AND s.client_id = c.client_id
                                 AND (s.expires_at IS NULL OR s.expires_at > now())
                               ORDER BY s.created_at DESC), '{}') AS "phcs!",
                (SELECT t.attr_defs FROM entity_types t
                  WHERE t.app_id = c.app_id AND t.name = $3) AS attr_defs,
                (SELECT a.attributes FROM access_schemas a
                  WHERE a.app_id = c.app_id AND a.client_id = c.client_id
                    AND a.type_name = $3 AND a.access_type = $4) AS attributes,
                (SELECT h.seq FROM audit_heads h WHERE h.app_id = c.app_id) AS "revision!"
         FROM clients c WHERE c.app_id = $1 AND c.client_id = $2"#,
        app_id,
        client_id,
        type_name,
        access_type,
    )
    .fetch_optional(db)
    .await?)
}

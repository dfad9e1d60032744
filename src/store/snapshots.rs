//! What the per-instance snapshots (`crate::cache`) load: one entry per statement, each read
//! together with the application's revision (the `seq` of its audit chain head) in the same
//! statement, so the entry is exactly the state at that revision.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde_json::Value;
use sqlx::PgExecutor;

use super::clients::{ClientRow, ListedClient};
use super::StoreResult;
use crate::domain::entity_type::{stored_schema, AttributePath};

/// `expires_micros` of a secret that never expires.
pub const NEVER: i64 = i64::MAX;

/// A client, its secrets that were live when read, and all its access schemas.
#[derive(Debug, Clone)]
pub struct ClientEntry {
    pub client: ClientRow,
    /// The secrets' verifiers, newest first, and beside them (same index) each one's expiry in
    /// Unix microseconds (`i64::MAX`: never). Two lists rather than pairs so that, while none has
    /// expired (nearly always), authentication borrows `phcs` as it is.
    pub phcs: Vec<String>,
    pub expires: Vec<i64>,
    /// Its access schemas, their attribute paths parsed once here (every access decision
    /// served from the snapshot reads one; parsing it per decision was a tenth of (e)'s
    /// instructions).
    pub schemas: Vec<StoredSchema>,
    /// The application keeps sealed copies of its secrets (signed requests or show_secrets).
    pub sealing: bool,
    /// Those of `secrets` that have no sealed copy yet (sealed on their next use).
    pub unsealed_phcs: Vec<String>,
}

/// One access schema of a client in a snapshot entry.
#[derive(Debug, Clone)]
pub struct StoredSchema {
    pub type_name: String,
    pub access_type: String,
    /// The stored attributes, parsed ([`stored_schema`]: an unparseable one is left out, as
    /// when the schema is read from the database).
    pub paths: Arc<[AttributePath]>,
    /// The length of the stored text, for the snapshot's memory budget.
    pub stored_len: usize,
}

impl StoredSchema {
    /// From the entry query's `[type_name, access_type, [attributes]]` rows.
    fn rows(schemas: Option<Value>) -> Vec<StoredSchema> {
        let Some(Value::Array(rows)) = schemas else {
            return Vec::new();
        };
        rows.iter()
            .filter_map(|row| {
                let [type_name, access_type, attributes] = row.as_array()?.as_slice() else {
                    return None;
                };
                let attributes: Vec<String> = attributes
                    .as_array()?
                    .iter()
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .collect();
                let type_name = type_name.as_str()?.to_owned();
                let access_type = access_type.as_str()?.to_owned();
                Some(StoredSchema {
                    stored_len: type_name.len()
                        + access_type.len()
                        + attributes.iter().map(|a| a.len() + 4).sum::<usize>(),
                    paths: stored_schema(&attributes).into(),
                    type_name,
                    access_type,
                })
            })
            .collect()
    }
}

#[derive(sqlx::FromRow)]
struct ClientEntryRow {
    revision: i64,
    app_id: Option<String>,
    client_id: Option<String>,
    name: Option<String>,
    features: Option<Vec<String>>,
    ip_whitelist: Option<Vec<IpNet>>,
    version: Option<i64>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
    phcs: Option<Vec<String>>,
    expires: Option<Vec<i64>>,
    schemas: Option<Value>,
    sealing: Option<bool>,
    unsealed_phcs: Option<Vec<String>>,
}

/// `None`: no such application. Otherwise its revision and the client (`None`: no such client).
pub async fn client(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
) -> StoreResult<Option<(i64, Option<ClientEntry>)>> {
    // The client's columns come from the outer join: `?` (absent when there is no client).
    let row = sqlx::query_as!(
        ClientEntryRow,
        r#"SELECT h.seq AS revision, c.app_id AS "app_id?", c.client_id AS "client_id?",
                c.name AS "name?", c.features AS "features?", c.ip_whitelist AS "ip_whitelist?",
                c.version AS "version?", c.created_at AS "created_at?",
                c.updated_at AS "updated_at?",
                ARRAY(SELECT s.phc FROM client_secrets s
                       WHERE s.app_id = c.app_id AND s.client_id = c.client_id
                         AND (s.expires_at IS NULL OR s.expires_at > now())
                       ORDER BY s.created_at DESC, s.phc) AS phcs,
                ARRAY(SELECT COALESCE(floor(extract(epoch FROM s.expires_at) * 1000000)::bigint,
                                      9223372036854775807)
                        FROM client_secrets s
                       WHERE s.app_id = c.app_id AND s.client_id = c.client_id
                         AND (s.expires_at IS NULL OR s.expires_at > now())
                       ORDER BY s.created_at DESC, s.phc) AS expires,
                (SELECT jsonb_agg(jsonb_build_array(a.type_name, a.access_type,
                                                    to_jsonb(a.attributes)))
                   FROM access_schemas a
                  WHERE a.app_id = c.app_id AND a.client_id = c.client_id) AS schemas,
                (SELECT p.signed_requests OR p.show_secrets FROM apps p
                  WHERE p.app_id = h.app_id) AS sealing,
                ARRAY(SELECT s.phc FROM client_secrets s
                       WHERE s.app_id = c.app_id AND s.client_id = c.client_id
                         AND (s.expires_at IS NULL OR s.expires_at > now())
                         AND s.sealed IS NULL) AS unsealed_phcs
         FROM audit_heads h
         LEFT JOIN clients c ON c.app_id = h.app_id AND c.client_id = $2
         WHERE h.app_id = $1"#,
        app_id,
        client_id,
    )
    .fetch_optional(db)
    .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    let client = match (
        r.app_id,
        r.client_id,
        r.name,
        r.features,
        r.ip_whitelist,
        r.version,
        r.created_at,
        r.updated_at,
    ) {
        (
            Some(app_id),
            Some(client_id),
            Some(name),
            Some(features),
            Some(ip_whitelist),
            Some(version),
            Some(created_at),
            Some(updated_at),
        ) => Some(ClientEntry {
            client: ClientRow {
                app_id,
                client_id,
                name,
                features,
                ip_whitelist,
                version,
                created_at,
                updated_at,
            },
            phcs: r.phcs.unwrap_or_default(),
            expires: r.expires.unwrap_or_default(),
            schemas: StoredSchema::rows(r.schemas),
            sealing: r.sealing.unwrap_or(false),
            unsealed_phcs: r.unsealed_phcs.unwrap_or_default(),
        }),
        _ => None,
    };
    Ok(Some((r.revision, client)))
}

#[derive(sqlx::FromRow)]
struct ListingRow {
    revision: i64,
    client_id: Option<String>,
    name: Option<String>,
    features: Option<Vec<String>>,
    ip_whitelist: Option<Vec<IpNet>>,
    version: Option<i64>,
}

/// `None`: no such application. Otherwise its revision and all its clients, oldest first (as
/// `store::clients::listing` without a filter).
pub async fn listing(
    db: impl PgExecutor<'_>,
    app_id: &str,
) -> StoreResult<Option<(i64, Vec<ListedClient>)>> {
    // Every row carries the head's revision; an application without clients is one row of
    // NULLs from the outer join.
    let rows = sqlx::query_as!(
        ListingRow,
        r#"SELECT h.seq AS revision, c.client_id AS "client_id?", c.name AS "name?",
                c.features AS "features?", c.ip_whitelist AS "ip_whitelist?",
                c.version AS "version?"
         FROM audit_heads h
         LEFT JOIN clients c ON c.app_id = h.app_id
         WHERE h.app_id = $1
         ORDER BY c.created_at, c.client_id"#,
        app_id,
    )
    .fetch_all(db)
    .await?;
    let Some(revision) = rows.first().map(|r| r.revision) else {
        return Ok(None);
    };
    let clients = rows
        .into_iter()
        .filter_map(|r| {
            Some(ListedClient {
                client_id: r.client_id?,
                name: r.name?,
                features: r.features?,
                ip_whitelist: r.ip_whitelist?,
                version: r.version?,
            })
        })
        .collect();
    Ok(Some((revision, clients)))
}

/// `None`: no such application. Otherwise its revision and the type's `attr_defs` (`None`: no
/// such type).
pub async fn entity_type(
    db: impl PgExecutor<'_>,
    app_id: &str,
    type_name: &str,
) -> StoreResult<Option<(i64, Option<Value>)>> {
    Ok(sqlx::query!(
        r#"SELECT h.seq, t.attr_defs AS "attr_defs?" FROM audit_heads h
         LEFT JOIN entity_types t ON t.app_id = h.app_id AND t.name = $2
         WHERE h.app_id = $1"#,
        app_id,
        type_name,
    )
    .fetch_optional(db)
    .await?
    .map(|r| (r.seq, r.attr_defs)))
}

/// The application's revision (`None`: no such application).
pub async fn revision(db: impl PgExecutor<'_>, app_id: &str) -> StoreResult<Option<i64>> {
    Ok(
        sqlx::query_scalar!("SELECT seq FROM audit_heads WHERE app_id = $1", app_id)
            .fetch_optional(db)
            .await?,
    )
}

/// The revision (audit chain head) of each of `app_ids` that exists.
pub async fn heads(db: impl PgExecutor<'_>, app_ids: &[String]) -> StoreResult<Vec<(String, i64)>> {
    let rows = sqlx::query!(
        "SELECT app_id, seq FROM audit_heads WHERE app_id = ANY($1)",
        app_ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.app_id, r.seq)).collect())
}

/// How full PostgreSQL's notification queue is (0 to 1): when it fills, committing
/// transactions that notify fail, so every write would (docs/high-availability.md).
pub async fn notification_queue_usage(db: impl PgExecutor<'_>) -> StoreResult<f64> {
    let usage = sqlx::query_scalar!(r#"SELECT pg_notification_queue_usage() AS "usage!""#)
        .fetch_one(db)
        .await?;
    Ok(usage)
}

/// Sends `payload` on `channel` (a notification of its own, outside any write).
pub async fn notify(db: impl PgExecutor<'_>, channel: &str, payload: &str) -> StoreResult<()> {
    sqlx::query!("SELECT pg_notify($1, $2)", channel, payload)
        .execute(db)
        .await?;
    Ok(())
}

/// The primary's WAL write position, in bytes.
pub async fn wal_position(db: impl PgExecutor<'_>) -> StoreResult<i64> {
    let lsn = sqlx::query_scalar!(
        r#"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::int8 AS "lsn!""#
    )
    .fetch_one(db)
    .await?;
    Ok(lsn)
}

/// A read server's replay position in bytes; `None` when it is not a standby.
pub async fn replay_position(db: impl PgExecutor<'_>) -> StoreResult<Option<i64>> {
    let lsn = sqlx::query_scalar!(
        r#"SELECT CASE WHEN pg_is_in_recovery()
                       THEN COALESCE(pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::int8, 0)
                  END AS "lsn""#
    )
    .fetch_one(db)
    .await?;
    Ok(lsn)
}

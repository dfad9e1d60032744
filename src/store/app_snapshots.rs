//! Snapshots: an application's whole state as typed rows ([`AppRows`], one list per table of
//! [`TABLES`]), saved under a name as a versioned JSON document and put back in one statement
//! per table.
//!
//! The saved document is `{"format": 1, "<table>": [row, …], …}`, each row an object keyed by
//! column name (what the row struct's serde gives). Snapshots saved before the number existed
//! have no `format`: they hold `to_jsonb(row)` of whole rows, the same objects plus `app_id`
//! (ignored: a snapshot is always restored into its own application), so they read as format 1.
//!
//! Every statement names its columns, so a snapshot saved before a later migration still
//! restores: a column added since takes its default (the row struct's `#[serde(default)]` when
//! read, the migration's `DEFAULT` when written back). A change that a default cannot express
//! (a renamed or retyped column) raises [`FORMAT`] and converts the older formats in
//! [`decode`]. `tests/api/app_snapshot_fixture.rs` restores committed snapshots of each format
//! and checks that [`TABLES`] matches the schema; CONTRIBUTING.md says how to add a table.

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{StoreError, StoreResult};

/// The format [`save`] writes. Raise it when a row's meaning changes in a way a default
/// cannot express, and convert the older formats in [`decode`].
pub const FORMAT: i64 = 1;

/// The application's tables a snapshot holds, parents first (the order rows are restored in;
/// deleted in the reverse order), each with the columns its row struct holds (besides
/// `app_id`, which every table has). The one list: a test compares it with the schema.
pub const TABLES: [(&str, &[&str]); 6] = [
    ("entity_types", EntityTypeRow::COLUMNS),
    ("clients", ClientRow::COLUMNS),
    ("client_secrets", SecretRow::COLUMNS),
    ("client_settings", ClientSettingRow::COLUMNS),
    ("app_settings", AppSettingRow::COLUMNS),
    ("access_schemas", AccessSchemaRow::COLUMNS),
];

/// A snapshot's row struct and its `COLUMNS` (the field names, in order): one list of fields.
macro_rules! snapshot_row {
    ($(#[$meta:meta])* $name:ident { $($(#[$field_meta:meta])* $field:ident: $ty:ty,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $ty,)+
        }

        impl $name {
            const COLUMNS: &[&str] = &[$(stringify!($field)),+];
        }
    };
}

snapshot_row! {
    EntityTypeRow {
        name: String,
        attr_defs: Value,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    }
}

snapshot_row! {
    ClientRow {
        client_id: String,
        name: String,
        features: Vec<String>,
        ip_whitelist: Vec<IpNet>,
        version: i64,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    }
}

snapshot_row! {
    /// A secret: its hash, its expiry and (signed requests, show_secrets) its sealed copy.
    SecretRow {
        client_id: String,
        secret_id: Uuid,
        phc: String,
        created_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
        last_used_at: Option<DateTime<Utc>>,
        /// Added by a migration (0006): a row without it reads as `None`, as a column added
        /// later must.
        #[serde(default, with = "bytea")]
        sealed: Option<Vec<u8>>,
        #[serde(default)]
        sealing_key_id: Option<String>,
    }
}

snapshot_row! {
    ClientSettingRow {
        client_id: String,
        key: String,
        /// Any JSON, `null` included (a setting set to null).
        value: Value,
        updated_at: DateTime<Utc>,
    }
}

snapshot_row! {
    AppSettingRow {
        key: String,
        /// Any JSON, `null` included (a setting set to null).
        value: Value,
        updated_at: DateTime<Utc>,
    }
}

snapshot_row! {
    AccessSchemaRow {
        client_id: String,
        type_name: String,
        access_type: String,
        attributes: Vec<String>,
        updated_at: DateTime<Utc>,
    }
}

/// An application's rows in the tables of [`TABLES`], each list in a fixed order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppRows {
    #[serde(default)]
    pub entity_types: Vec<EntityTypeRow>,
    #[serde(default)]
    pub clients: Vec<ClientRow>,
    #[serde(default)]
    pub client_secrets: Vec<SecretRow>,
    #[serde(default)]
    pub client_settings: Vec<ClientSettingRow>,
    #[serde(default)]
    pub app_settings: Vec<AppSettingRow>,
    #[serde(default)]
    pub access_schemas: Vec<AccessSchemaRow>,
}

/// The saved document: the rows and the format they are written in.
#[derive(Serialize)]
struct Saved<'a> {
    format: i64,
    #[serde(flatten)]
    rows: &'a AppRows,
}

/// Reads a saved document (any format this release knows).
pub fn decode(state: Value) -> Result<AppRows, StoreError> {
    let format = match state.get("format") {
        // Saved before the format number (to_jsonb of whole rows): format 1's rows.
        None => 1,
        Some(f) => f.as_i64().unwrap_or(i64::MAX),
    };
    if format > FORMAT {
        return Err(StoreError::Snapshot(format!(
            "format {format} is newer than this release reads ({FORMAT})"
        )));
    }
    serde_json::from_value(state).map_err(|e| StoreError::Snapshot(e.to_string()))
}

/// The application's current rows, read in one statement (one view of the database). The
/// rows come as JSON and are read by the same code as a saved snapshot.
pub async fn capture(db: impl PgExecutor<'_>, app_id: &str) -> StoreResult<AppRows> {
    let state = sqlx::query_scalar!(
        r#"SELECT jsonb_build_object(
             'entity_types', COALESCE((SELECT jsonb_agg(to_jsonb(t) ORDER BY t.name) FROM
                 (SELECT name, attr_defs, created_at, updated_at
                  FROM entity_types WHERE app_id = $1) t), '[]'),
             'clients', COALESCE((SELECT jsonb_agg(to_jsonb(t) ORDER BY t.created_at, t.client_id) FROM
                 (SELECT client_id, name, features, ip_whitelist, version, created_at, updated_at
                  FROM clients WHERE app_id = $1) t), '[]'),
             'client_secrets', COALESCE((SELECT jsonb_agg(to_jsonb(t)
                                          ORDER BY t.client_id, t.created_at, t.secret_id) FROM
                 (SELECT client_id, secret_id, phc, created_at, expires_at, last_used_at,
                         sealed, sealing_key_id
                  FROM client_secrets WHERE app_id = $1) t), '[]'),
             'client_settings', COALESCE((SELECT jsonb_agg(to_jsonb(t) ORDER BY t.client_id, t.key) FROM
                 (SELECT client_id, key, value, updated_at
                  FROM client_settings WHERE app_id = $1) t), '[]'),
             'app_settings', COALESCE((SELECT jsonb_agg(to_jsonb(t) ORDER BY t.key) FROM
                 (SELECT key, value, updated_at FROM app_settings WHERE app_id = $1) t), '[]'),
             'access_schemas', COALESCE((SELECT jsonb_agg(to_jsonb(t)
                                          ORDER BY t.client_id, t.type_name, t.access_type) FROM
                 (SELECT client_id, type_name, access_type, attributes, updated_at
                  FROM access_schemas WHERE app_id = $1) t), '[]')
           ) AS "state!""#,
        app_id,
    )
    .fetch_one(db)
    .await?;
    decode(state)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SnapshotRow {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub clients: i64,
}

/// Saves `rows` (the application's current ones, from [`capture`]) under `name`, replacing a
/// snapshot of that name. True when one was replaced.
pub async fn save(
    db: impl PgExecutor<'_>,
    app_id: &str,
    name: &str,
    rows: &AppRows,
) -> StoreResult<(SnapshotRow, bool)> {
    let saved = sqlx::query!(
        r#"INSERT INTO app_snapshots (app_id, name, state) VALUES ($1, $2, $3)
         ON CONFLICT ON CONSTRAINT app_snapshots_pkey
         DO UPDATE SET state = EXCLUDED.state, created_at = now()
         RETURNING created_at, (xmax <> 0) AS "replaced!""#,
        app_id,
        name,
        Json(Saved {
            format: FORMAT,
            rows
        }) as _,
    )
    .fetch_one(db)
    .await?;
    Ok((
        SnapshotRow {
            name: name.to_owned(),
            created_at: saved.created_at,
            clients: rows.clients.len() as i64,
        },
        saved.replaced,
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

/// The rows a snapshot holds (`None`: no such snapshot).
pub async fn load(
    db: impl PgExecutor<'_>,
    app_id: &str,
    name: &str,
) -> StoreResult<Option<AppRows>> {
    sqlx::query_scalar!(
        "SELECT state FROM app_snapshots WHERE app_id = $1 AND name = $2",
        app_id,
        name,
    )
    .fetch_optional(db)
    .await?
    .map(decode)
    .transpose()
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

/// Replaces every row of the application's tables by `saved`. `current`: the rows being
/// replaced (from [`capture`]); a client whose row changed since the snapshot was saved comes
/// back with a version above the one it has now, so an ETag never returns with other content.
pub async fn restore(
    conn: &mut PgConnection,
    app_id: &str,
    saved: &AppRows,
    current: &AppRows,
) -> StoreResult<()> {
    // Children first: the clients' cascades then find nothing left to do. The table name is
    // put in with format! (from the list): not checked at compile time.
    for (table, _) in TABLES.iter().rev() {
        sqlx::query(&format!("DELETE FROM {table} WHERE app_id = $1"))
            .bind(app_id)
            .execute(&mut *conn)
            .await?;
    }
    // One statement per table of TABLES, in its order; each names its columns, so a column
    // added by a later migration takes its default.
    sqlx::query!(
        "INSERT INTO entity_types (app_id, name, attr_defs, created_at, updated_at)
         SELECT $1, r.name, r.attr_defs, r.created_at, r.updated_at
         FROM jsonb_to_recordset($2) AS r(name text, attr_defs jsonb, created_at timestamptz,
                                          updated_at timestamptz)",
        app_id,
        Json(&saved.entity_types) as _,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO clients (app_id, client_id, name, features, ip_whitelist, version,
                              created_at, updated_at)
         SELECT $1, r.client_id, r.name, r.features, r.ip_whitelist, r.version, r.created_at,
                r.updated_at
         FROM jsonb_to_recordset($2) AS r(client_id text, name text, features text[],
                                          ip_whitelist cidr[], version bigint,
                                          created_at timestamptz, updated_at timestamptz)",
        app_id,
        Json(with_fresh_versions(&saved.clients, &current.clients)) as _,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO client_secrets (app_id, client_id, secret_id, phc, created_at, expires_at,
                                     last_used_at, sealed, sealing_key_id)
         SELECT $1, r.client_id, r.secret_id, r.phc, r.created_at, r.expires_at, r.last_used_at,
                r.sealed, r.sealing_key_id
         FROM jsonb_to_recordset($2) AS r(client_id text, secret_id uuid, phc text,
                                          created_at timestamptz, expires_at timestamptz,
                                          last_used_at timestamptz, sealed bytea,
                                          sealing_key_id text)",
        app_id,
        Json(&saved.client_secrets) as _,
    )
    .execute(&mut *conn)
    .await?;
    // A setting's value may be JSON null, which jsonb_to_recordset would make SQL NULL (the
    // column is NOT NULL): `e->'value'` keeps it as the jsonb `null`.
    sqlx::query!(
        "INSERT INTO client_settings (app_id, client_id, key, value, updated_at)
         SELECT $1, r.client_id, r.key, e->'value', r.updated_at
         FROM jsonb_array_elements($2) e,
              jsonb_to_record(e) AS r(client_id text, key text, updated_at timestamptz)",
        app_id,
        Json(&saved.client_settings) as _,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO app_settings (app_id, key, value, updated_at)
         SELECT $1, r.key, e->'value', r.updated_at
         FROM jsonb_array_elements($2) e,
              jsonb_to_record(e) AS r(key text, updated_at timestamptz)",
        app_id,
        Json(&saved.app_settings) as _,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO access_schemas (app_id, client_id, type_name, access_type, attributes,
                                     updated_at)
         SELECT $1, r.client_id, r.type_name, r.access_type, r.attributes, r.updated_at
         FROM jsonb_to_recordset($2) AS r(client_id text, type_name text, access_type text,
                                          attributes text[], updated_at timestamptz)",
        app_id,
        Json(&saved.access_schemas) as _,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// `saved` with each client's `version` raised above its current one where that is not
/// already lower (the client changed after the save).
fn with_fresh_versions(saved: &[ClientRow], current: &[ClientRow]) -> Vec<ClientRow> {
    let now: std::collections::HashMap<&str, i64> = current
        .iter()
        .map(|c| (c.client_id.as_str(), c.version))
        .collect();
    saved
        .iter()
        .map(|c| {
            let mut c = c.clone();
            if let Some(&current) = now.get(c.client_id.as_str()) {
                if current > c.version {
                    c.version = current + 1;
                }
            }
            c
        })
        .collect()
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

/// `bytea` as PostgreSQL writes it in JSON (`"\\x0a1b…"`), so rows read with `to_jsonb` and
/// rows written by serde have one form, which `jsonb_to_recordset` reads back.
mod bytea {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_str(&format!("\\x{}", hex::encode(bytes))),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| {
                let digits = text
                    .strip_prefix("\\x")
                    .ok_or_else(|| serde::de::Error::custom("bytea without \\x"))?;
                hex::decode(digits).map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_document_from_a_later_release_is_refused() {
        let err = decode(json!({"format": FORMAT + 1})).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
    }

    #[test]
    fn sealed_copies_keep_the_form_postgres_writes() {
        let row = json!({"client_id": "c", "secret_id": "0190c5e1-0000-7000-8000-000000000000",
            "phc": "$argon2id$x", "created_at": "2026-12-01T15:41:46.593179+00:00",
            "expires_at": null, "last_used_at": null, "sealed": "\\x0aff",
            "sealing_key_id": "k", "app_id": "ignored"});
        let read: SecretRow = serde_json::from_value(row).unwrap();
        assert_eq!(read.sealed.as_deref(), Some(&[0x0a, 0xff][..]));
        assert_eq!(serde_json::to_value(&read).unwrap()["sealed"], "\\x0aff");
    }

    #[test]
    fn a_changed_client_comes_back_with_a_higher_version() {
        let client = |id: &str, version| ClientRow {
            client_id: id.into(),
            name: id.into(),
            features: vec![],
            ip_whitelist: vec![],
            version,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        };
        let fresh = with_fresh_versions(
            &[client("a", 2), client("b", 5), client("c", 1)],
            &[client("a", 4), client("b", 3)],
        );
        let versions: Vec<i64> = fresh.iter().map(|c| c.version).collect();
        assert_eq!(versions, [5, 5, 1]);
    }
}

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use sqlx::PgExecutor;

use super::StoreResult;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientRow {
    pub app_id: String,
    pub client_id: String,
    pub name: String,
    pub features: Vec<String>,
    pub ip_whitelist: Vec<IpNet>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The [`ClientRow`] in a checked query's record that selects its eight columns (each
/// `query!` record is a type of its own, so this is a macro, not a `From`).
macro_rules! client_row {
    ($r:ident) => {
        $crate::store::clients::ClientRow {
            app_id: $r.app_id,
            client_id: $r.client_id,
            name: $r.name,
            features: $r.features,
            ip_whitelist: $r.ip_whitelist,
            version: $r.version,
            created_at: $r.created_at,
            updated_at: $r.updated_at,
        }
    };
}
pub(crate) use client_row;

/// The fields a write sets; the store never decides whether they are valid.
pub struct ClientValues<'a> {
    pub name: &'a str,
    pub features: &'a [String],
    pub ip_whitelist: &'a [IpNet],
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
    v: &ClientValues<'_>,
) -> StoreResult<ClientRow> {
    Ok(sqlx::query_as!(
        ClientRow,
        "INSERT INTO clients (app_id, client_id, name, features, ip_whitelist)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING app_id, client_id, name, features, ip_whitelist, version, created_at, updated_at",
        app_id,
        client_id,
        v.name,
        v.features,
        v.ip_whitelist,
    )
    .fetch_one(db)
    .await?)
}

// `get` and `lock` differ only in the row lock; both are written out (see entity_types::get).
pub async fn get(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
) -> StoreResult<Option<ClientRow>> {
    Ok(sqlx::query_as!(
        ClientRow,
        "SELECT app_id, client_id, name, features, ip_whitelist, version, created_at, updated_at
         FROM clients WHERE app_id = $1 AND client_id = $2",
        app_id,
        client_id,
    )
    .fetch_optional(db)
    .await?)
}

/// Reads and row-locks a client for the rest of the transaction.
pub async fn lock(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
) -> StoreResult<Option<ClientRow>> {
    Ok(sqlx::query_as!(
        ClientRow,
        "SELECT app_id, client_id, name, features, ip_whitelist, version, created_at, updated_at
         FROM clients WHERE app_id = $1 AND client_id = $2 FOR UPDATE",
        app_id,
        client_id,
    )
    .fetch_optional(db)
    .await?)
}

/// Whether the client exists; locks its row until the transaction ends, so that it cannot be
/// deleted under a write of something it owns (its settings, its access schemas) and two such
/// writes take turns (each audit event's "from" is then exact). `NO KEY UPDATE` does not block
/// foreign-key checks, so its secrets can still be written meanwhile.
pub async fn lock_as_owner(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
) -> StoreResult<bool> {
    Ok(sqlx::query_scalar!(
        r#"SELECT 1 AS "one!" FROM clients
            WHERE app_id = $1 AND client_id = $2 FOR NO KEY UPDATE"#,
        app_id,
        client_id,
    )
    .fetch_optional(db)
    .await?
    .is_some())
}

/// Clients of an application, oldest first; with `any_of`, only those having one of them.
/// A client as a listing shows it: only the columns the answer needs (the application is the
/// caller's; the timestamps are not shown). Decoding the three others was about a tenth of a
/// 100-client listing's instructions (callgrind, bench (f)).
#[derive(Debug, Clone)]
pub struct ListedClient {
    pub client_id: String,
    pub name: String,
    pub features: Vec<String>,
    pub ip_whitelist: Vec<IpNet>,
    pub version: i64,
}

/// The clients of an application, oldest first, optionally only those having any of `any_of`.
pub async fn listing(
    db: impl PgExecutor<'_>,
    app_id: &str,
    any_of: Option<&[String]>,
) -> StoreResult<Vec<ListedClient>> {
    Ok(sqlx::query_as!(
        ListedClient,
        "SELECT client_id, name, features, ip_whitelist, version
         FROM clients
         WHERE app_id = $1 AND ($2::text[] IS NULL OR features && $2::text[])
         ORDER BY created_at, client_id",
        app_id,
        any_of,
    )
    .fetch_all(db)
    .await?)
}

/// Every client of an application with all its columns, oldest first (the access review's
/// current state; a listing reads only what it shows: [`listing`]).
pub async fn list(db: impl PgExecutor<'_>, app_id: &str) -> StoreResult<Vec<ClientRow>> {
    Ok(sqlx::query_as!(
        ClientRow,
        "SELECT app_id, client_id, name, features, ip_whitelist, version, created_at, updated_at
         FROM clients
         WHERE app_id = $1
         ORDER BY created_at, client_id",
        app_id,
    )
    .fetch_all(db)
    .await?)
}

pub async fn update(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
    v: &ClientValues<'_>,
) -> StoreResult<ClientRow> {
    Ok(sqlx::query_as!(
        ClientRow,
        "UPDATE clients SET name = $3, features = $4, ip_whitelist = $5,
                version = version + 1, updated_at = now()
         WHERE app_id = $1 AND client_id = $2
         RETURNING app_id, client_id, name, features, ip_whitelist, version, created_at, updated_at",
        app_id,
        client_id,
        v.name,
        v.features,
        v.ip_whitelist,
    )
    .fetch_one(db)
    .await?)
}

/// Records a change that lives in another table (a secret) on the client row itself, so the
/// version (ETag) moves and every cached credential check of this client misses.
pub async fn bump_version(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
) -> StoreResult<ClientRow> {
    Ok(sqlx::query_as!(
        ClientRow,
        "UPDATE clients SET version = version + 1, updated_at = now()
         WHERE app_id = $1 AND client_id = $2
         RETURNING app_id, client_id, name, features, ip_whitelist, version, created_at, updated_at",
        app_id,
        client_id,
    )
    .fetch_one(db)
    .await?)
}

pub async fn delete(db: impl PgExecutor<'_>, app_id: &str, client_id: &str) -> StoreResult<()> {
    sqlx::query!(
        "DELETE FROM clients WHERE app_id = $1 AND client_id = $2",
        app_id,
        client_id,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A client row with the PHC strings of every secret that still works.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientCredentials {
    #[sqlx(flatten)]
    pub client: ClientRow,
    pub phcs: Vec<String>,
    /// The application keeps sealed copies of its secrets (signed requests or show_secrets).
    pub sealing: bool,
    /// Those of `phcs` that have no sealed copy yet.
    pub unsealed_phcs: Vec<String>,
}

/// One round trip for authentication: the client and its live secrets.
pub async fn get_with_secrets(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
) -> StoreResult<Option<ClientCredentials>> {
    let row = sqlx::query!(
        r#"SELECT c.app_id, c.client_id, c.name, c.features, c.ip_whitelist, c.version,
                c.created_at, c.updated_at,
                COALESCE(ARRAY(SELECT s.phc FROM client_secrets s
                               WHERE s.app_id = c.app_id AND s.client_id = c.client_id
                                 AND (s.expires_at IS NULL OR s.expires_at > now())
                               ORDER BY s.created_at DESC), '{}') AS "phcs!",
                (a.signed_requests OR a.show_secrets) AS "sealing!",
                -- Only looked up where it matters (CASE skips the subquery otherwise).
                CASE WHEN a.signed_requests OR a.show_secrets
                     THEN ARRAY(SELECT s.phc FROM client_secrets s
                                WHERE s.app_id = c.app_id AND s.client_id = c.client_id
                                  AND (s.expires_at IS NULL OR s.expires_at > now())
                                  AND s.sealed IS NULL)
                     ELSE '{}' END AS "unsealed_phcs!"
         FROM clients c JOIN apps a ON a.app_id = c.app_id
         WHERE c.app_id = $1 AND c.client_id = $2"#,
        app_id,
        client_id,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| ClientCredentials {
        client: client_row!(r),
        phcs: r.phcs,
        sealing: r.sealing,
        unsealed_phcs: r.unsealed_phcs,
    }))
}

/// Applications holding a client with this id (the Registration API's routing step; see the
/// migration for why this is not a unique key). Normally zero or one row.
pub async fn apps_of_client(db: impl PgExecutor<'_>, client_id: &str) -> StoreResult<Vec<String>> {
    Ok(sqlx::query_scalar!(
        "SELECT app_id FROM clients WHERE client_id = $1 LIMIT 2",
        client_id
    )
    .fetch_all(db)
    .await?)
}

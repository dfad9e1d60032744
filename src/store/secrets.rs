use sqlx::PgExecutor;
use uuid::Uuid;

use super::StoreResult;
use crate::auth::sealing::Sealed;

/// Stores a new secret: its Argon2id hash and, for applications that keep them, its sealed
/// copy. Called only by the service's one function that mints secrets.
pub async fn insert(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
    phc: &str,
    sealed: Option<&Sealed>,
) -> StoreResult<()> {
    sqlx::query!(
        "INSERT INTO client_secrets
                (app_id, client_id, secret_id, phc, sealed, sealing_key_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp())",
        app_id,
        client_id,
        Uuid::now_v7(),
        phc,
        sealed.map(|s| s.blob.as_slice()),
        sealed.map(|s| s.key_id.as_str()),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Adds the sealed copy to a secret that has none yet (a secret minted before its application
/// opted in, proven just now with Basic or parameters). True when a row changed.
pub async fn seal_existing(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
    phc: &str,
    sealed: &Sealed,
) -> StoreResult<bool> {
    let done = sqlx::query!(
        "UPDATE client_secrets SET sealed = $4, sealing_key_id = $5
          WHERE app_id = $1 AND client_id = $2 AND phc = $3 AND sealed IS NULL",
        app_id,
        client_id,
        phc,
        &sealed.blob,
        &sealed.key_id,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Removes every sealed copy of an application's secrets (both opt-ins switched off).
pub async fn drop_sealed(db: impl PgExecutor<'_>, app_id: &str) -> StoreResult<u64> {
    let done = sqlx::query!(
        "UPDATE client_secrets SET sealed = NULL, sealing_key_id = NULL
          WHERE app_id = $1 AND sealed IS NOT NULL",
        app_id,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// A sealed secret as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SealedRow {
    pub app_id: String,
    pub client_id: String,
    pub secret_id: Uuid,
    pub sealed: Vec<u8>,
    pub sealing_key_id: String,
}

/// The newest live secret of each of these clients, when it is sealed (what `show_secrets`
/// shows). A client whose newest secret is not sealed has no row.
pub async fn newest_sealed(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_ids: &[String],
) -> StoreResult<Vec<SealedRow>> {
    Ok(sqlx::query_as!(
        SealedRow,
        r#"SELECT app_id AS "app_id!", client_id AS "client_id!", secret_id AS "secret_id!",
                  sealed AS "sealed!", sealing_key_id AS "sealing_key_id!" FROM (
             SELECT DISTINCT ON (client_id) app_id, client_id, secret_id, sealed, sealing_key_id
               FROM client_secrets
              WHERE app_id = $1 AND client_id = ANY($2)
                AND (expires_at IS NULL OR expires_at > now())
              ORDER BY client_id, created_at DESC) newest
          WHERE sealed IS NOT NULL"#,
        app_id,
        client_ids,
    )
    .fetch_all(db)
    .await?)
}

/// Every table that keeps values sealed with the server's sealing key: THE list `latchkey keys
/// rotate` re-seals. A new table with a sealed column joins it here (and in
/// [`sealed_with_other_keys`] and [`reseal`], which the compiler then asks for); a test checks
/// that every column named `sealing_key_id` in the schema belongs to one of these
/// (tests/api/sealing.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SealedStore {
    /// Copies of client secrets (signed requests, `show_secrets`).
    ClientSecrets,
    /// The applications' OAuth signing keys (docs/oauth.md).
    OAuthSigningKeys,
    /// The server's audit checkpoint signing keys (docs/audit.md).
    AuditSigningKeys,
    /// The sinks' webhook secrets and Splunk HEC tokens (docs/streaming.md).
    SinkSecrets,
}

impl SealedStore {
    pub const ALL: [SealedStore; 4] = [
        SealedStore::ClientSecrets,
        SealedStore::OAuthSigningKeys,
        SealedStore::AuditSigningKeys,
        SealedStore::SinkSecrets,
    ];

    /// The table it lives in (also its name in `latchkey keys rotate`'s report).
    pub fn table(self) -> &'static str {
        match self {
            SealedStore::ClientSecrets => "client_secrets",
            SealedStore::OAuthSigningKeys => "oauth_signing_keys",
            SealedStore::AuditSigningKeys => "audit_signing_keys",
            SealedStore::SinkSecrets => "sinks",
        }
    }
}

/// The row of a sealed value, which also names what the value is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedAt {
    ClientSecret {
        app_id: String,
        client_id: String,
        secret_id: Uuid,
    },
    OAuthSigningKey {
        app_id: String,
        kid: String,
    },
    AuditSigningKey {
        key_id: String,
    },
    SinkSecret {
        name: String,
    },
}

/// A sealed value as stored, and where.
#[derive(Debug, Clone)]
pub struct SealedValue {
    pub at: SealedAt,
    pub sealed: Sealed,
}

fn sealed_value(at: SealedAt, blob: Vec<u8>, key_id: String) -> SealedValue {
    SealedValue {
        at,
        sealed: Sealed { key_id, blob },
    }
}

/// The values of one store not sealed with `current_key_id`, a batch at a time in key order,
/// after `after` (the last of the previous batch). The maintenance queries that span tenants:
/// re-sealing is a server-wide operation, like the application directory itself.
pub async fn sealed_with_other_keys(
    db: impl PgExecutor<'_>,
    store: SealedStore,
    current_key_id: &str,
    after: Option<&SealedAt>,
    limit: i64,
) -> StoreResult<Vec<SealedValue>> {
    let values = match store {
        SealedStore::ClientSecrets => {
            let (a, c, s) = match after {
                Some(SealedAt::ClientSecret {
                    app_id,
                    client_id,
                    secret_id,
                }) => (Some(app_id), Some(client_id), Some(*secret_id)),
                _ => (None, None, None),
            };
            sqlx::query!(
                r#"SELECT app_id, client_id, secret_id, sealed AS "sealed!",
                          sealing_key_id AS "sealing_key_id!" FROM client_secrets
                  WHERE sealed IS NOT NULL AND sealing_key_id <> $1
                    AND ($2::text IS NULL OR (app_id, client_id, secret_id) > ($2, $3, $4))
                  ORDER BY app_id, client_id, secret_id LIMIT $5"#,
                current_key_id,
                a,
                c,
                s,
                limit,
            )
            .fetch_all(db)
            .await?
            .into_iter()
            .map(|r| {
                let at = SealedAt::ClientSecret {
                    app_id: r.app_id,
                    client_id: r.client_id,
                    secret_id: r.secret_id,
                };
                sealed_value(at, r.sealed, r.sealing_key_id)
            })
            .collect()
        }
        SealedStore::OAuthSigningKeys => {
            let (a, k) = match after {
                Some(SealedAt::OAuthSigningKey { app_id, kid }) => (Some(app_id), Some(kid)),
                _ => (None, None),
            };
            sqlx::query!(
                r#"SELECT app_id, kid, sealed, sealing_key_id FROM oauth_signing_keys
                  WHERE sealing_key_id <> $1
                    AND ($2::text IS NULL OR (app_id, kid) > ($2, $3))
                  ORDER BY app_id, kid LIMIT $4"#,
                current_key_id,
                a,
                k,
                limit,
            )
            .fetch_all(db)
            .await?
            .into_iter()
            .map(|r| {
                let at = SealedAt::OAuthSigningKey {
                    app_id: r.app_id,
                    kid: r.kid,
                };
                sealed_value(at, r.sealed, r.sealing_key_id)
            })
            .collect()
        }
        SealedStore::AuditSigningKeys => {
            let k = match after {
                Some(SealedAt::AuditSigningKey { key_id }) => Some(key_id),
                _ => None,
            };
            sqlx::query!(
                r#"SELECT key_id, sealed_private, sealing_key_id FROM audit_signing_keys
                  WHERE sealing_key_id <> $1 AND ($2::text IS NULL OR key_id > $2)
                  ORDER BY key_id LIMIT $3"#,
                current_key_id,
                k,
                limit,
            )
            .fetch_all(db)
            .await?
            .into_iter()
            .map(|r| {
                let at = SealedAt::AuditSigningKey { key_id: r.key_id };
                sealed_value(at, r.sealed_private, r.sealing_key_id)
            })
            .collect()
        }
        SealedStore::SinkSecrets => {
            let n = match after {
                Some(SealedAt::SinkSecret { name }) => Some(name),
                _ => None,
            };
            sqlx::query!(
                r#"SELECT name, sealed_secret AS "sealed_secret!",
                          sealing_key_id AS "sealing_key_id!" FROM sinks
                  WHERE sealed_secret IS NOT NULL AND sealing_key_id <> $1
                    AND ($2::text IS NULL OR name > $2)
                  ORDER BY name LIMIT $3"#,
                current_key_id,
                n,
                limit,
            )
            .fetch_all(db)
            .await?
            .into_iter()
            .map(|r| {
                let at = SealedAt::SinkSecret { name: r.name };
                sealed_value(at, r.sealed_secret, r.sealing_key_id)
            })
            .collect()
        }
    };
    Ok(values)
}

/// Replaces one sealed value by a re-sealing of the same plain value under another key, if it
/// is still sealed as read (a concurrent change wins). True when a row changed.
///
/// One arm per [`SealedStore`], alike but for their table and key columns: each statement is
/// checked against its own table, so they are not folded into one SQL string made at run time.
pub async fn reseal(db: impl PgExecutor<'_>, old: &SealedValue, new: &Sealed) -> StoreResult<bool> {
    let old_key = &old.sealed.key_id;
    let done = match &old.at {
        SealedAt::ClientSecret {
            app_id,
            client_id,
            secret_id,
        } => {
            sqlx::query!(
                "UPDATE client_secrets SET sealed = $4, sealing_key_id = $5
                  WHERE app_id = $1 AND client_id = $2 AND secret_id = $3 AND sealing_key_id = $6",
                app_id,
                client_id,
                secret_id,
                &new.blob,
                &new.key_id,
                old_key,
            )
            .execute(db)
            .await?
        }
        SealedAt::OAuthSigningKey { app_id, kid } => {
            sqlx::query!(
                "UPDATE oauth_signing_keys SET sealed = $3, sealing_key_id = $4
                  WHERE app_id = $1 AND kid = $2 AND sealing_key_id = $5",
                app_id,
                kid,
                &new.blob,
                &new.key_id,
                old_key,
            )
            .execute(db)
            .await?
        }
        SealedAt::AuditSigningKey { key_id } => {
            sqlx::query!(
                "UPDATE audit_signing_keys SET sealed_private = $2, sealing_key_id = $3
                  WHERE key_id = $1 AND sealing_key_id = $4",
                key_id,
                &new.blob,
                &new.key_id,
                old_key,
            )
            .execute(db)
            .await?
        }
        SealedAt::SinkSecret { name } => {
            sqlx::query!(
                "UPDATE sinks SET sealed_secret = $2, sealing_key_id = $3
                  WHERE name = $1 AND sealing_key_id = $4",
                name,
                &new.blob,
                &new.key_id,
                old_key,
            )
            .execute(db)
            .await?
        }
    };
    Ok(done.rows_affected() > 0)
}

/// Starts the grace period of every secret that does not expire yet: they keep working for
/// `hours` more hours (0: they stop now). Secrets already on their way out keep the earlier
/// expiry. Secrets that expired are removed, so hashes do not pile up. Returns the hashes still
/// live (those of the grace period).
pub async fn expire_current(
    db: &mut sqlx::PgConnection,
    app_id: &str,
    client_id: &str,
    hours: i32,
) -> StoreResult<Vec<String>> {
    let rows = sqlx::query!(
        r#"UPDATE client_secrets
            SET expires_at = LEAST(COALESCE(expires_at, 'infinity'),
                                   now() + make_interval(hours => $3))
          WHERE app_id = $1 AND client_id = $2
          RETURNING phc, expires_at > now() AS "live!""#,
        app_id,
        client_id,
        hours,
    )
    .fetch_all(&mut *db)
    .await?;
    sqlx::query!(
        "DELETE FROM client_secrets
          WHERE app_id = $1 AND client_id = $2 AND expires_at <= now()",
        app_id,
        client_id,
    )
    .execute(db)
    .await?;
    Ok(rows.into_iter().filter(|r| r.live).map(|r| r.phc).collect())
}

/// Replaces a hash by a re-hash of the same secret (Argon2 parameters were raised), and
/// records when the secret was last proven with Argon2.
pub async fn replace_phc(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
    old_phc: &str,
    new_phc: &str,
) -> StoreResult<()> {
    sqlx::query!(
        "UPDATE client_secrets SET phc = $4, last_used_at = now()
          WHERE app_id = $1 AND client_id = $2 AND phc = $3",
        app_id,
        client_id,
        old_phc,
        new_phc,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Notes when a secret was last proven with Argon2 (a cache miss, not every request: that
/// would add a write to the hot path).
pub async fn touch(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_id: &str,
    phc: &str,
) -> StoreResult<()> {
    sqlx::query!(
        "UPDATE client_secrets SET last_used_at = now()
          WHERE app_id = $1 AND client_id = $2 AND phc = $3",
        app_id,
        client_id,
        phc,
    )
    .execute(db)
    .await?;
    Ok(())
}

//! Signed requests: the credentials a signature is checked against, and the signatures already
//! accepted (replay protection shared by every server: [`super::replays`]).

use sqlx::PgExecutor;

use super::clients::{client_row, ClientRow};
use super::StoreResult;

/// A client found by id for a signed request, with its application's option and the sealed
/// copies of its live secrets, newest first (`None`: minted before the application opted in).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningCredentials {
    #[sqlx(flatten)]
    pub client: ClientRow,
    pub signed_requests: bool,
    pub sealed: Vec<Option<Vec<u8>>>,
    pub sealing_key_ids: Vec<Option<String>>,
}

/// One round trip, the same whether the client exists or not: the Registration API finds the
/// application from the client id (see migration 0001 on why that lookup is not app-scoped).
/// At most two rows; the caller refuses anything but exactly one.
pub async fn signing_credentials(
    db: impl PgExecutor<'_>,
    client_id: &str,
) -> StoreResult<Vec<SigningCredentials>> {
    let rows = sqlx::query!(
        r#"SELECT c.app_id, c.client_id, c.name, c.features, c.ip_whitelist, c.version,
                c.created_at, c.updated_at, a.signed_requests,
                COALESCE(ARRAY(SELECT s.sealed FROM client_secrets s
                               WHERE s.app_id = c.app_id AND s.client_id = c.client_id
                                 AND (s.expires_at IS NULL OR s.expires_at > now())
                               ORDER BY s.created_at DESC), '{}') AS "sealed!: Vec<Option<Vec<u8>>>",
                COALESCE(ARRAY(SELECT s.sealing_key_id FROM client_secrets s
                               WHERE s.app_id = c.app_id AND s.client_id = c.client_id
                                 AND (s.expires_at IS NULL OR s.expires_at > now())
                               ORDER BY s.created_at DESC), '{}') AS "sealing_key_ids!: Vec<Option<String>>"
         FROM clients c JOIN apps a ON a.app_id = c.app_id
         WHERE c.client_id = $1 LIMIT 2"#,
        client_id,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| SigningCredentials {
            client: client_row!(r),
            signed_requests: r.signed_requests,
            sealed: r.sealed,
            sealing_key_ids: r.sealing_key_ids,
        })
        .collect())
}

//! What applying a fixture needs besides the per-table functions.

use sqlx::PgExecutor;

use super::StoreResult;

/// Which of `client_ids` a client of another application already has. Client ids are meant to
/// be unique across applications (the Registration API finds the application from the client
/// id), so a pinned id must not be one of these. Like `clients::apps_of_client`, this spans
/// tenants by design.
pub async fn ids_used_elsewhere(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_ids: &[String],
) -> StoreResult<Vec<String>> {
    Ok(sqlx::query_scalar!(
        "SELECT DISTINCT client_id FROM clients WHERE client_id = ANY($2) AND app_id <> $1",
        app_id,
        client_ids,
    )
    .fetch_all(db)
    .await?)
}

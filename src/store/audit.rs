use sqlx::{PgConnection, PgExecutor};

use super::StoreResult;
use crate::domain::audit::{AuditEvent, GENESIS_HASH};

/// Starts an application's chain (in the transaction that creates the application).
pub async fn init_chain(db: impl PgExecutor<'_>, app_id: &str) -> StoreResult<()> {
    sqlx::query("INSERT INTO audit_heads (app_id, seq, hash) VALUES ($1, 0, $2)")
        .bind(app_id)
        .bind(&GENESIS_HASH[..])
        .execute(db)
        .await?;
    Ok(())
}

/// Appends `event` to its application's chain, filling in `seq`. Locks the chain head until the
/// transaction ends, so call it last in a transaction to hold the lock briefly.
pub async fn append(conn: &mut PgConnection, mut event: AuditEvent) -> StoreResult<AuditEvent> {
    let (seq, prev_hash): (i64, Vec<u8>) =
        sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE app_id = $1 FOR UPDATE")
            .bind(&event.app_id)
            .fetch_one(&mut *conn)
            .await?;
    event.seq = seq + 1;
    let hash = event.chain_hash(&prev_hash);
    sqlx::query(
        "INSERT INTO audit_events (app_id, seq, event_id, occurred_at, actor, actor_ip,
             request_id, action, target_client_id, features_before, features_after, changes,
             prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6::inet, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&event.app_id)
    .bind(event.seq)
    .bind(event.event_id)
    .bind(event.occurred_at)
    .bind(&event.actor)
    .bind(&event.actor_ip)
    .bind(&event.request_id)
    .bind(&event.action)
    .bind(&event.target_client_id)
    .bind(&event.features_before)
    .bind(&event.features_after)
    .bind(&event.changes)
    .bind(&prev_hash)
    .bind(&hash[..])
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_heads SET seq = $2, hash = $3 WHERE app_id = $1")
        .bind(&event.app_id)
        .bind(event.seq)
        .bind(&hash[..])
        .execute(&mut *conn)
        .await?;
    Ok(event)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub app_id: String,
    pub seq: i64,
    pub event_id: uuid::Uuid,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub actor_ip: Option<String>,
    pub request_id: String,
    pub action: String,
    pub target_client_id: Option<String>,
    pub features_before: Option<Vec<String>>,
    pub features_after: Option<Vec<String>>,
    pub changes: serde_json::Value,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

impl AuditRow {
    pub fn event(&self) -> AuditEvent {
        AuditEvent {
            app_id: self.app_id.clone(),
            seq: self.seq,
            event_id: self.event_id,
            occurred_at: self.occurred_at,
            actor: self.actor.clone(),
            actor_ip: self.actor_ip.clone(),
            request_id: self.request_id.clone(),
            action: self.action.clone(),
            target_client_id: self.target_client_id.clone(),
            features_before: self.features_before.clone(),
            features_after: self.features_after.clone(),
            changes: self.changes.clone(),
        }
    }
}

/// Events of an application in chain order, from `after_seq` (exclusive), at most `limit`.
pub async fn list(
    db: impl PgExecutor<'_>,
    app_id: &str,
    after_seq: i64,
    limit: i64,
) -> StoreResult<Vec<AuditRow>> {
    Ok(sqlx::query_as::<_, AuditRow>(
        "SELECT app_id, seq, event_id, occurred_at, actor, host(actor_ip) AS actor_ip,
                request_id, action, target_client_id, features_before, features_after, changes,
                prev_hash, hash
         FROM audit_events WHERE app_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(app_id)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

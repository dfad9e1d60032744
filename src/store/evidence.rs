//! Audit evidence: the Merkle tree's nodes (written by the database as events are inserted, see
//! migration 0040), signed checkpoints, the server's checkpoint signing keys and legal holds.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use super::StoreResult;
use crate::domain::merkle::{Hash, NodeId};

/// The stored nodes among `ids` (absent ones are left out: only a chain pruned before the tree
/// existed lacks some).
pub async fn nodes(
    db: impl PgExecutor<'_>,
    app_id: &str,
    ids: &[NodeId],
) -> StoreResult<HashMap<NodeId, Hash>> {
    let levels: Vec<i16> = ids.iter().map(|n| i16::from(n.level)).collect();
    let indexes: Vec<i64> = ids
        .iter()
        .map(|n| i64::try_from(n.index).unwrap_or(i64::MAX))
        .collect();
    let rows = sqlx::query!(
        r#"SELECT n.level, n.idx, n.hash
             FROM audit_merkle_nodes n
             JOIN unnest($2::smallint[], $3::bigint[]) AS w(level, idx)
               ON n.level = w.level AND n.idx = w.idx
            WHERE n.app_id = $1"#,
        app_id,
        &levels,
        &indexes,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some((
                NodeId {
                    level: u8::try_from(r.level).ok()?,
                    index: u64::try_from(r.idx).ok()?,
                },
                Hash::try_from(r.hash).ok()?,
            ))
        })
        .collect())
}

/// A stored signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    pub app_id: String,
    pub tree_size: i64,
    pub root_hash: Vec<u8>,
    pub note: String,
    pub key_id: String,
    pub created_at: DateTime<Utc>,
}

/// Stores a checkpoint; `false` when one of that size exists already (another instance made it).
pub async fn insert_checkpoint(db: impl PgExecutor<'_>, row: &CheckpointRow) -> StoreResult<bool> {
    Ok(sqlx::query!(
        "INSERT INTO audit_checkpoints (app_id, tree_size, root_hash, note, key_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (app_id, tree_size) DO NOTHING",
        &row.app_id,
        row.tree_size,
        &row.root_hash,
        &row.note,
        &row.key_id,
        row.created_at,
    )
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// The newest checkpoint of an application.
pub async fn latest_checkpoint(
    db: impl PgExecutor<'_>,
    app_id: &str,
) -> StoreResult<Option<CheckpointRow>> {
    Ok(sqlx::query_as!(
        CheckpointRow,
        "SELECT app_id, tree_size, root_hash, note, key_id, created_at FROM audit_checkpoints
          WHERE app_id = $1 ORDER BY tree_size DESC LIMIT 1",
        app_id,
    )
    .fetch_optional(db)
    .await?)
}

/// Checkpoints made at or after `since`, oldest first, at most `limit`.
pub async fn checkpoints_since(
    db: impl PgExecutor<'_>,
    app_id: &str,
    since: Option<DateTime<Utc>>,
    limit: i64,
) -> StoreResult<Vec<CheckpointRow>> {
    Ok(sqlx::query_as!(
        CheckpointRow,
        "SELECT app_id, tree_size, root_hash, note, key_id, created_at FROM audit_checkpoints
          WHERE app_id = $1 AND ($2::timestamptz IS NULL OR created_at >= $2)
          ORDER BY tree_size LIMIT $3",
        app_id,
        since,
        limit,
    )
    .fetch_all(db)
    .await?)
}

/// Checkpoints with `after < tree_size <= through`, smallest first (what a sink delivers next;
/// a read reaches at most one read batch of events, so at most that many checkpoints).
pub async fn checkpoints_between(
    db: impl PgExecutor<'_>,
    app_id: &str,
    after: i64,
    through: i64,
) -> StoreResult<Vec<CheckpointRow>> {
    Ok(sqlx::query_as!(
        CheckpointRow,
        "SELECT app_id, tree_size, root_hash, note, key_id, created_at FROM audit_checkpoints
          WHERE app_id = $1 AND tree_size > $2 AND tree_size <= $3
          ORDER BY tree_size",
        app_id,
        after,
        through,
    )
    .fetch_all(db)
    .await?)
}

/// Applications whose log has grown since their last checkpoint, with their tree size now.
/// Operator-wide by design: the checkpoint task serves every application.
pub async fn apps_needing_checkpoint(db: impl PgExecutor<'_>) -> StoreResult<Vec<(String, i64)>> {
    Ok(sqlx::query!(
        r#"SELECT h.app_id, h.seq FROM audit_heads h
            WHERE h.seq > coalesce((SELECT max(c.tree_size) FROM audit_checkpoints c
                                     WHERE c.app_id = h.app_id), 0)
            ORDER BY h.app_id"#
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| (r.app_id, r.seq))
    .collect())
}

/// One of the server's checkpoint signing keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRow {
    pub key_id: String,
    pub name: String,
    pub public_key: Vec<u8>,
    pub sealed_private: Vec<u8>,
    pub sealing_key_id: String,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// Every signing key, oldest first. Server-wide (the keys are the server's, not a tenant's).
pub async fn signing_keys(db: impl PgExecutor<'_>) -> StoreResult<Vec<SigningKeyRow>> {
    Ok(sqlx::query_as!(
        SigningKeyRow,
        "SELECT key_id, name, public_key, sealed_private, sealing_key_id, created_at, retired_at
           FROM audit_signing_keys ORDER BY created_at, key_id"
    )
    .fetch_all(db)
    .await?)
}

/// The key that signs now.
pub async fn current_signing_key(db: impl PgExecutor<'_>) -> StoreResult<Option<SigningKeyRow>> {
    Ok(sqlx::query_as!(
        SigningKeyRow,
        "SELECT key_id, name, public_key, sealed_private, sealing_key_id, created_at, retired_at
           FROM audit_signing_keys WHERE retired_at IS NULL"
    )
    .fetch_optional(db)
    .await?)
}

/// Serialises the creation and rotation of signing keys across instances, until the
/// transaction ends.
pub async fn lock_signing_keys(conn: &mut PgConnection) -> StoreResult<()> {
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtext('latchkey.audit_signing_keys'))")
        .fetch_one(conn)
        .await?;
    Ok(())
}

/// Retires the current key (if any) as of `at`; returns its id.
pub async fn retire_current_key(
    conn: &mut PgConnection,
    at: DateTime<Utc>,
) -> StoreResult<Option<String>> {
    Ok(sqlx::query_scalar!(
        "UPDATE audit_signing_keys SET retired_at = $1 WHERE retired_at IS NULL RETURNING key_id",
        at,
    )
    .fetch_optional(conn)
    .await?)
}

pub async fn insert_signing_key(conn: &mut PgConnection, row: &SigningKeyRow) -> StoreResult<()> {
    sqlx::query!(
        "INSERT INTO audit_signing_keys
             (key_id, name, public_key, sealed_private, sealing_key_id, created_at, retired_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &row.key_id,
        &row.name,
        &row.public_key,
        &row.sealed_private,
        &row.sealing_key_id,
        row.created_at,
        row.retired_at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The legal hold of an application: prune refuses until this time.
pub async fn hold(db: impl PgExecutor<'_>, app_id: &str) -> StoreResult<Option<DateTime<Utc>>> {
    Ok(
        sqlx::query_scalar!("SELECT until FROM audit_holds WHERE app_id = $1", app_id)
            .fetch_optional(db)
            .await?,
    )
}

/// Sets the legal hold; returns the previous one. Locks it until the transaction ends.
pub async fn set_hold(
    conn: &mut PgConnection,
    app_id: &str,
    until: DateTime<Utc>,
) -> StoreResult<Option<DateTime<Utc>>> {
    let before = sqlx::query_scalar!(
        "SELECT until FROM audit_holds WHERE app_id = $1 FOR UPDATE",
        app_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO audit_holds (app_id, until) VALUES ($1, $2)
         ON CONFLICT (app_id) DO UPDATE SET until = $2, updated_at = now()",
        app_id,
        until,
    )
    .execute(&mut *conn)
    .await?;
    Ok(before)
}

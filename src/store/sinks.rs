//! Sinks and their per-application cursors (migration 0050; docs/streaming.md).
//!
//! `sinks` is keyed by the sink's name, like `apps` by its id: a sink spans applications and
//! belongs to the operator. Every query of `sink_cursors` names its application, except the
//! operator-wide ones that say so (the delivery worker's "which applications are behind" and
//! the lag of a sink), which walk the chain heads of every application the sink covers.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use super::StoreResult;
use crate::auth::sealing::Sealed;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SinkRow {
    pub name: String,
    pub kind: String,
    pub url: Option<String>,
    pub address: Option<String>,
    pub tls: bool,
    pub ca_file: Option<String>,
    pub sourcetype: Option<String>,
    pub hec_index: Option<String>,
    pub batch_max: i32,
    pub apps: Option<Vec<String>>,
    pub actions: Option<Vec<String>>,
    pub sealed_secret: Option<Vec<u8>>,
    pub sealing_key_id: Option<String>,
    pub paused: bool,
    pub paused_reason: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub delivered_total: i64,
    pub lock_key: i32,
    pub created_at: DateTime<Utc>,
}

impl SinkRow {
    pub fn sealed(&self) -> Option<Sealed> {
        match (&self.sealed_secret, &self.sealing_key_id) {
            (Some(blob), Some(key_id)) => Some(Sealed {
                key_id: key_id.clone(),
                blob: blob.clone(),
            }),
            _ => None,
        }
    }
}

/// The columns of a new sink.
pub struct NewSinkRow<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub url: Option<&'a str>,
    pub address: Option<&'a str>,
    pub tls: bool,
    pub ca_file: Option<&'a str>,
    pub sourcetype: Option<&'a str>,
    pub hec_index: Option<&'a str>,
    pub batch_max: i32,
    pub apps: Option<&'a [String]>,
    pub actions: Option<&'a [String]>,
    pub sealed: Option<&'a Sealed>,
}

pub async fn insert(db: impl PgExecutor<'_>, s: NewSinkRow<'_>) -> StoreResult<()> {
    sqlx::query!(
        "INSERT INTO sinks (name, kind, url, address, tls, ca_file, sourcetype, hec_index,
             batch_max, apps, actions, sealed_secret, sealing_key_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        s.name,
        s.kind,
        s.url,
        s.address,
        s.tls,
        s.ca_file,
        s.sourcetype,
        s.hec_index,
        s.batch_max,
        s.apps,
        s.actions,
        s.sealed.map(|x| x.blob.as_slice()),
        s.sealed.map(|x| x.key_id.as_str()),
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn list(db: impl PgExecutor<'_>) -> StoreResult<Vec<SinkRow>> {
    Ok(sqlx::query_as!(
        SinkRow,
        "SELECT name, kind, url, address, tls, ca_file, sourcetype, hec_index, batch_max, apps,
                actions, sealed_secret, sealing_key_id, paused, paused_reason, last_error,
                last_error_at, last_success_at, delivered_total, lock_key, created_at
         FROM sinks ORDER BY name"
    )
    .fetch_all(db)
    .await?)
}

pub async fn get(db: impl PgExecutor<'_>, name: &str) -> StoreResult<Option<SinkRow>> {
    Ok(sqlx::query_as!(
        SinkRow,
        "SELECT name, kind, url, address, tls, ca_file, sourcetype, hec_index, batch_max, apps,
                actions, sealed_secret, sealing_key_id, paused, paused_reason, last_error,
                last_error_at, last_success_at, delivered_total, lock_key, created_at
         FROM sinks WHERE name = $1",
        name
    )
    .fetch_optional(db)
    .await?)
}

/// Locks the sink's row until the transaction ends (management changes one at a time).
pub async fn lock(conn: &mut PgConnection, name: &str) -> StoreResult<Option<SinkRow>> {
    Ok(sqlx::query_as!(
        SinkRow,
        "SELECT name, kind, url, address, tls, ca_file, sourcetype, hec_index, batch_max, apps,
                actions, sealed_secret, sealing_key_id, paused, paused_reason, last_error,
                last_error_at, last_success_at, delivered_total, lock_key, created_at
         FROM sinks WHERE name = $1 FOR UPDATE",
        name
    )
    .fetch_optional(conn)
    .await?)
}

/// Pauses (with the reason, `None` when the operator did) or resumes a sink. A reason is also
/// the last error, in the same statement.
pub async fn set_paused(
    db: impl PgExecutor<'_>,
    name: &str,
    paused: bool,
    reason: Option<&str>,
) -> StoreResult<bool> {
    Ok(sqlx::query!(
        "UPDATE sinks SET paused = $2, paused_reason = $3,
                last_error = coalesce($3, last_error),
                last_error_at = CASE WHEN $3::text IS NULL THEN last_error_at ELSE now() END
          WHERE name = $1",
        name,
        paused,
        reason,
    )
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

pub async fn set_secret(db: impl PgExecutor<'_>, name: &str, sealed: &Sealed) -> StoreResult<()> {
    sqlx::query!(
        "UPDATE sinks SET sealed_secret = $2, sealing_key_id = $3 WHERE name = $1",
        name,
        &sealed.blob,
        &sealed.key_id,
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn delete(db: impl PgExecutor<'_>, name: &str) -> StoreResult<bool> {
    Ok(sqlx::query!("DELETE FROM sinks WHERE name = $1", name)
        .execute(db)
        .await?
        .rows_affected()
        == 1)
}

/// A failed attempt: its reason and time.
pub async fn record_error(db: impl PgExecutor<'_>, name: &str, error: &str) -> StoreResult<()> {
    sqlx::query!(
        "UPDATE sinks SET last_error = $2, last_error_at = now() WHERE name = $1",
        name,
        error,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Applications that exist, among `apps` (`None`: all), in id order. Operator-wide by design:
/// a sink may cover every application.
pub async fn covered_apps(
    db: impl PgExecutor<'_>,
    apps: Option<&[String]>,
) -> StoreResult<Vec<String>> {
    Ok(sqlx::query_scalar!(
        "SELECT app_id FROM apps WHERE $1::text[] IS NULL OR app_id = ANY($1) ORDER BY app_id",
        apps,
    )
    .fetch_all(db)
    .await?)
}

/// Starts a new sink's cursors at the current chain heads of the applications it covers (so
/// it delivers what happens from now on: events after the head, checkpoints signed after the
/// latest one), or at 0 (`from_beginning`: the whole logs and every stored checkpoint).
pub async fn init_cursors(
    conn: &mut PgConnection,
    name: &str,
    apps: Option<&[String]>,
    from_beginning: bool,
) -> StoreResult<()> {
    sqlx::query!(
        "INSERT INTO sink_cursors (app_id, sink_name, delivered_seq, delivered_checkpoint)
         SELECT h.app_id, $1, CASE WHEN $3 THEN 0 ELSE h.seq END,
                CASE WHEN $3 THEN 0 ELSE coalesce((SELECT max(k.tree_size) FROM audit_checkpoints k
                                                    WHERE k.app_id = h.app_id), 0) END
           FROM audit_heads h
          WHERE $2::text[] IS NULL OR h.app_id = ANY($2)",
        name,
        apps,
        from_beginning,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// One application's place in a sink: the cursors and the chain head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppProgress {
    pub app_id: String,
    pub delivered_seq: i64,
    pub head_seq: i64,
    /// Every checkpoint up to this tree size was delivered (or passed).
    pub delivered_checkpoint: i64,
    /// The size of the application's newest checkpoint (0: none).
    pub latest_checkpoint: i64,
    /// The hash and time of the event at `delivered_seq` when the cursor moved there.
    pub delivered_hash: Option<Vec<u8>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The hash of the event at `delivered_seq` now (when `delivered_hash` is known and the
    /// event is still stored).
    pub hash_at_cursor: Option<Vec<u8>>,
}

impl AppProgress {
    /// The log no longer holds what the cursor says was delivered: the head is below the
    /// cursor, or another event stands at its revision (a failover lost the last events and
    /// new ones took their revisions). A pruned event at the cursor is not a rewrite.
    pub fn log_rewritten(&self) -> bool {
        self.delivered_seq > self.head_seq
            || matches!((&self.delivered_hash, &self.hash_at_cursor), (Some(a), Some(b)) if a != b)
    }
}

/// Every covered application's cursors and head (`behind_only`: only those with events or
/// checkpoints left — checkpoints only when `checkpoints` — or whose log was rewritten under
/// the cursor). Operator-wide by design (see the module docs).
pub async fn progress(
    db: impl PgExecutor<'_>,
    name: &str,
    apps: Option<&[String]>,
    behind_only: bool,
    checkpoints: bool,
) -> StoreResult<Vec<AppProgress>> {
    Ok(sqlx::query!(
        r#"SELECT p.app_id AS "app_id!", p.delivered_seq AS "delivered_seq!",
                  p.head_seq AS "head_seq!", p.delivered_checkpoint AS "delivered_checkpoint!",
                  p.latest_checkpoint AS "latest_checkpoint!", p.delivered_hash,
                  p.delivered_at, p.hash_at_cursor
             FROM (SELECT h.app_id, coalesce(c.delivered_seq, 0) AS delivered_seq,
                          h.seq AS head_seq,
                          coalesce(c.delivered_checkpoint, 0) AS delivered_checkpoint,
                          coalesce((SELECT max(k.tree_size) FROM audit_checkpoints k
                                     WHERE k.app_id = h.app_id), 0) AS latest_checkpoint,
                          c.delivered_hash, c.delivered_at,
                          CASE WHEN c.delivered_hash IS NOT NULL THEN
                            (SELECT e.hash FROM audit_events e
                              WHERE e.app_id = h.app_id AND e.seq = c.delivered_seq) END
                            AS hash_at_cursor
                     FROM audit_heads h
                     LEFT JOIN sink_cursors c ON c.app_id = h.app_id AND c.sink_name = $1
                    WHERE $2::text[] IS NULL OR h.app_id = ANY($2)) p
            WHERE NOT $3 OR p.head_seq <> p.delivered_seq
               OR ($4 AND p.latest_checkpoint > p.delivered_checkpoint)
               OR p.hash_at_cursor <> p.delivered_hash
            ORDER BY p.app_id"#,
        name,
        apps,
        behind_only,
        checkpoints,
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| AppProgress {
        app_id: r.app_id,
        delivered_seq: r.delivered_seq,
        head_seq: r.head_seq,
        delivered_checkpoint: r.delivered_checkpoint,
        latest_checkpoint: r.latest_checkpoint,
        delivered_hash: r.delivered_hash,
        delivered_at: r.delivered_at,
        hash_at_cursor: r.hash_at_cursor,
    })
    .collect())
}

/// Where the event cursor moves to: the last event of a chunk sent (or passed).
pub struct CursorMove<'a> {
    pub from: i64,
    pub to: i64,
    /// The hash and time of the event at `to`.
    pub hash: &'a [u8],
    pub at: DateTime<Utc>,
    /// Events the receiver acknowledged in this move.
    pub delivered: i64,
}

/// Moves an application's cursor after the receiver acknowledged, only if it is still at
/// `m.from` (a concurrent `rewind` wins: the worker reads again from there). Also counts the
/// delivered events and the time of success. `false`: the cursor had moved.
pub async fn advance(
    conn: &mut PgConnection,
    app_id: &str,
    name: &str,
    m: CursorMove<'_>,
) -> StoreResult<bool> {
    // One statement, so a reader never sees the cursor moved without the count.
    let row = sqlx::query!(
        r#"WITH moved AS (
             INSERT INTO sink_cursors AS c (app_id, sink_name, delivered_seq, delivered_hash, delivered_at)
             VALUES ($1, $2, $4, $6, $7)
             ON CONFLICT (app_id, sink_name) DO UPDATE
                SET delivered_seq = $4, delivered_hash = $6, delivered_at = $7, updated_at = now()
              WHERE c.delivered_seq = $3
             RETURNING 1),
           counted AS (
             UPDATE sinks SET delivered_total = delivered_total + $5::bigint, last_success_at = now(),
                    last_error = NULL, last_error_at = NULL
              WHERE name = $2 AND $5::bigint > 0 AND EXISTS (SELECT 1 FROM moved)
             RETURNING 1)
         SELECT (SELECT count(*) FROM moved) AS "moved!", (SELECT count(*) FROM counted) AS "counted!""#,
        app_id,
        name,
        m.from,
        m.to,
        m.delivered,
        m.hash,
        m.at,
    )
    .fetch_one(&mut *conn)
    .await?;
    let moved = row.moved == 1 && (m.delivered == 0 || row.counted == 1);
    Ok(moved)
}

/// Moves an application's checkpoint cursor from `from` to `to` (a tree size) after the
/// receiver acknowledged (or the filter passed it), only if it is still at `from` and the
/// event cursor has not been moved back meanwhile. `false`: something moved it.
pub async fn advance_checkpoint(
    conn: &mut PgConnection,
    app_id: &str,
    name: &str,
    from: i64,
    to: i64,
    delivered: bool,
) -> StoreResult<bool> {
    let row = sqlx::query!(
        r#"WITH moved AS (
             UPDATE sink_cursors SET delivered_checkpoint = $4, updated_at = now()
              WHERE app_id = $1 AND sink_name = $2 AND delivered_checkpoint = $3
                AND delivered_seq >= $4
             RETURNING 1),
           counted AS (
             UPDATE sinks SET last_success_at = now(), last_error = NULL, last_error_at = NULL
              WHERE name = $2 AND $5 AND EXISTS (SELECT 1 FROM moved)
             RETURNING 1)
         SELECT (SELECT count(*) FROM moved) AS "moved!", (SELECT count(*) FROM counted) AS "counted!""#,
        app_id,
        name,
        from,
        to,
        delivered,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.moved == 1 && (!delivered || row.counted == 1))
}

/// After the log was rewritten under the cursor (see [`AppProgress::log_rewritten`]): moves the
/// cursor back from `from` to `to` (and the checkpoint cursor no further than it), forgetting
/// the delivered event's hash, only if the cursor is still at `from`.
pub async fn move_back(
    conn: &mut PgConnection,
    app_id: &str,
    name: &str,
    from: i64,
    to: i64,
) -> StoreResult<bool> {
    Ok(sqlx::query!(
        "UPDATE sink_cursors
            SET delivered_seq = $4, delivered_checkpoint = least(delivered_checkpoint, $4),
                delivered_hash = NULL, delivered_at = NULL, updated_at = now()
          WHERE app_id = $1 AND sink_name = $2 AND delivered_seq = $3",
        app_id,
        name,
        from,
        to.max(0),
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Places an application's cursors so that delivery resumes at `first_seq` (that event and
/// what follows are sent again, and the checkpoints of that size and larger).
pub async fn rewind_to_seq(
    db: impl PgExecutor<'_>,
    app_id: &str,
    name: &str,
    first_seq: i64,
) -> StoreResult<()> {
    sqlx::query!(
        "INSERT INTO sink_cursors AS c (app_id, sink_name, delivered_seq, delivered_checkpoint)
         VALUES ($1, $2, $3, $3)
         ON CONFLICT (app_id, sink_name) DO UPDATE
            SET delivered_seq = $3, delivered_checkpoint = $3, delivered_hash = NULL,
                delivered_at = NULL, updated_at = now()",
        app_id,
        name,
        (first_seq - 1).max(0),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The first event of an application at or after `time` (`None`: none yet; delivery then
/// resumes with the next event).
pub async fn first_seq_since(
    db: impl PgExecutor<'_>,
    app_id: &str,
    time: DateTime<Utc>,
) -> StoreResult<Option<i64>> {
    Ok(sqlx::query_scalar!(
        "SELECT seq FROM audit_events WHERE app_id = $1 AND occurred_at >= $2
         ORDER BY occurred_at, seq LIMIT 1",
        app_id,
        time,
    )
    .fetch_optional(db)
    .await?)
}

/// Non-paused sinks covering `app_id` that have not delivered its events through `through`:
/// pruning them would lose events those sinks still owe.
pub async fn owing(
    db: impl PgExecutor<'_>,
    app_id: &str,
    through: i64,
) -> StoreResult<Vec<String>> {
    Ok(sqlx::query_scalar!(
        "SELECT s.name FROM sinks s
           LEFT JOIN sink_cursors c ON c.app_id = $1 AND c.sink_name = s.name
          WHERE NOT s.paused AND (s.apps IS NULL OR $1 = ANY(s.apps))
            AND coalesce(c.delivered_seq, 0) < $2
          ORDER BY s.name",
        app_id,
        through,
    )
    .fetch_all(db)
    .await?)
}

/// Tries to become the one instance delivering the sink: a session-level advisory lock on the
/// worker's own connection (released when it ends). Keys are (class, the sink's `lock_key`).
pub async fn try_lock_delivery(conn: &mut PgConnection, lock_key: i32) -> StoreResult<bool> {
    Ok(sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_lock($1, $2) AS "locked!""#,
        LOCK_CLASS,
        lock_key
    )
    .fetch_one(conn)
    .await?)
}

/// The advisory-lock class of sink delivery (`'LKSK'` as an integer).
pub const LOCK_CLASS: i32 = 0x4c4b_534b;

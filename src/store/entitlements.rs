//! Entitlements at any moment: the materialised states (`audit_entitlement_states`, migration
//! 0060) and the audit events the reducer folds onto them (`domain::entitlements`).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use super::audit::AuditRow;
use super::StoreResult;
use crate::domain::entitlements::{EntitlementState, ACTIONS, STATE_FORMAT};

/// Why a state was stored (the `reason` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateReason {
    Periodic,
    Prune,
}

impl StateReason {
    fn as_str(self) -> &'static str {
        match self {
            StateReason::Periodic => "periodic",
            StateReason::Prune => "prune",
        }
    }
}

/// A stored state: the entitlements after event `seq`, which happened at `occurred_at`.
#[derive(Debug, Clone)]
pub struct StoredState {
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub state: EntitlementState,
}

struct StateRow {
    seq: i64,
    occurred_at: DateTime<Utc>,
    format: i16,
    state: String,
}

impl StateRow {
    /// A format this release does not read (written by a later one) is an error, not a guess.
    fn decode(self) -> StoreResult<StoredState> {
        if self.format != STATE_FORMAT {
            return Err(sqlx::Error::Decode(
                format!("entitlement state format {} unknown", self.format).into(),
            )
            .into());
        }
        let state =
            serde_json::from_str(&self.state).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        Ok(StoredState {
            seq: self.seq,
            occurred_at: self.occurred_at,
            state,
        })
    }
}

/// The last event at or before `at` (its `seq`).
pub async fn last_seq_at(
    conn: &mut PgConnection,
    app_id: &str,
    at: DateTime<Utc>,
) -> StoreResult<Option<i64>> {
    Ok(sqlx::query_scalar!(
        "SELECT seq FROM audit_events WHERE app_id = $1 AND occurred_at <= $2
         ORDER BY occurred_at DESC, seq DESC LIMIT 1",
        app_id,
        at,
    )
    .fetch_optional(conn)
    .await?)
}

/// When event `seq` happened, if it is still stored.
pub async fn event_time(
    conn: &mut PgConnection,
    app_id: &str,
    seq: i64,
) -> StoreResult<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar!(
        "SELECT occurred_at FROM audit_events WHERE app_id = $1 AND seq = $2",
        app_id,
        seq,
    )
    .fetch_optional(conn)
    .await?)
}

/// The latest stored state of a moment at or before `at`.
pub async fn state_at_time(
    conn: &mut PgConnection,
    app_id: &str,
    at: DateTime<Utc>,
) -> StoreResult<Option<StoredState>> {
    sqlx::query_as!(
        StateRow,
        // The row is chosen in a subquery first: with the state in the outer select list,
        // PostgreSQL detoasted and converted the state of every row at or before `at` before
        // sorting them (2.9 s for 90 states of 4 MB; 43 ms this way).
        r#"SELECT seq, occurred_at, format, state::text AS "state!"
             FROM audit_entitlement_states
            WHERE app_id = $1
              AND seq = (SELECT seq FROM audit_entitlement_states
                          WHERE app_id = $1 AND occurred_at <= $2
                          ORDER BY seq DESC LIMIT 1)"#,
        app_id,
        at,
    )
    .fetch_optional(conn)
    .await?
    .map(StateRow::decode)
    .transpose()
}

/// The latest stored state after an event at or before `seq`.
pub async fn state_at_seq(
    conn: &mut PgConnection,
    app_id: &str,
    seq: i64,
) -> StoreResult<Option<StoredState>> {
    sqlx::query_as!(
        StateRow,
        r#"SELECT seq, occurred_at, format, state::text AS "state!"
             FROM audit_entitlement_states WHERE app_id = $1 AND seq <= $2
            ORDER BY seq DESC LIMIT 1"#,
        app_id,
        seq,
    )
    .fetch_optional(conn)
    .await?
    .map(StateRow::decode)
    .transpose()
}

/// Where the answerable history starts: the time of the first event when the log still
/// starts there (`seq` 1, folded from nothing), and the oldest stored state's `(seq, time)`.
pub async fn history_start(
    conn: &mut PgConnection,
    app_id: &str,
) -> StoreResult<(Option<DateTime<Utc>>, Option<(i64, DateTime<Utc>)>)> {
    let r = sqlx::query!(
        r#"SELECT (SELECT occurred_at FROM audit_events WHERE app_id = $1 AND seq = 1) AS first,
                  (SELECT seq FROM audit_entitlement_states WHERE app_id = $1
                    ORDER BY seq LIMIT 1) AS state_seq,
                  (SELECT occurred_at FROM audit_entitlement_states WHERE app_id = $1
                    ORDER BY seq LIMIT 1) AS state_time"#,
        app_id,
    )
    .fetch_one(conn)
    .await?;
    Ok((r.first, r.state_seq.zip(r.state_time)))
}

/// The events in `(after, through]` that change entitlements, in chain order, at most `limit`.
pub async fn events(
    conn: &mut PgConnection,
    app_id: &str,
    after: i64,
    through: i64,
    limit: i64,
) -> StoreResult<Vec<AuditRow>> {
    let actions: Vec<&str> = ACTIONS.iter().map(|a| a.as_str()).collect();
    Ok(sqlx::query_as!(
        AuditRow,
        r#"SELECT app_id, seq, event_id, occurred_at, actor, host(actor_ip) AS actor_ip,
                  request_id, action, target_client_id, features_before, features_after,
                  changes::text AS "changes!", prev_hash, hash
             FROM audit_events
            WHERE app_id = $1 AND seq > $2 AND seq <= $3 AND action = ANY($4)
            ORDER BY seq LIMIT $5"#,
        app_id,
        after,
        through,
        &actions as &[&str],
        limit,
    )
    .fetch_all(conn)
    .await?)
}

/// Stores the state after event `seq` (a second writer of the same state does nothing), only
/// while that event is still stored: its row is key-share locked for the insert, so a prune
/// removing it either waits for this insert (and then removes the state with the event's
/// prefix) or has removed it already (and nothing is stored). A state for a moment no longer
/// covered by the log would otherwise answer for it without the events in between.
pub async fn insert_state(
    db: impl PgExecutor<'_>,
    app_id: &str,
    seq: i64,
    occurred_at: DateTime<Utc>,
    reason: StateReason,
    state: &EntitlementState,
) -> StoreResult<bool> {
    let clients = i32::try_from(state.clients.len()).unwrap_or(i32::MAX);
    let value = serde_json::to_value(state).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    Ok(sqlx::query!(
        "INSERT INTO audit_entitlement_states (app_id, seq, occurred_at, format, reason, clients, state)
         SELECT $1, $2, $3, $4, $5, $6, $7
          WHERE EXISTS (SELECT 1 FROM audit_events WHERE app_id = $1 AND seq = $2 FOR KEY SHARE)
         ON CONFLICT (app_id, seq) DO NOTHING",
        app_id,
        seq,
        occurred_at,
        STATE_FORMAT,
        reason.as_str(),
        clients,
        value,
    )
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// Removes the states before `seq` (pruning: they describe moments no longer answered for).
pub async fn delete_states_before(
    conn: &mut PgConnection,
    app_id: &str,
    seq: i64,
) -> StoreResult<u64> {
    Ok(sqlx::query!(
        "DELETE FROM audit_entitlement_states WHERE app_id = $1 AND seq < $2",
        app_id,
        seq,
    )
    .execute(conn)
    .await?
    .rows_affected())
}

/// Applications whose log has grown by at least `every` events since their latest state (or
/// since the start, for a log that starts at its first event). Operator-wide by design: the
/// background task walks every application, like the checkpoint task.
pub async fn apps_due(db: impl PgExecutor<'_>, every: i64) -> StoreResult<Vec<String>> {
    Ok(sqlx::query_scalar!(
        r#"SELECT h.app_id AS "app_id!"
             FROM audit_heads h
             LEFT JOIN LATERAL (SELECT max(s.seq) AS seq FROM audit_entitlement_states s
                                 WHERE s.app_id = h.app_id) s ON true
            WHERE h.seq - coalesce(s.seq, 0) >= $1
            ORDER BY h.app_id"#,
        every,
    )
    .fetch_all(db)
    .await?)
}

//! Entitlements at any moment, and what changed between two (docs/audit.md "Access reviews").
//! Reconstructed from the audit log: the latest materialised state at or before the moment
//! (`audit_entitlement_states`), then the events after it folded by
//! `domain::entitlements::EntitlementState`. Reads for the application's owners and the
//! operator, on the read pool (a replica when one is configured: issue #22 sends access
//! reviews there).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{AuditService, Latchkey, RequestContext, ServiceError};
use crate::domain::audit_query::AuditInputError;
use crate::domain::entitlements::{EntitlementChange, EntitlementState, STATE_EVERY};
use crate::domain::ids::{AppId, Named};
use crate::store::{self, entitlements::StateReason};

/// Events read per query while folding.
const FOLD_BATCH: i64 = 10_000;

/// Every client of an application at `at`, as the log says it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitlementsAt {
    pub at: DateTime<Utc>,
    /// The last event at or before `at` (the state is the one after it).
    pub revision: i64,
    pub state: EntitlementState,
}

/// The changes of entitlements in `(from, to]`, in chain order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitlementChanges {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub changes: Vec<EntitlementChange>,
}

/// A state to fold onward from: the one after event `seq`.
struct Base {
    seq: i64,
    state: EntitlementState,
}

/// Refuses a moment after now.
fn not_future(
    field: &'static str,
    t: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    if t > now {
        return Err(AuditInputError::Future { field }.into());
    }
    Ok(())
}

/// The state at `at` and the revision it is the state after: the latest stored state at or
/// before `at` (or nothing, before the first event of a log that still starts there) folded
/// onward to the last event at or before `at`. A moment before the retained history is
/// refused, naming the earliest moment that can be answered for.
async fn state_at_time(
    conn: &mut PgConnection,
    app_id: &str,
    at: DateTime<Utc>,
) -> Result<Base, ServiceError> {
    let (first, oldest) = store::entitlements::history_start(conn, app_id).await?;
    let earliest = first.or(oldest.map(|(_, t)| t));
    let Some(earliest) = earliest else {
        return Err(AuditInputError::NoHistory.into());
    };
    if at < earliest {
        return Err(AuditInputError::BeforeHistory {
            earliest: crate::domain::audit::format_time(&earliest),
        }
        .into());
    }
    let mut base = match store::entitlements::state_at_time(conn, app_id, at).await? {
        Some(s) => Base {
            seq: s.seq,
            state: s.state,
        },
        None if first.is_some() => Base {
            seq: 0,
            state: EntitlementState::default(),
        },
        // Before every stored state of a log that no longer starts at its first event.
        None => {
            return Err(AuditInputError::BeforeHistory {
                earliest: crate::domain::audit::format_time(&earliest),
            }
            .into())
        }
    };
    let last = store::entitlements::last_seq_at(conn, app_id, at).await?;
    let target = last.unwrap_or(base.seq).max(base.seq);
    fold(conn, app_id, &mut base, target, None).await?;
    Ok(base)
}

/// The latest stored state after an event at or before `seq`; else, for a log that still
/// starts at its first event, nothing before it. `None`: no starting point (a log pruned before
/// states existed, up to the state migration 0060 stored).
async fn base_at_seq(
    conn: &mut PgConnection,
    app_id: &str,
    seq: i64,
) -> Result<Option<Base>, ServiceError> {
    if let Some(s) = store::entitlements::state_at_seq(&mut *conn, app_id, seq).await? {
        return Ok(Some(Base {
            seq: s.seq,
            state: s.state,
        }));
    }
    let (first, _) = store::entitlements::history_start(conn, app_id).await?;
    Ok(first.map(|_| Base {
        seq: 0,
        state: EntitlementState::default(),
    }))
}

/// Folds the events in `(base.seq, target]` onto `base`, recording the changes in `out`.
async fn fold(
    conn: &mut PgConnection,
    app_id: &str,
    base: &mut Base,
    target: i64,
    mut out: Option<&mut Vec<EntitlementChange>>,
) -> Result<(), ServiceError> {
    loop {
        let rows =
            store::entitlements::events(&mut *conn, app_id, base.seq, target, FOLD_BATCH).await?;
        let full = rows.len() as i64 == FOLD_BATCH;
        for row in rows {
            let event = row.into_stored()?.event;
            let folded = match out.as_deref_mut() {
                Some(out) => base.state.apply_recording(&event, out),
                None => base.state.apply(&event),
            };
            folded.map_err(|e| ServiceError::Internal(e.to_string()))?;
            base.seq = event.seq;
        }
        if !full {
            break;
        }
    }
    base.seq = base.seq.max(target);
    Ok(())
}

/// In a prune's transaction, before events up to `through` go: stores the state after
/// `through`, so every moment the remaining log covers keeps a starting point. Nothing is
/// stored when the state there cannot be known (a log pruned before states existed, whose
/// starting point is the state migration 0060 stored later than `through`). After the events
/// are deleted, [`drop_states_before`] removes the states they made obsolete.
pub(super) async fn keep_state_at(
    conn: &mut PgConnection,
    app_id: &str,
    through: i64,
) -> Result<(), ServiceError> {
    let Some(mut base) = base_at_seq(conn, app_id, through).await? else {
        return Ok(());
    };
    fold(conn, app_id, &mut base, through, None).await?;
    let Some(at) = store::entitlements::event_time(conn, app_id, through).await? else {
        return Ok(());
    };
    store::entitlements::insert_state(
        &mut *conn,
        app_id,
        through,
        at,
        StateReason::Prune,
        &base.state,
    )
    .await?;
    Ok(())
}

/// In a prune's transaction, after its events are deleted: the states before `through`
/// describe moments no longer answered for. (After the delete, so a state the background
/// task stores meanwhile is either removed here or refused: see `store::entitlements::
/// insert_state`.)
pub(super) async fn drop_states_before(
    conn: &mut PgConnection,
    app_id: &str,
    through: i64,
) -> Result<(), ServiceError> {
    store::entitlements::delete_states_before(conn, app_id, through).await?;
    Ok(())
}

impl AuditService<'_> {
    /// Every client of `app_id` at `at` (default: now), as it was. Owners and the operator.
    pub async fn entitlements_at(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        at: Option<DateTime<Utc>>,
    ) -> Result<EntitlementsAt, ServiceError> {
        let now = ctx.clock.now();
        let at = at.unwrap_or(now);
        not_future("at", at, now)?;
        self.reader(ctx, app_id).await?;
        // One snapshot: the states and the events agree.
        let mut tx = store::begin_snapshot(self.read_pool(app_id.as_str())).await?;
        let base = state_at_time(&mut tx, app_id.as_str(), at).await?;
        drop(tx);
        Ok(EntitlementsAt {
            at,
            revision: base.seq,
            state: base.state,
        })
    }

    /// What changed in entitlements after `from` up to and including `to` (default: now), in
    /// chain order: the changes that lead from the state at `from` to the state at `to`.
    pub async fn entitlement_changes(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        from: DateTime<Utc>,
        to: Option<DateTime<Utc>>,
    ) -> Result<EntitlementChanges, ServiceError> {
        let now = ctx.clock.now();
        let to = to.unwrap_or(now);
        not_future("from", from, now)?;
        not_future("to", to, now)?;
        if from > to {
            return Err(AuditInputError::Reversed.into());
        }
        self.reader(ctx, app_id).await?;
        let mut tx = store::begin_snapshot(self.read_pool(app_id.as_str())).await?;
        let mut base = state_at_time(&mut tx, app_id.as_str(), from).await?;
        let target = store::entitlements::last_seq_at(&mut tx, app_id.as_str(), to)
            .await?
            .unwrap_or(base.seq)
            .max(base.seq);
        let mut changes = Vec::new();
        fold(
            &mut tx,
            app_id.as_str(),
            &mut base,
            target,
            Some(&mut changes),
        )
        .await?;
        drop(tx);
        Ok(EntitlementChanges { from, to, changes })
    }

    /// Stores a state every `every` events (the task: [`STATE_EVERY`]) of every application
    /// whose log has grown that much since its latest one. Safe on several instances at once (a
    /// state that exists is not stored twice). Returns how many were stored.
    pub async fn materialise_entitlement_states(&self, every: i64) -> Result<usize, ServiceError> {
        let every = every.max(1);
        let mut made = 0;
        for app_id in store::entitlements::apps_due(self.pool, every).await? {
            made += self.materialise_app(&app_id, every).await?;
        }
        Ok(made)
    }

    async fn materialise_app(&self, app_id: &str, every: i64) -> Result<usize, ServiceError> {
        let mut tx = store::begin_snapshot(self.pool).await?;
        let Some((head, _)) = store::audit::head(&mut *tx, app_id).await? else {
            return Ok(0);
        };
        let Some(mut base) = base_at_seq(&mut tx, app_id, head).await? else {
            return Ok(0);
        };
        let mut made = 0;
        while head - base.seq >= every {
            let target = base.seq + every;
            fold(&mut tx, app_id, &mut base, target, None).await?;
            let Some(at) = store::entitlements::event_time(&mut tx, app_id, target).await? else {
                break;
            };
            let stored = store::entitlements::insert_state(
                self.pool,
                app_id,
                target,
                at,
                StateReason::Periodic,
                &base.state,
            )
            .await?;
            made += usize::from(stored);
        }
        drop(tx);
        Ok(made)
    }
}

/// The entitlement state task: every `every`, one round of
/// [`AuditService::materialise_entitlement_states`]. Runs as long as the server.
pub async fn run_entitlement_states(service: Latchkey, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match service
            .audit()
            .materialise_entitlement_states(STATE_EVERY)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::debug!(states = n, "stored entitlement states"),
            Err(e) => tracing::warn!(error = %e, "entitlement states failed; retrying"),
        }
    }
}

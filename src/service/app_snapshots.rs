//! Snapshots: save an application's whole state under a name, list, delete, and restore it so
//! that exactly what worked at save time works again (secret hashes included). Operator only.
//!
//! A restore is one transaction. It writes one `app.restore` event naming the snapshot, then
//! one event per change it makes (the same events the single-change calls write, see
//! `app_state::diff`), so a replay of the log still rebuilds the tables and the hash chain goes
//! on unbroken.

use super::app_state::{self, AppState, ChangeSummary};
use super::{
    commit, commit_audited, Committed, RequestContext, ServiceError, StagingError, StagingService,
};
use crate::domain::audit::AuditAction;
use crate::domain::audit_changes::{self as changes_of, Payload};
use crate::domain::fixture::check_snapshot_name;
use crate::domain::ids::{AppId, Named};
use crate::store::{self, WriteTx};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct SnapshotInfo {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub clients: i64,
}

impl From<store::app_snapshots::SnapshotRow> for SnapshotInfo {
    fn from(r: store::app_snapshots::SnapshotRow) -> Self {
        Self {
            name: r.name,
            created_at: r.created_at,
            clients: r.clients,
        }
    }
}

/// What a restore changed.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub snapshot: String,
    /// One per audit event, `app.restore` first.
    pub changes: Vec<ChangeSummary>,
}

impl StagingService<'_> {
    async fn snapshot_call(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        name: Option<&str>,
    ) -> Result<(), StagingError> {
        ctx.operator()?;
        if let Some(name) = name {
            check_snapshot_name(name)?;
        }
        Ok(self.apps.ensure(ctx, app_id).await?)
    }

    /// Saves the current state as `name` (replacing a snapshot of that name). Audited as
    /// `snapshot.save`.
    pub async fn save_snapshot(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        name: &str,
    ) -> Result<Committed<SnapshotInfo>, StagingError> {
        self.snapshot_call(ctx, app_id, Some(name)).await?;
        let mut tx = WriteTx::begin(self.pool).await?;
        let rows = store::app_snapshots::capture(&mut *tx, app_id.as_str()).await?;
        let (row, replaced) =
            store::app_snapshots::save(&mut *tx, app_id.as_str(), name, &rows).await?;
        let mut event = ctx.audit_event(app_id.as_str(), AuditAction::SnapshotSave);
        event.changes = changes_of::SnapshotSaved {
            snapshot: name,
            replaced,
            clients: row.clients,
        }
        .into_changes();
        Ok(commit_audited(tx, event, row.into()).await?)
    }

    pub async fn list_snapshots(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
    ) -> Result<Vec<SnapshotInfo>, StagingError> {
        self.snapshot_call(ctx, app_id, None).await?;
        Ok(store::app_snapshots::list(self.pool, app_id.as_str())
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Deletes a snapshot. Audited as `snapshot.delete`.
    pub async fn delete_snapshot(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        name: &str,
    ) -> Result<Committed<()>, StagingError> {
        self.snapshot_call(ctx, app_id, Some(name)).await?;
        let mut tx = WriteTx::begin(self.pool).await?;
        if !store::app_snapshots::delete(&mut *tx, app_id.as_str(), name).await? {
            return Err(StagingError::SnapshotNotFound);
        }
        let mut event = ctx.audit_event(app_id.as_str(), AuditAction::SnapshotDelete);
        event.changes = changes_of::SnapshotDeleted { snapshot: name }.into_changes();
        Ok(commit_audited(tx, event, ()).await?)
    }

    /// Puts the application back into the state saved as `name`.
    pub async fn restore_snapshot(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        name: &str,
    ) -> Result<Committed<RestoreReport>, StagingError> {
        self.snapshot_call(ctx, app_id, Some(name)).await?;
        let mut tx = WriteTx::begin(self.pool).await?;
        if !store::app_snapshots::lock_app(&mut *tx, app_id.as_str()).await? {
            return Err(ServiceError::AppNotFound.into());
        }
        let saved = store::app_snapshots::load(&mut *tx, app_id.as_str(), name)
            .await?
            .ok_or(StagingError::SnapshotNotFound)?;
        let current = store::app_snapshots::capture(&mut *tx, app_id.as_str()).await?;
        let changes = app_state::diff(&AppState::from_rows(&current), &AppState::from_rows(&saved));
        let mut restore = ctx.audit_event(app_id.as_str(), AuditAction::AppRestore);
        restore.changes = changes_of::Restored {
            snapshot: name,
            changes: changes.len(),
        }
        .into_changes();
        let events: Vec<_> = std::iter::once(restore)
            .chain(changes.iter().map(|c| c.event(ctx, app_id.as_str())))
            .collect();
        let report = RestoreReport {
            snapshot: name.to_owned(),
            changes: events.iter().map(ChangeSummary::of).collect(),
        };
        // Nothing differs (the secrets' last use aside): the rows stay as they are.
        if !changes.is_empty() {
            store::app_snapshots::restore(&mut tx, app_id.as_str(), &saved, &current).await?;
        }
        // Last in the transaction: the chain head stays locked only briefly.
        store::audit::append_all(&mut tx, events).await?;
        Ok(commit(tx, report).await?)
    }
}

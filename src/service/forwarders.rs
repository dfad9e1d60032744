//! `Latchkey` methods of areas that moved to their own struct, kept only for callers outside
//! this pass's reach: the command line's `src/main.rs` (`apps create|set|list`, `keys rotate`,
//! the first start's `default` application) and the restore benchmark
//! (`bench/staging/restore.rs`). Each forwards to the area's method and adds nothing; delete
//! this file once those call `service.apps()` and `service.staging()` themselves.

use serde_json::Value;

use super::{
    AppOptions, AppSummary, ApplyOptions, ApplyReport, AppsError, Committed, CreatedClient,
    Latchkey, NewApp, RequestContext, ResealReport, RestoreReport, ServiceError, SnapshotInfo,
    StagingError,
};
use crate::domain::ids::{AppId, Named};

impl Latchkey {
    /// `apps().create` (`src/main.rs`, the benchmark).
    pub async fn create_app(
        &self,
        ctx: &RequestContext,
        new: NewApp,
    ) -> Result<Committed<(AppSummary, CreatedClient)>, AppsError> {
        self.apps().create(ctx, new).await
    }

    /// `apps().list` (`src/main.rs`).
    pub async fn list_apps(&self, ctx: &RequestContext) -> Result<Vec<AppSummary>, ServiceError> {
        self.apps().list(ctx).await
    }

    /// `apps().set_options` (`src/main.rs`).
    pub async fn set_app_options(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        options: AppOptions,
    ) -> Result<Committed<AppSummary>, ServiceError> {
        self.apps().set_options(ctx, app_id, options).await
    }

    /// `apps().reseal_secrets` (`src/main.rs`).
    pub async fn reseal_secrets(&self, ctx: &RequestContext) -> Result<ResealReport, ServiceError> {
        self.apps().reseal_secrets(ctx).await
    }

    /// `staging().apply_fixture` (the benchmark).
    pub async fn apply_fixture(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        doc: &Value,
        options: ApplyOptions,
    ) -> Result<Committed<ApplyReport>, StagingError> {
        self.staging()
            .apply_fixture(ctx, app_id, doc, options)
            .await
    }

    /// `staging().save_snapshot` (the benchmark).
    pub async fn save_snapshot(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        name: &str,
    ) -> Result<Committed<SnapshotInfo>, StagingError> {
        self.staging().save_snapshot(ctx, app_id, name).await
    }

    /// `staging().restore_snapshot` (the benchmark).
    pub async fn restore_snapshot(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        name: &str,
    ) -> Result<Committed<RestoreReport>, StagingError> {
        self.staging().restore_snapshot(ctx, app_id, name).await
    }
}

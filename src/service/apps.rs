use chrono::{DateTime, Utc};

use super::{commit, AppsError, Committed, CreatedClient, Latchkey, RequestContext, ServiceError};
use crate::domain::audit::AuditAction;
use crate::domain::audit_changes::{self as changes_of, Payload};
use crate::domain::ids::{AppId, Named};
use crate::domain::{ClientName, Feature, FeatureSet, Region};
use crate::store::{self, Constraint, StoreError, WriteTx};

#[derive(Debug, Clone, Default)]
pub struct NewApp {
    pub name: String,
    pub region: String,
    /// A pinned id (a staging replica keeps the vendor's); `None`: a new random one. Parsed
    /// by the adapter; a malformed one is refused (`InvalidId`) here, after the checks the
    /// contract puts first (operator, name, region, sealing key).
    pub app_id: Option<Named<AppId>>,
    /// Check `janrain-signed` requests (secrets are also kept sealed).
    pub signed_requests: bool,
    /// Show secrets to owners in reads, as the vendor does (secrets are also kept sealed).
    pub show_secrets: bool,
}

#[derive(Debug, Clone)]
pub struct AppSummary {
    pub app_id: String,
    pub name: String,
    pub region: String,
    pub created_at: DateTime<Utc>,
    pub signed_requests: bool,
    pub show_secrets: bool,
}

impl From<store::apps::AppRow> for AppSummary {
    fn from(r: store::apps::AppRow) -> Self {
        Self {
            app_id: r.app_id,
            name: r.name,
            region: r.region,
            created_at: r.created_at,
            signed_requests: r.signed_requests,
            show_secrets: r.show_secrets,
        }
    }
}

/// The name of the client every new application starts with.
pub const FIRST_OWNER_NAME: &str = "owner";

impl Latchkey {
    /// Creates an application and its first client (features `["owner"]`). Operator only.
    pub async fn create_app(
        &self,
        ctx: &RequestContext,
        new: NewApp,
    ) -> Result<Committed<(AppSummary, CreatedClient)>, AppsError> {
        ctx.operator()?;
        let name = ClientName::parse(&new.name)?;
        let region: Region = new.region.parse()?;
        let sealing = new.signed_requests || new.show_secrets;
        if sealing && self.sealer.is_none() {
            return Err(ServiceError::SealingKeyMissing.into());
        }
        let app_id = match new.app_id {
            Some(Named::Id(id)) => id.into_string(),
            Some(Named::Malformed(_)) => return Err(AppsError::InvalidId),
            None => crate::auth::random::new_app_id(),
        };
        let mut tx = WriteTx::begin(&self.pool).await?;
        let mut app = store::apps::insert(&mut *tx, &app_id, name.as_str(), region.as_str())
            .await
            .map_err(|e| match e {
                StoreError::Duplicate(Constraint::AppId) => AppsError::DuplicateId {
                    app_id: app_id.clone(),
                },
                StoreError::Duplicate(_) | StoreError::UniqueViolation { .. } => {
                    AppsError::DuplicateName {
                        name: name.as_str().to_owned(),
                    }
                }
                other => other.into(),
            })?;
        if sealing {
            // Before the first owner is created, so its secret is sealed too.
            app = store::apps::set_options(
                &mut *tx,
                &app_id,
                Some(new.signed_requests),
                Some(new.show_secrets),
            )
            .await?
            .ok_or(ServiceError::AppNotFound)?;
        }
        store::audit::init_chain(&mut *tx, &app_id).await?;
        let mut event = ctx.audit_event(&app_id, AuditAction::AppCreate);
        event.changes = changes_of::AppCreated {
            name: &app.name,
            region: &app.region,
            signed_requests: app.signed_requests,
            show_secrets: app.show_secrets,
        }
        .into_changes();
        store::audit::append(&mut tx, event).await?;
        let owner = self
            .insert_client(
                &mut tx,
                ctx,
                &app_id,
                ClientName::parse(FIRST_OWNER_NAME)?,
                FeatureSet::of(&[Feature::Owner]),
                Default::default(),
            )
            .await?;
        Ok(commit(tx, (app.into(), owner)).await?)
    }

    pub async fn list_apps(&self, ctx: &RequestContext) -> Result<Vec<AppSummary>, ServiceError> {
        ctx.operator()?;
        Ok(store::apps::list(&self.pool)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub async fn get_app(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
    ) -> Result<AppSummary, ServiceError> {
        ctx.operator()?;
        store::apps::get(&self.pool, app_id.as_str())
            .await?
            .map(Into::into)
            .ok_or(ServiceError::AppNotFound)
    }

    /// Operator requests name any application, so check it exists (clients were already tied
    /// to theirs by authentication).
    pub(crate) async fn ensure_app(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
    ) -> Result<(), ServiceError> {
        match &ctx.caller {
            super::Caller::Operator => {
                // A malformed id names no application: no query needed to say so.
                let Some(app_id) = app_id.id() else {
                    return Err(ServiceError::AppNotFound);
                };
                let app_id = app_id.as_str();
                if !self.app_known(app_id) && store::apps::get(&self.pool, app_id).await?.is_none()
                {
                    return Err(ServiceError::AppNotFound);
                }
                Ok(())
            }
            super::Caller::Client { app_id: own, .. } if app_id.id() == Some(own) => Ok(()),
            super::Caller::Client { .. } => Err(ServiceError::Unauthenticated),
        }
    }
}

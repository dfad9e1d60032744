use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{
    commit, AppsError, ClientsError, ClientsService, Committed, CreatedClient, Latchkey,
    RequestContext, ServiceError,
};
use crate::auth::sealing::KeyRing;
use crate::cache::Snapshots;
use crate::domain::audit::AuditAction;
use crate::domain::audit_changes::{self as changes_of, Payload};
use crate::domain::ids::{AppId, Named};
use crate::domain::{ClientName, Feature, FeatureSet, Region};
use crate::store::{self, Constraint, StoreError, WriteTx};

/// An application to create, as the caller sent it (the adapter checked the JSON types and
/// parsed a pinned id into a [`Named`]); its values are checked by [`NewApp::validate`].
#[derive(Debug, Clone, Default)]
pub struct NewApp {
    pub name: String,
    pub region: String,
    /// A pinned id (a staging replica keeps the vendor's); `None`: a new random one.
    pub app_id: Option<Named<AppId>>,
    /// Check `janrain-signed` requests (secrets are also kept sealed).
    pub signed_requests: bool,
    /// Show secrets to owners in reads, as the vendor does (secrets are also kept sealed).
    pub show_secrets: bool,
}

/// A [`NewApp`] whose values are checked: what `apps().create` writes.
#[derive(Debug, Clone)]
pub struct CheckedApp {
    pub name: ClientName,
    pub region: Region,
    /// `None`: a new random one.
    pub app_id: Option<AppId>,
    pub signed_requests: bool,
    pub show_secrets: bool,
}

impl CheckedApp {
    /// Whether the application keeps its secrets sealed (either option needs the key).
    pub fn seals(&self) -> bool {
        self.signed_requests || self.show_secrets
    }
}

impl NewApp {
    /// The one check of a new application's values, in the order the contract answers them:
    /// name, region, the sealing key (`can_seal`: this server has one) when an option needs
    /// it, the pinned id (the first bad one is the error). It runs in the service, right after the operator
    /// check, rather than in the adapters: three callers build one (`POST /apps`, the
    /// console's applications page, `latchkey apps create`), the operator check comes first,
    /// and a malformed pinned id is refused only after the sealing key (CONTRIBUTING.md,
    /// "Typed ids, typed commands").
    pub fn validate(&self, can_seal: bool) -> Result<CheckedApp, AppsError> {
        let name = ClientName::parse(&self.name)?;
        let region: Region = self.region.parse()?;
        if (self.signed_requests || self.show_secrets) && !can_seal {
            return Err(ServiceError::SealingKeyMissing.into());
        }
        let app_id = match &self.app_id {
            Some(Named::Id(id)) => Some(id.clone()),
            Some(Named::Malformed(_)) => return Err(AppsError::InvalidId),
            None => None,
        };
        Ok(CheckedApp {
            name,
            region,
            app_id,
            signed_requests: self.signed_requests,
            show_secrets: self.show_secrets,
        })
    }
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

/// The application use cases, reached as `service.apps()`: creating, listing and reading
/// applications, their options (`set_options`) and re-sealing every sealed value under the
/// current key (`reseal_secrets`). Operator only. They hold the pool, the sealing key ring
/// (whether an option that seals may be switched on; what `reseal_secrets` re-seals with) and
/// the clients area (a new application's first owner is made by `clients().insert`); not the
/// application check (the operator names any application, and these read the row itself), nor
/// the snapshots.
#[derive(Clone)]
pub struct AppsService<'a> {
    pub(super) pool: &'a PgPool,
    pub(super) sealer: Option<&'a KeyRing>,
    clients: ClientsService<'a>,
}

impl Latchkey {
    /// The applications area (applications, their options, re-sealing).
    pub fn apps(&self) -> AppsService<'_> {
        AppsService {
            pool: &self.pool,
            sealer: self.sealer.as_deref(),
            clients: self.clients(),
        }
    }

    /// See [`AppDirectory::ensure`].
    pub(crate) async fn ensure_app(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
    ) -> Result<(), ServiceError> {
        self.directory.ensure(ctx, app_id).await
    }
}

impl AppsService<'_> {
    /// Creates an application and its first client (features `["owner"]`). Operator only.
    pub async fn create(
        &self,
        ctx: &RequestContext,
        new: NewApp,
    ) -> Result<Committed<(AppSummary, CreatedClient)>, AppsError> {
        ctx.operator()?;
        let new = new.validate(self.sealer.is_some())?;
        let app_id = match &new.app_id {
            Some(id) => id.as_str().to_owned(),
            None => crate::auth::random::new_app_id(),
        };
        let mut tx = WriteTx::begin(self.pool).await?;
        let mut app =
            store::apps::insert(&mut *tx, &app_id, new.name.as_str(), new.region.as_str())
                .await
                .map_err(|e| match e {
                    StoreError::Duplicate(Constraint::AppId) => AppsError::DuplicateId {
                        app_id: app_id.clone(),
                    },
                    StoreError::Duplicate(_) | StoreError::UniqueViolation { .. } => {
                        AppsError::DuplicateName {
                            name: new.name.as_str().to_owned(),
                        }
                    }
                    other => other.into(),
                })?;
        if new.seals() {
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
            .clients
            .insert(
                &mut tx,
                ctx,
                &app_id,
                ClientName::parse(FIRST_OWNER_NAME)?,
                FeatureSet::of(&[Feature::Owner]),
                Default::default(),
            )
            .await
            .map_err(|e| match e {
                ClientsError::Service(e) => AppsError::Service(e),
                // A new application has no client whose name its first owner could take.
                other => ServiceError::Internal(other.to_string()).into(),
            })?;
        Ok(commit(tx, (app.into(), owner)).await?)
    }

    pub async fn list(&self, ctx: &RequestContext) -> Result<Vec<AppSummary>, ServiceError> {
        ctx.operator()?;
        Ok(store::apps::list(self.pool)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub async fn get(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
    ) -> Result<AppSummary, ServiceError> {
        ctx.operator()?;
        store::apps::get(self.pool, app_id.as_str())
            .await?
            .map(Into::into)
            .ok_or(ServiceError::AppNotFound)
    }
}

/// Whether a request may use the application it names, and whether that exists: the check
/// every area's use cases make after the caller's role. It holds only what that needs: the
/// pool and this instance's snapshots (an application a revision was heard of exists:
/// applications are never deleted).
#[derive(Clone)]
pub(crate) struct AppDirectory {
    pool: PgPool,
    snapshots: Arc<Snapshots>,
}

impl AppDirectory {
    pub(crate) fn new(pool: PgPool, snapshots: Arc<Snapshots>) -> Self {
        Self { pool, snapshots }
    }

    /// Operator requests name any application, so check it exists (clients were already tied
    /// to theirs by authentication).
    pub(crate) async fn ensure(
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
                if !self.known(app_id) && store::apps::get(&self.pool, app_id).await?.is_none() {
                    return Err(ServiceError::AppNotFound);
                }
                Ok(())
            }
            super::Caller::Client { app_id: own, .. } if app_id.id() == Some(own) => Ok(()),
            super::Caller::Client { .. } => Err(ServiceError::Unauthenticated),
        }
    }

    /// Known to exist without asking the database: a revision of it was seen while listening.
    fn known(&self, app_id: &str) -> bool {
        self.snapshots.trusted() && self.snapshots.latest(app_id) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_app(name: &str, region: &str, app_id: Option<&str>, sealed: bool) -> NewApp {
        NewApp {
            name: name.into(),
            region: region.into(),
            app_id: app_id.map(Named::parse),
            signed_requests: sealed,
            show_secrets: false,
        }
    }

    fn refusal(new: NewApp, can_seal: bool) -> String {
        new.validate(can_seal).unwrap_err().to_string()
    }

    #[test]
    fn a_new_app_is_checked_name_region_sealing_key_then_id() {
        let bad_name = ClientName::parse("").unwrap_err().to_string();
        let bad_region = "nowhere".parse::<Region>().unwrap_err().to_string();
        let no_key = ServiceError::SealingKeyMissing.to_string();
        let bad_id = AppsError::InvalidId.to_string();
        assert_eq!(
            refusal(new_app("", "nowhere", Some("x"), true), false),
            bad_name
        );
        assert_eq!(
            refusal(new_app("a", "nowhere", Some("x"), true), false),
            bad_region
        );
        assert_eq!(refusal(new_app("a", "eu", Some("x"), true), false), no_key);
        assert_eq!(refusal(new_app("a", "eu", Some("x"), true), true), bad_id);
        assert_eq!(refusal(new_app("a", "eu", Some("x"), false), false), bad_id);
    }

    #[test]
    fn a_checked_app_holds_typed_values() {
        let id = "a".repeat(crate::domain::ids::APP_ID_LEN);
        let checked = new_app("shop", "eu", Some(&id), true)
            .validate(true)
            .unwrap();
        assert_eq!(checked.name.as_str(), "shop");
        assert_eq!(checked.region, Region::Eu);
        assert_eq!(
            checked.app_id.as_ref().map(AppId::as_str),
            Some(id.as_str())
        );
        assert!(checked.seals());
        let random = new_app("shop", "us", None, false).validate(false).unwrap();
        assert!(random.app_id.is_none() && !random.seals());
    }
}

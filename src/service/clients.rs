//! API clients: create, read, change, delete, rotate secrets.

use std::sync::Arc;

use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use super::apps::AppDirectory;
use super::replica::{self, Replica};
use super::sealing::SecretMint;
use super::{
    commit, commit_audited, ClientsError, Committed, DuplicateClientName, Latchkey, RequestContext,
    ServiceError,
};
use crate::auth::random;
use crate::auth::secrets::{new_secret_besides, shares_selector};
use crate::cache::{Freshness, Snapshots};
use crate::domain::audit::AuditAction;
use crate::domain::audit_changes::{self as changes_of, Payload};
use crate::domain::client::hours_to_live;
use crate::domain::ids::{AppId, ClientId, Named};
use crate::domain::{AllowList, ClientName, Feature, FeatureSet, ValidationError};
use crate::store::{
    self, clients::ClientRow, clients::ClientValues, Constraint, StoreError, WriteTx,
};

/// A client to create, as the caller sent it (JSON types already checked by the adapter; the
/// values are checked by [`ClientDraft::validate`]).
#[derive(Debug, Clone, Default)]
pub struct ClientDraft {
    pub name: String,
    pub features: Vec<String>,
    /// `None`: the default, `["0.0.0.0/0"]`.
    pub ip_whitelist: Option<Vec<String>>,
}

/// A [`ClientDraft`] whose values are checked.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub name: ClientName,
    pub features: FeatureSet,
    pub allow_list: AllowList,
}

impl ClientDraft {
    /// The one check of a draft's values, in the order the contract answers them: name, allow
    /// list, features (the first bad one is the error). It runs in the service, first in the
    /// use case, rather than in each adapter: the three surfaces that create clients (Config
    /// API, Registration API, console) then cannot disagree on that order, and it still comes
    /// before the owner check, as the vendor's does (CONTRIBUTING.md, "Typed inputs").
    pub fn validate(&self) -> Result<NewClient, ValidationError> {
        let name = ClientName::parse(&self.name)?;
        let allow_list = match &self.ip_whitelist {
            Some(entries) => AllowList::parse(entries)?,
            None => AllowList::default(),
        };
        Ok(NewClient {
            name,
            allow_list,
            features: FeatureSet::parse(&self.features)?,
        })
    }
}

/// A change to a client; `None` keeps the field as it is. A Config API PUT sets all three.
#[derive(Debug, Clone, Default)]
pub struct ClientChange {
    pub name: Option<String>,
    pub features: Option<Vec<String>>,
    pub ip_whitelist: Option<Vec<String>>,
}

/// A [`ClientChange`] whose values are checked.
#[derive(Debug, Clone, Default)]
pub struct ClientEdit {
    pub name: Option<ClientName>,
    pub features: Option<FeatureSet>,
    pub allow_list: Option<AllowList>,
}

impl ClientChange {
    /// As [`ClientDraft::validate`], for the fields given.
    pub fn validate(&self) -> Result<ClientEdit, ValidationError> {
        let name = self.name.as_deref().map(ClientName::parse).transpose()?;
        let allow_list = self
            .ip_whitelist
            .as_deref()
            .map(AllowList::parse)
            .transpose()?;
        Ok(ClientEdit {
            name,
            allow_list,
            features: self
                .features
                .as_deref()
                .map(FeatureSet::parse)
                .transpose()?,
        })
    }
}

/// A client as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientView {
    pub app_id: String,
    pub client_id: String,
    pub name: String,
    pub features: Vec<String>,
    pub ip_whitelist: Vec<String>,
    pub version: i64,
}

/// A client with the secret just minted for it: shown once, never stored in clear.
#[derive(Debug, Clone)]
pub struct CreatedClient {
    pub client: ClientView,
    pub secret: String,
}

impl ClientView {
    /// A listed client (from the instance's snapshot or the database).
    fn listed(app_id: &str, r: &store::clients::ListedClient) -> Self {
        Self {
            app_id: app_id.to_owned(),
            client_id: r.client_id.clone(),
            name: r.name.clone(),
            features: FeatureSet::from_stored(&r.features).names(),
            ip_whitelist: r.ip_whitelist.iter().map(|n| n.to_string()).collect(),
            version: r.version,
        }
    }
}

impl From<&ClientRow> for ClientView {
    fn from(r: &ClientRow) -> Self {
        Self {
            app_id: r.app_id.clone(),
            client_id: r.client_id.clone(),
            name: r.name.clone(),
            features: FeatureSet::from_stored(&r.features).names(),
            ip_whitelist: r.ip_whitelist.iter().map(|n| n.to_string()).collect(),
            version: r.version,
        }
    }
}

/// For `map_err` on a client's insert or update: a taken name is [`DuplicateClientName`] (for
/// the client use cases and the staging toolkit alike).
pub(crate) fn duplicate_name<E>(name: &str) -> impl FnOnce(StoreError) -> E + '_
where
    E: From<DuplicateClientName> + From<StoreError>,
{
    move |e| match e {
        StoreError::Duplicate(Constraint::ClientName) => DuplicateClientName {
            name: name.to_owned(),
        }
        .into(),
        other => other.into(),
    }
}

/// The `client.*` payload: each field that differs.
pub(crate) fn diff(before: Option<&ClientView>, after: Option<&ClientView>) -> Value {
    fn fields(c: &ClientView) -> changes_of::ClientFields<'_> {
        changes_of::ClientFields {
            name: &c.name,
            ip_whitelist: &c.ip_whitelist,
        }
    }
    changes_of::ClientChanged::of(before.map(fields), after.map(fields)).into_changes()
}

/// The client use cases, reached as `service.clients()`: listing, creating, changing and
/// deleting clients and rotating their secrets. They hold the pool, the application check, the
/// snapshots and the read replica (a listing is read from either), what mints and stores a
/// secret ([`SecretMint`]), and the operator's name (the rules' messages name it); not the
/// sealing key ring itself, nor the verified-credential cache.
#[derive(Clone)]
pub struct ClientsService<'a> {
    pool: &'a PgPool,
    apps: &'a AppDirectory,
    snapshots: &'a Snapshots,
    replica: Option<&'a Replica>,
    secrets: SecretMint<'a>,
    operator_name: &'a Arc<str>,
}

impl Latchkey {
    /// The clients area (API clients and their secrets).
    pub fn clients(&self) -> ClientsService<'_> {
        ClientsService {
            pool: &self.pool,
            apps: &self.directory,
            snapshots: &self.snapshots,
            replica: self.replica.as_deref(),
            secrets: self.secret_mint(),
            operator_name: &self.operator_name,
        }
    }
}

impl<'a> ClientsService<'a> {
    /// One client, at least as fresh as the caller's last write (`ctx.read_at_least`): from
    /// this instance's snapshot, or the database when the snapshots are not trusted.
    pub async fn get(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        client_id: &Named<ClientId>,
    ) -> Result<ClientView, ServiceError> {
        ctx.owner()?;
        self.apps.ensure(ctx, app_id).await?;
        // A malformed id names no client: no query needed to say so.
        let Some(client_id) = client_id.id() else {
            return Err(ServiceError::ClientNotFound);
        };
        let (app_id, client_id) = (app_id.as_str(), client_id.as_str());
        let row = if self.snapshots.trusted() {
            let freshness = ctx
                .read_at_least
                .map_or(Freshness::Snapshot, Freshness::AtLeast);
            self.snapshots
                .client(self.pool, app_id, client_id, freshness)
                .await?
                .and_then(|s| s.value.as_ref().map(|c| c.client.clone()))
        } else {
            store::clients::get(self.pool, app_id, client_id).await?
        };
        row.as_ref()
            .map(ClientView::from)
            .ok_or(ServiceError::ClientNotFound)
    }

    /// The pool for a read of `app_id` that may come from the replica.
    fn read_pool(&self, app_id: &str) -> &'a PgPool {
        replica::read_pool(self.pool, self.replica, app_id)
    }

    pub async fn list(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        has_features: &[String],
    ) -> Result<Vec<ClientView>, ServiceError> {
        ctx.owner()?;
        self.apps.ensure(ctx, app_id).await?;
        // Only the names are checked here: asking for clients having login_client or owner is
        // a fine question even though no client may hold both.
        for name in has_features {
            name.parse::<Feature>()?;
        }
        let listed = |rows: &[store::clients::ListedClient]| {
            rows.iter()
                .map(|r| ClientView::listed(app_id.as_str(), r))
                .collect()
        };
        // The whole listing is kept in the instance's snapshot, like a client (cache/mod.rs:
        // used only while no change to the application has been heard of since it was read).
        // A filtered one is asked of the database each time: the filter's rule stays in SQL.
        if has_features.is_empty() && self.snapshots.trusted() {
            let freshness = ctx
                .read_at_least
                .map_or(Freshness::Snapshot, Freshness::AtLeast);
            let found = self
                .snapshots
                .listing(self.read_pool(app_id.as_str()), app_id.as_str(), freshness)
                .await?;
            // Applications are never deleted; none here means a replica that has not yet
            // replayed its creation.
            return found
                .map(|s| listed(&s.value))
                .ok_or(ServiceError::AppNotFound);
        }
        let filter = (!has_features.is_empty()).then_some(has_features);
        let rows =
            store::clients::listing(self.read_pool(app_id.as_str()), app_id.as_str(), filter)
                .await?;
        Ok(listed(&rows))
    }

    pub async fn create(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        draft: ClientDraft,
    ) -> Result<Committed<CreatedClient>, ClientsError> {
        let NewClient {
            name,
            features,
            allow_list,
        } = draft.validate()?;
        ctx.owner()?;
        self.apps.ensure(ctx, app_id).await?;
        if features.contains(Feature::Metadata) && !ctx.caller.is_operator() {
            return Err(ClientsError::MetadataOperatorOnly {
                operator: self.operator_name.clone(),
            });
        }
        let mut tx = WriteTx::begin(self.pool).await?;
        let created = self
            .insert(&mut tx, ctx, app_id.as_str(), name, features, allow_list)
            .await?;
        Ok(commit(tx, created).await?)
    }

    /// Inserts a client, its first secret and the audit event (shared with app creation).
    pub(crate) async fn insert(
        &self,
        tx: &mut WriteTx,
        ctx: &RequestContext,
        app_id: &str,
        name: ClientName,
        features: FeatureSet,
        allow_list: AllowList,
    ) -> Result<CreatedClient, ClientsError> {
        let new_secret = self.secrets.mint().await?;
        let client_id = random::new_client_id();
        let row = store::clients::insert(
            &mut **tx,
            app_id,
            &client_id,
            &ClientValues {
                name: name.as_str(),
                features: &features.names(),
                ip_whitelist: allow_list.nets(),
            },
        )
        .await
        .map_err(duplicate_name::<ClientsError>(name.as_str()))?;
        self.secrets
            .store(tx, app_id, &client_id, &new_secret)
            .await?;
        let view = ClientView::from(&row);
        let mut event = ctx.audit_event(app_id, AuditAction::ClientCreate);
        event.target_client_id = Some(client_id);
        event.features_before = Some(vec![]);
        event.features_after = Some(view.features.clone());
        event.changes = diff(None, Some(&view));
        store::audit::append(tx, event).await?;
        Ok(CreatedClient {
            client: view,
            secret: new_secret.secret,
        })
    }

    /// The operator-only rules of a change from `before` to `after` (features) of `client_id`:
    /// `metadata` (on either side) and removing `owner`.
    fn check_feature_change(
        &self,
        ctx: &RequestContext,
        client_id: &str,
        before: &FeatureSet,
        after: &FeatureSet,
    ) -> Result<(), ClientsError> {
        if ctx.caller.is_operator() {
            return Ok(());
        }
        if before.contains(Feature::Metadata) {
            return Err(ClientsError::MetadataClientOperatorOnly {
                operator: self.operator_name.clone(),
            });
        }
        if after.contains(Feature::Metadata) {
            return Err(ClientsError::MetadataOperatorOnly {
                operator: self.operator_name.clone(),
            });
        }
        if before.contains(Feature::Owner) && !after.contains(Feature::Owner) {
            return Err(
                if ctx
                    .caller
                    .client_id()
                    .is_some_and(|c| client_id == c.as_str())
                {
                    ClientsError::OwnerSelfRemoval
                } else {
                    ClientsError::OwnerRemovalOperatorOnly {
                        operator: self.operator_name.clone(),
                    }
                },
            );
        }
        Ok(())
    }

    /// Applies a change. `if_match` is the version the caller last saw (ETag).
    pub async fn update(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        client_id: &Named<ClientId>,
        change: ClientChange,
        if_match: Option<i64>,
    ) -> Result<Committed<ClientView>, ClientsError> {
        let ClientEdit {
            name,
            features,
            allow_list,
        } = change.validate()?;
        let (mut tx, current) = self
            .begin_client_change(ctx, app_id, client_id, if_match)
            .await?;
        let before = FeatureSet::from_stored(&current.features);
        let after = features.unwrap_or(before);
        self.check_feature_change(ctx, client_id.as_str(), &before, &after)?;
        let old_view = ClientView::from(&current);
        let new_name = name
            .map(ClientName::into_string)
            .unwrap_or(current.name.clone());
        let new_nets = allow_list
            .map(|l| l.nets().to_vec())
            .unwrap_or(current.ip_whitelist.clone());
        if new_name == current.name && new_nets == current.ip_whitelist && after == before {
            // Nothing changes: no new version, no audit event.
            return Ok(Committed::unchanged(old_view));
        }
        let row = store::clients::update(
            &mut *tx,
            app_id.as_str(),
            client_id.as_str(),
            &ClientValues {
                name: &new_name,
                features: &after.names(),
                ip_whitelist: &new_nets,
            },
        )
        .await
        .map_err(duplicate_name::<ClientsError>(&new_name))?;
        let view = ClientView::from(&row);
        let mut event = ctx.audit_event(app_id.as_str(), AuditAction::ClientUpdate);
        event.target_client_id = Some(client_id.to_string());
        event.features_before = Some(old_view.features.clone());
        event.features_after = Some(view.features.clone());
        event.changes = diff(Some(&old_view), Some(&view));
        Ok(commit_audited(tx, event, view).await?)
    }

    pub async fn delete(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        client_id: &Named<ClientId>,
        if_match: Option<i64>,
    ) -> Result<Committed<()>, ClientsError> {
        let (mut tx, current) = self
            .begin_client_change(ctx, app_id, client_id, if_match)
            .await?;
        let features = FeatureSet::from_stored(&current.features);
        if !ctx.caller.is_operator() {
            if features.contains(Feature::Metadata) {
                return Err(ClientsError::MetadataClientOperatorOnly {
                    operator: self.operator_name.clone(),
                });
            }
            if features.contains(Feature::Owner) {
                return Err(ClientsError::OwnerUndeletable);
            }
        }
        store::clients::delete(&mut *tx, app_id.as_str(), client_id.as_str()).await?;
        let old_view = ClientView::from(&current);
        let mut event = ctx.audit_event(app_id.as_str(), AuditAction::ClientDelete);
        event.target_client_id = Some(client_id.to_string());
        event.features_before = Some(old_view.features.clone());
        event.features_after = Some(vec![]);
        event.changes = diff(Some(&old_view), None);
        Ok(commit_audited(tx, event, ()).await?)
    }

    /// Mints a new secret. The old ones keep working for `hours` hours (0: they stop now).
    pub async fn rotate_secret(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        client_id: &Named<ClientId>,
        hours: i64,
        if_match: Option<i64>,
    ) -> Result<Committed<CreatedClient>, ClientsError> {
        let hours = hours_to_live(hours)?;
        ctx.owner()?;
        self.apps.ensure(ctx, app_id).await?;
        let new_secret = self.secrets.mint().await?;
        let mut tx = WriteTx::begin(self.pool).await?;
        let current = self
            .lock_target(&mut tx, app_id.as_str(), client_id.as_str(), if_match)
            .await?;
        let features = FeatureSet::from_stored(&current.features);
        if !ctx.caller.is_operator() && features.contains(Feature::Metadata) {
            return Err(ClientsError::MetadataClientOperatorOnly {
                operator: self.operator_name.clone(),
            });
        }
        let live =
            store::secrets::expire_current(&mut tx, app_id.as_str(), client_id.as_str(), hours)
                .await?;
        // Minted before the transaction (Argon2 is slow) without knowing the secrets in their
        // grace period: one in 256 per live secret shares a selector with one of them, and is
        // minted again (see `auth::secrets::new_secret_besides`).
        let new_secret = if shares_selector(&new_secret.secret, &live) {
            self.secrets.hash(new_secret_besides(&live)).await?
        } else {
            new_secret
        };
        self.secrets
            .store(&mut tx, app_id.as_str(), client_id.as_str(), &new_secret)
            .await?;
        let row =
            store::clients::bump_version(&mut *tx, app_id.as_str(), client_id.as_str()).await?;
        let view = ClientView::from(&row);
        let mut event = ctx.audit_event(app_id.as_str(), AuditAction::ClientSecretRotate);
        event.target_client_id = Some(client_id.to_string());
        event.features_before = Some(view.features.clone());
        event.features_after = Some(view.features.clone());
        event.changes = changes_of::SecretChanged::rotated(i64::from(hours), false).into_changes();
        store::audit::append(&mut tx, event).await?;
        let created = CreatedClient {
            client: view,
            secret: new_secret.secret,
        };
        Ok(commit(tx, created).await?)
    }

    /// Locks the client a change targets and checks the caller's `If-Match` version.
    /// The start of a change to one client (update, delete): the owner check, the application,
    /// then the client's row locked in a new transaction, at `if_match`'s version.
    async fn begin_client_change(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        client_id: &Named<ClientId>,
        if_match: Option<i64>,
    ) -> Result<(WriteTx, ClientRow), ClientsError> {
        ctx.owner()?;
        self.apps.ensure(ctx, app_id).await?;
        let mut tx = WriteTx::begin(self.pool).await?;
        let current = self
            .lock_target(&mut tx, app_id.as_str(), client_id.as_str(), if_match)
            .await?;
        Ok((tx, current))
    }

    async fn lock_target(
        &self,
        tx: &mut PgConnection,
        app_id: &str,
        client_id: &str,
        if_match: Option<i64>,
    ) -> Result<ClientRow, ClientsError> {
        let row = store::clients::lock(&mut *tx, app_id, client_id)
            .await?
            .ok_or(ServiceError::ClientNotFound)?;
        if if_match.is_some_and(|v| v != row.version) {
            return Err(ClientsError::PreconditionFailed);
        }
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(name: &str, features: &[&str], nets: Option<&[&str]>) -> ClientDraft {
        ClientDraft {
            name: name.into(),
            features: features.iter().map(|f| f.to_string()).collect(),
            ip_whitelist: nets.map(|n| n.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn a_draft_is_checked_name_then_allow_list_then_features() {
        let bad_name = ClientName::parse("").unwrap_err();
        let bad_net = AllowList::parse(&["10.0.0.0/33"]).unwrap_err();
        let bad_feature = FeatureSet::parse(&["nope"]).unwrap_err();
        assert_eq!(
            draft("", &["nope"], Some(&["10.0.0.0/33"]))
                .validate()
                .unwrap_err(),
            bad_name
        );
        assert_eq!(
            draft("x", &["nope"], Some(&["10.0.0.0/33"]))
                .validate()
                .unwrap_err(),
            bad_net
        );
        assert_eq!(
            draft("x", &["nope"], None).validate().unwrap_err(),
            bad_feature
        );
        let ok = draft("x", &["direct_access"], None).validate().unwrap();
        assert_eq!(ok.name.as_str(), "x");
        assert_eq!(ok.features.names(), ["direct_access"]);
        assert_eq!(ok.allow_list.nets(), AllowList::default().nets());
    }

    #[test]
    fn a_change_checks_only_what_it_sets_in_the_same_order() {
        let none = ClientChange::default().validate().unwrap();
        assert!(none.name.is_none() && none.features.is_none() && none.allow_list.is_none());
        let change = ClientChange {
            name: Some(String::new()),
            features: Some(vec!["nope".into()]),
            ip_whitelist: Some(vec!["nope".into()]),
        };
        assert_eq!(
            change.validate().unwrap_err(),
            ClientName::parse("").unwrap_err()
        );
        let change = ClientChange {
            name: None,
            ..change
        };
        assert_eq!(
            change.validate().unwrap_err(),
            AllowList::parse(&["nope"]).unwrap_err()
        );
    }
}

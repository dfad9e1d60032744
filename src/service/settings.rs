//! Settings: application defaults and per-client values (a client value overrides the
//! default). Both surfaces call these: the Registration API's `settings/*` and the Config API's
//! `…/settings` routes.
//!
//! Who may do what: a client reads and writes its own values; another client's values, writing
//! the defaults and reading everything at once need `owner` (or the operator). Any client of
//! the application may read the defaults: they are part of what it sees through the fallback.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sqlx::{PgConnection, PgPool};

use super::apps::AppDirectory;
use super::{commit, Committed, Latchkey, RequestContext, ServiceError, SettingsError};
use crate::domain::audit::AuditAction;
use crate::domain::audit_changes as changes_of;
use crate::domain::ids::{AppId, ClientId, Named};
use crate::domain::settings::{self as rules, SettingKey};
use crate::store::{self, settings::Scope, WriteTx};

/// Whose settings a call is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsTarget<'a> {
    /// The application defaults.
    Defaults,
    /// One client's own values.
    Client(&'a Named<ClientId>),
}

impl<'a> SettingsTarget<'a> {
    fn scope(self) -> Scope<'a> {
        match self {
            SettingsTarget::Defaults => Scope::Defaults,
            SettingsTarget::Client(id) => Scope::Client(id.as_str()),
        }
    }

    fn client_id(self) -> Option<&'a str> {
        match self {
            SettingsTarget::Defaults => None,
            SettingsTarget::Client(id) => Some(id.as_str()),
        }
    }
}

/// Every setting of an application: each client's own values (clients without any are left
/// out) and the defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllSettings {
    pub clients: BTreeMap<String, Map<String, Value>>,
    pub defaults: Map<String, Value>,
}

fn parse_keys(keys: &[String]) -> Result<Vec<String>, SettingsError> {
    keys.iter()
        .map(|k| Ok(SettingKey::parse(k)?.into_string()))
        .collect()
}

fn to_map(rows: Vec<store::settings::SettingRow>) -> Map<String, Value> {
    rows.into_iter().map(|r| (r.key, r.value)).collect()
}

/// One entry of an audit diff. A side that did not exist is left out, because `null` is a value
/// a setting can have.
pub(crate) fn change(from: Option<&Value>, to: Option<&Value>) -> Value {
    serde_json::to_value(changes_of::SettingChange { from, to }).unwrap_or_default()
}

/// The settings use cases, reached as `service.settings()`: they hold only the pool and the
/// application check (the way ory/hydra's persister hands out one manager per area).
#[derive(Clone)]
pub struct SettingsService<'a> {
    pool: &'a PgPool,
    apps: &'a AppDirectory,
}

impl Latchkey {
    /// The settings area (application defaults and per-client values).
    pub fn settings(&self) -> SettingsService<'_> {
        SettingsService {
            pool: &self.pool,
            apps: &self.directory,
        }
    }
}

impl SettingsService<'_> {
    /// A client may read and write its own settings; anything else about clients needs owner;
    /// the defaults are readable by any client of the application, writable by owners.
    fn authorize_settings(
        ctx: &RequestContext,
        target: SettingsTarget<'_>,
        write: bool,
    ) -> Result<(), ServiceError> {
        match target {
            SettingsTarget::Client(id)
                if ctx.caller.client_id().is_some_and(|c| id == c.as_str()) =>
            {
                Ok(())
            }
            SettingsTarget::Client(_) => ctx.owner().map(drop),
            SettingsTarget::Defaults if write => ctx.owner().map(drop),
            SettingsTarget::Defaults => Ok(()),
        }
    }

    /// Checks the caller, the application and that the target exists (reads).
    async fn settings_target_exists(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        target: SettingsTarget<'_>,
        write: bool,
    ) -> Result<(), ServiceError> {
        Self::authorize_settings(ctx, target, write)?;
        self.apps.ensure(ctx, app_id).await?;
        if let SettingsTarget::Client(client_id) = target {
            if store::clients::get(self.pool, app_id.as_str(), client_id.as_str())
                .await?
                .is_none()
            {
                return Err(ServiceError::ClientNotFound);
            }
        }
        Ok(())
    }

    /// Starts a write: checks the caller and locks the target for the transaction.
    async fn lock_settings(
        &self,
        tx: &mut PgConnection,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        target: SettingsTarget<'_>,
    ) -> Result<(), ServiceError> {
        Self::authorize_settings(ctx, target, true)?;
        self.apps.ensure(ctx, app_id).await?;
        if !store::settings::lock_scope(tx, app_id.as_str(), target.scope()).await? {
            return Err(match target {
                SettingsTarget::Client(_) => ServiceError::ClientNotFound,
                SettingsTarget::Defaults => ServiceError::AppNotFound,
            });
        }
        Ok(())
    }

    /// Appends the event of a change to one scope, whose `changes` are the keys it changed; a
    /// call that changed nothing appends none (so it writes no revision).
    async fn audit_settings(
        &self,
        tx: &mut WriteTx,
        ctx: &RequestContext,
        app_id: &str,
        target: SettingsTarget<'_>,
        action: AuditAction,
        changes: Map<String, Value>,
    ) -> Result<(), ServiceError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut event = ctx.audit_event(app_id, action);
        event.target_client_id = target.client_id().map(str::to_owned);
        event.changes = Value::Object(changes);
        store::audit::append(tx, event).await?;
        Ok(())
    }

    /// The values stored in one scope (no fallback): a client's own values, or the defaults.
    /// With `keys`, only those that exist.
    pub async fn of(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        target: SettingsTarget<'_>,
        keys: Option<&[String]>,
    ) -> Result<Map<String, Value>, SettingsError> {
        let keys = keys.map(parse_keys).transpose()?;
        self.settings_target_exists(ctx, app_id, target, false)
            .await?;
        let rows =
            store::settings::list(self.pool, app_id.as_str(), target.scope(), keys.as_deref())
                .await?;
        Ok(to_map(rows))
    }

    /// What a client sees: its own value for each key, else the application default. With
    /// `keys`, only those keys (the ones set nowhere are absent: callers show them as null).
    pub async fn effective(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        client_id: &Named<ClientId>,
        keys: Option<&[String]>,
    ) -> Result<Map<String, Value>, SettingsError> {
        let keys = keys.map(parse_keys).transpose()?;
        let target = SettingsTarget::Client(client_id);
        self.settings_target_exists(ctx, app_id, target, false)
            .await?;
        let rows = store::settings::lookup(
            self.pool,
            app_id.as_str(),
            client_id.as_str(),
            keys.as_deref(),
        )
        .await?;
        let (own, defaults): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.from_client);
        let collect = |rows: Vec<store::settings::ScopedRow>| -> Map<String, Value> {
            rows.into_iter().map(|r| (r.key, r.value)).collect()
        };
        Ok(rules::overlay(collect(defaults), collect(own)))
    }

    /// Every client's values and the defaults. Owner only.
    pub async fn all(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
    ) -> Result<AllSettings, ServiceError> {
        ctx.owner()?;
        self.apps.ensure(ctx, app_id).await?;
        // One snapshot: both lists from the same moment.
        let mut tx = store::begin_snapshot(self.pool).await?;
        let mut all = AllSettings::default();
        for row in store::settings::list_all_clients(&mut *tx, app_id.as_str()).await? {
            all.clients
                .entry(row.client_id)
                .or_default()
                .insert(row.key, row.value);
        }
        all.defaults =
            to_map(store::settings::list(&mut *tx, app_id.as_str(), Scope::Defaults, None).await?);
        tx.commit().await?;
        Ok(all)
    }

    /// Sets values in one scope. Answers, for each key in order, whether it existed before.
    /// Values equal to the stored ones are not rewritten; one audit event lists what changed.
    pub async fn set(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        target: SettingsTarget<'_>,
        items: Map<String, Value>,
    ) -> Result<Committed<Vec<(String, bool)>>, SettingsError> {
        let items = rules::parse_items(items)?;
        let mut tx = WriteTx::begin(self.pool).await?;
        self.lock_settings(&mut tx, ctx, app_id, target).await?;
        let keys: Vec<String> = items.iter().map(|(k, _)| k.as_str().to_owned()).collect();
        let current = to_map(
            store::settings::list(&mut *tx, app_id.as_str(), target.scope(), Some(&keys)).await?,
        );
        let mut existed = Vec::with_capacity(items.len());
        let mut changes = Map::new();
        for (key, value) in items {
            let before = current.get(key.as_str());
            if before != Some(&value) {
                store::settings::upsert(
                    &mut *tx,
                    app_id.as_str(),
                    target.scope(),
                    key.as_str(),
                    &value,
                )
                .await?;
                changes.insert(key.as_str().to_owned(), change(before, Some(&value)));
            }
            existed.push((key.into_string(), before.is_some()));
        }
        self.audit_settings(
            &mut tx,
            ctx,
            app_id.as_str(),
            target,
            AuditAction::SettingsSet,
            changes,
        )
        .await?;
        Ok(commit(tx, existed).await?)
    }

    /// Deletes keys from one scope (a client's own value, or a default; never both). Answers,
    /// for each key in order, whether it existed.
    pub async fn delete(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        target: SettingsTarget<'_>,
        keys: &[String],
    ) -> Result<Committed<Vec<(String, bool)>>, SettingsError> {
        let keys = parse_keys(keys)?;
        let mut tx = WriteTx::begin(self.pool).await?;
        self.lock_settings(&mut tx, ctx, app_id, target).await?;
        let removed = to_map(
            store::settings::delete(&mut *tx, app_id.as_str(), target.scope(), &keys).await?,
        );
        let changes = removed
            .iter()
            .map(|(k, v)| (k.clone(), change(Some(v), None)))
            .collect();
        self.audit_settings(
            &mut tx,
            ctx,
            app_id.as_str(),
            target,
            AuditAction::SettingsDelete,
            changes,
        )
        .await?;
        let existed = keys
            .into_iter()
            .map(|k| {
                let existed = removed.contains_key(&k);
                (k, existed)
            })
            .collect();
        Ok(commit(tx, existed).await?)
    }

    /// Replaces a whole scope (Config API PUT): keys left out are deleted. Answers the values
    /// now stored.
    pub async fn replace(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        target: SettingsTarget<'_>,
        items: Map<String, Value>,
    ) -> Result<Committed<Map<String, Value>>, SettingsError> {
        let items = rules::parse_items(items)?;
        let mut tx = WriteTx::begin(self.pool).await?;
        self.lock_settings(&mut tx, ctx, app_id, target).await?;
        let current =
            to_map(store::settings::list(&mut *tx, app_id.as_str(), target.scope(), None).await?);
        let wanted: Map<String, Value> = items
            .into_iter()
            .map(|(k, v)| (k.into_string(), v))
            .collect();
        let mut changes = Map::new();
        let gone: Vec<String> = current
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        if !gone.is_empty() {
            store::settings::delete(&mut *tx, app_id.as_str(), target.scope(), &gone).await?;
            for key in gone {
                changes.insert(key.clone(), change(current.get(&key), None));
            }
        }
        for (key, value) in &wanted {
            let before = current.get(key);
            if before != Some(value) {
                store::settings::upsert(&mut *tx, app_id.as_str(), target.scope(), key, value)
                    .await?;
                changes.insert(key.clone(), change(before, Some(value)));
            }
        }
        let stored =
            to_map(store::settings::list(&mut *tx, app_id.as_str(), target.scope(), None).await?);
        self.audit_settings(
            &mut tx,
            ctx,
            app_id.as_str(),
            target,
            AuditAction::SettingsReplace,
            changes,
        )
        .await?;
        Ok(commit(tx, stored).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Feature, FeatureSet};
    use crate::service::Caller;
    use serde_json::json;

    fn ctx(client_id: &str, features: &[Feature]) -> RequestContext {
        RequestContext {
            request_id: "r".into(),
            source_ip: None,
            caller: Caller::Client {
                app_id: AppId::from_trusted("app"),
                client_id: ClientId::from_trusted(client_id),
                features: FeatureSet::of(features),
            },
            read_at_least: None,
            clock: crate::service::Clock::system(),
        }
    }

    #[test]
    fn who_may_touch_which_settings() {
        let plain = ctx("me", &[Feature::DirectAccess]);
        let owner = ctx("boss", &[Feature::Owner]);
        let auth = |c: &RequestContext, t, w| SettingsService::authorize_settings(c, t, w).is_ok();
        use SettingsTarget::*;
        let (me, other) = (Named::parse("me"), Named::parse("other"));
        for write in [false, true] {
            assert!(auth(&plain, Client(&me), write), "own settings");
            assert!(!auth(&plain, Client(&other), write), "another client's");
            assert!(auth(&owner, Client(&other), write));
            assert!(auth(&owner, Defaults, write));
        }
        assert!(auth(&plain, Defaults, false), "defaults are readable");
        assert!(!auth(&plain, Defaults, true), "but not writable");
        assert!(
            auth(&RequestContext::command_line(), Defaults, true),
            "operator"
        );
    }

    #[test]
    fn audit_entries_leave_out_the_missing_side() {
        assert_eq!(change(None, Some(&json!(null))), json!({"to": null}));
        assert_eq!(change(Some(&json!(1)), None), json!({"from": 1}));
        assert_eq!(
            change(Some(&json!(1)), Some(&json!(2))),
            json!({"from": 1, "to": 2})
        );
    }
}

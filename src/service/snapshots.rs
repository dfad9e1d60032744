//! Reads that may be served from this instance's snapshots (`crate::cache`): the client a
//! request authenticates as, a client read, the inputs of an access decision. Each falls back
//! to the database when the snapshots are not trusted (strict mode, lost listener).

use std::borrow::Cow;
use std::sync::Arc;

use ipnet::IpNet;

use super::entity_types::entity_type_from_stored;
use super::{Latchkey, ServiceError};
use crate::cache::Freshness;
use crate::domain::entity_type::{stored_schema, AttributePath, EntityType};
use crate::domain::ids::{ClientId, Named};
use crate::domain::ValidationError;
use crate::store::clients::{ClientCredentials, ClientRow};
use crate::store::snapshots::ClientEntry;
use crate::store::{self, StoreResult};

/// How fresh the data behind an access decision must be (its `consistency` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Consistency {
    /// This instance's snapshot (the default).
    #[default]
    MinimizeLatency,
    /// The database.
    FullyConsistent,
    /// A snapshot at or past this revision, else the database.
    AtLeastAsFresh(i64),
}

impl Consistency {
    fn freshness(self) -> Freshness {
        match self {
            Self::MinimizeLatency => Freshness::Snapshot,
            Self::FullyConsistent => Freshness::Database,
            Self::AtLeastAsFresh(r) => Freshness::AtLeast(r),
        }
    }
}

/// What an access decision needs about a client that exists (`None` where it does not), from
/// this instance's snapshot or from the database.
pub(crate) struct DecisionInputs {
    pub features: Vec<String>,
    pub ip_whitelist: Vec<IpNet>,
    pub phcs: Vec<String>,
    /// `None`: the application has no such entity type. `Err`: its stored definition is
    /// unreadable (the message of the internal error it is reported as).
    pub entity_type: Option<Result<Arc<EntityType>, String>>,
    /// `None`: no schema restricts this client for this type and access type.
    pub attributes: Option<Arc<[AttributePath]>>,
}

/// A decision and the revision of the data it was made from.
#[derive(Debug, Clone)]
pub struct Decided {
    pub decision: crate::domain::access::Decision,
    pub revision: i64,
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// The verifiers of secrets that have not expired by now (snapshots keep expiring ones):
/// borrowed while none has expired, which is nearly always.
fn live_phcs(c: &ClientEntry) -> Cow<'_, [String]> {
    let now = now_micros();
    if c.expires.iter().all(|expires| *expires > now) {
        return Cow::Borrowed(&c.phcs);
    }
    Cow::Owned(
        c.phcs
            .iter()
            .zip(&c.expires)
            .filter(|(_, expires)| **expires > now)
            .map(|(phc, _)| phc.clone())
            .collect(),
    )
}

/// A client and what authenticating it needs: this instance's snapshot entry itself (shared,
/// not copied: copying it was a tenth of a warm Basic authentication), or what the database
/// answered (strict mode, lost listener).
pub(crate) enum FoundClient {
    Snapshot(Arc<ClientEntry>),
    Database(ClientCredentials),
}

impl FoundClient {
    pub(crate) fn client(&self) -> &ClientRow {
        match self {
            FoundClient::Snapshot(c) => &c.client,
            FoundClient::Database(c) => &c.client,
        }
    }

    /// The verifiers of its live secrets.
    pub(crate) fn live_phcs(&self) -> Cow<'_, [String]> {
        match self {
            FoundClient::Snapshot(c) => live_phcs(c),
            FoundClient::Database(c) => Cow::Borrowed(&c.phcs),
        }
    }

    /// Whether its application keeps sealed copies of secrets (signed requests or show_secrets).
    pub(crate) fn sealing(&self) -> bool {
        match self {
            FoundClient::Snapshot(c) => c.sealing,
            FoundClient::Database(c) => c.sealing,
        }
    }

    /// Those of its live verifiers that have no sealed copy yet.
    pub(crate) fn unsealed_phcs(&self) -> &[String] {
        match self {
            FoundClient::Snapshot(c) => &c.unsealed_phcs,
            FoundClient::Database(c) => &c.unsealed_phcs,
        }
    }
}

/// The client's schema for a type and access type, parsed when the entry was read.
fn schema_of(c: &ClientEntry, type_name: &str, access_type: &str) -> Option<Arc<[AttributePath]>> {
    c.schemas
        .iter()
        .find(|s| s.type_name == type_name && s.access_type == access_type)
        .map(|s| Arc::clone(&s.paths))
}

impl Latchkey {
    /// The credentials of a client, in `app_id` or (Registration API) in the one application
    /// holding that client id.
    pub(crate) async fn find_credentials(
        &self,
        app_id: Option<&str>,
        client_id: &str,
    ) -> StoreResult<Option<FoundClient>> {
        if let Some(app_id) = app_id {
            return self.client_credentials(app_id, client_id).await;
        }
        if let Some(app_id) = self.snapshots.app_of_client(client_id) {
            if let Some(found) = self.client_credentials(&app_id, client_id).await? {
                return Ok(Some(found));
            }
            // Gone from there: ask the database where it is now.
            self.snapshots.forget_app_of_client(client_id);
        }
        let apps = store::clients::apps_of_client(&self.pool, client_id).await?;
        let [only] = apps.as_slice() else {
            return Ok(None);
        };
        self.snapshots.remember_app_of_client(client_id, only);
        self.client_credentials(only, client_id).await
    }

    async fn client_credentials(
        &self,
        app_id: &str,
        client_id: &str,
    ) -> StoreResult<Option<FoundClient>> {
        if !self.snapshots.trusted() {
            return Ok(
                store::clients::get_with_secrets(&self.pool, app_id, client_id)
                    .await?
                    .map(FoundClient::Database),
            );
        }
        let found = self
            .snapshots
            .client(&self.pool, app_id, client_id, Freshness::Snapshot)
            .await?;
        Ok(found.and_then(|s| s.value.clone().map(FoundClient::Snapshot)))
    }

    /// Whether `app_id` keeps sealed copies of secrets (signed requests or show_secrets), from
    /// this instance's entry of the first of `client_ids` it holds a usable one of; `None` when
    /// it cannot say (strict mode, lost listener, no usable entry: the caller then reads the
    /// application's row, one primary-key read, rather than have a client's whole entry
    /// reloaded). Pass the caller before the clients the request wrote: a write leaves the
    /// caller's entry in use and makes the written client's stale. Switching those options is
    /// a change to the whole application, so its notification makes every entry stale.
    pub(crate) fn app_seals_secrets<'a>(
        &self,
        app_id: &str,
        client_ids: impl IntoIterator<Item = &'a str>,
    ) -> Option<bool> {
        client_ids.into_iter().find_map(|client_id| {
            let held = self.snapshots.held_client(app_id, client_id)?;
            held.value.as_ref().map(|c| c.sealing)
        })
    }

    /// The inputs of an access decision and the revision they are at. With `AtLeastAsFresh`,
    /// a revision the database has not reached is an error rather than an older answer.
    pub(crate) async fn decision_inputs(
        &self,
        app_id: &str,
        client_id: &Named<ClientId>,
        type_name: &str,
        access_type: &str,
        consistency: Consistency,
    ) -> Result<(Option<DecisionInputs>, i64), ServiceError> {
        let freshness = consistency.freshness();
        let (inputs, revision) = if !self.snapshots.trusted() || freshness == Freshness::Database {
            self.decision_inputs_from_db(app_id, client_id, type_name, access_type)
                .await?
        } else {
            self.decision_inputs_from_snapshot(app_id, client_id, type_name, access_type, freshness)
                .await?
        };
        if let Consistency::AtLeastAsFresh(wanted) = consistency {
            if revision < wanted {
                return Err(ValidationError::RevisionNotReached.into());
            }
        }
        Ok((inputs, revision))
    }

    async fn decision_inputs_from_db(
        &self,
        app_id: &str,
        client_id: &Named<ClientId>,
        type_name: &str,
        access_type: &str,
    ) -> Result<(Option<DecisionInputs>, i64), ServiceError> {
        // A malformed id names no client: no query needed to say so.
        let inputs = match client_id.id() {
            Some(client_id) => {
                store::access_schemas::decision_inputs(
                    &self.pool,
                    app_id,
                    client_id.as_str(),
                    type_name,
                    access_type,
                )
                .await?
            }
            None => None,
        };
        let revision = match &inputs {
            Some(i) => i.revision,
            None => store::snapshots::revision(&self.pool, app_id)
                .await?
                .ok_or(ServiceError::AppNotFound)?,
        };
        let inputs = inputs.map(|i| DecisionInputs {
            features: i.features,
            ip_whitelist: i.ip_whitelist,
            phcs: i.phcs,
            entity_type: i
                .attr_defs
                .map(|defs| entity_type_from_stored(type_name, &defs).map(Arc::new)),
            attributes: i.attributes.map(|a| stored_schema(&a).into()),
        });
        Ok((inputs, revision))
    }

    async fn decision_inputs_from_snapshot(
        &self,
        app_id: &str,
        client_id: &Named<ClientId>,
        type_name: &str,
        access_type: &str,
        freshness: Freshness,
    ) -> Result<(Option<DecisionInputs>, i64), ServiceError> {
        let et = self
            .snapshots
            .entity_type(&self.pool, app_id, type_name, freshness)
            .await?
            .ok_or(ServiceError::AppNotFound)?;
        let Some(client_id) = client_id.id() else {
            return Ok((None, et.revision()));
        };
        let client = self
            .snapshots
            .client(&self.pool, app_id, client_id.as_str(), freshness)
            .await?
            .ok_or(ServiceError::AppNotFound)?;
        // Each entry is current at its revision (the latest heard of when it was checked); the
        // answer is as fresh as the older of the two.
        let revision = et.revision().min(client.revision());
        // Still copies the features, allow list and hashes out of the entry (authentication
        // borrows it, `FoundClient`); borrowing here too needs a `DecisionInputs` that the
        // database path, which reads no full client row, can also build (issue 22, next step).
        let inputs = client.value.as_ref().map(|c| DecisionInputs {
            features: c.client.features.clone(),
            ip_whitelist: c.client.ip_whitelist.clone(),
            phcs: live_phcs(c).into_owned(),
            entity_type: et
                .value
                .as_ref()
                .map(|t| t.parsed(|defs| entity_type_from_stored(type_name, defs))),
            attributes: schema_of(c, type_name, access_type),
        });
        Ok((inputs, revision))
    }
}

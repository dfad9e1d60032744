//! Fixtures: apply a document describing an application (its clients with pinned ids and
//! secrets, settings, entity types, access schemas), and export one. Operator only.
//!
//! Applying checks the whole document first with the rules of the single-change calls
//! (`domain::fixture`, `normalize_schema`, the entity type rules), builds the state the
//! application must end in, and writes the difference in one transaction, one audit event per
//! change (`app_state::diff`). Applying the same document again finds no difference and writes
//! nothing.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use serde_json::{Map, Value};
use sqlx::PgConnection;

use super::app_state::{self, AppState, Change, ChangeSummary, ClientState};
use super::clients::duplicate_name;
use super::entity_types::{entity_type_from_json, stored_json};
use super::replica;
use super::{
    commit, Committed, EntityTypesError, RequestContext, ServiceError, StagingError, StagingService,
};
use crate::auth::random;
use crate::auth::secrets::Verification;
use crate::domain::audit::AuditAction;
use crate::domain::audit_changes::{self as changes_of, Payload};
use crate::domain::entity_type::{normalize_schema, AttributePath, EntityType};
use crate::domain::fixture::{self, Fixture, FixtureError};
use crate::domain::ids::{AppId, Named};
use crate::store::{self, clients::ClientValues, settings::Scope, WriteTx};

#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Work out and report the changes, then roll them back.
    pub dry_run: bool,
    /// Also delete what the document does not mention (a section left out mentions nothing).
    pub prune: bool,
}

/// What applying changed (or, dry, would change).
#[derive(Debug, Clone)]
pub struct ApplyReport {
    pub dry_run: bool,
    /// One per audit event, in order.
    pub changes: Vec<ChangeSummary>,
    /// Secrets minted for new clients the document gave no `_secret` (shown this once).
    pub secrets: BTreeMap<String, String>,
}

/// An application as a fixture document holds it: what `export_fixture` returns.
#[derive(Debug, Clone, PartialEq)]
pub struct AppExport {
    /// The application's default settings.
    pub settings: Map<String, Value>,
    /// Entity type name → its attribute definitions, as stored.
    pub entity_types: BTreeMap<String, Value>,
    pub clients: Vec<ExportedClient>,
}

/// A client of an [`AppExport`] (no secret).
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedClient {
    pub id: String,
    pub name: String,
    pub features: Vec<String>,
    pub ip_whitelist: Vec<String>,
    pub settings: Map<String, Value>,
    pub access_schemas: Vec<ExportedSchema>,
}

/// One access schema of an [`ExportedClient`].
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedSchema {
    pub entity_type: String,
    pub access_type: String,
    pub attributes: Vec<String>,
}

/// What an import tells its `app.import` event (counts of what the vendor had; no secret).
#[derive(Debug, Clone, Default)]
pub(super) struct ImportNote {
    /// The vendor's Config API address.
    pub source: String,
    pub clients: usize,
    pub entity_types: usize,
    pub access_schemas: usize,
    /// Clients with `metadata`, which only the operator (the import) may grant.
    pub metadata_clients: Vec<String>,
}

/// What the document asks for, worked out against the current state.
struct Plan {
    desired: AppState,
    /// Secrets of the clients to create, by id; `true` when the document pinned it.
    new_secrets: BTreeMap<String, (String, bool)>,
    /// Pinned secrets of existing clients, by id: they are checked, and set if they differ.
    pinned: Vec<(String, String)>,
    /// Client ids the document pinned for new clients, with the path of their `_id`.
    pinned_new_ids: Vec<(String, String)>,
}

fn fixture_error(path: impl Into<String>, e: impl std::fmt::Display) -> StagingError {
    StagingError::Fixture(FixtureError::new(path, e))
}

/// The final state: the current one with the document laid over it.
fn plan(current: &AppState, doc: &Fixture, prune: bool) -> Result<Plan, StagingError> {
    let mut desired = AppState {
        defaults: match &doc.settings {
            Some(s) => s.clone(),
            None if prune => Map::new(),
            None => current.defaults.clone(),
        },
        types: if prune {
            BTreeMap::new()
        } else {
            current.types.clone()
        },
        clients: Vec::new(),
        schemas: BTreeMap::new(),
    };
    let mut type_paths = BTreeMap::new();
    for (i, t) in doc.entity_types.iter().flatten().enumerate() {
        let et = EntityType::new(t.name.clone(), t.attr_defs.clone());
        desired.types.insert(t.name.clone(), stored_json(&et));
        type_paths.insert(t.name.clone(), format!("entityTypes[{i}]"));
    }

    // Match each document client to an existing one: by `_id` when given, else by name.
    let by_id: BTreeMap<&str, &ClientState> =
        current.clients.iter().map(|c| (c.id.as_str(), c)).collect();
    let by_name: BTreeMap<&str, &ClientState> = current
        .clients
        .iter()
        .map(|c| (c.name.as_str(), c))
        .collect();
    let mut matched: BTreeMap<String, usize> = BTreeMap::new();
    let mut new_clients = Vec::new();
    for (i, c) in doc.clients.iter().enumerate() {
        let existing = match &c.id {
            Some(id) => by_id.get(id.as_str()),
            None => by_name.get(c.name.as_str()),
        };
        match existing {
            Some(e) => {
                if matched.insert(e.id.clone(), i).is_some() {
                    return Err(fixture_error(
                        format!("{}.name", c.path),
                        format!("API client {} already exists.", c.name.as_str()),
                    ));
                }
            }
            None => new_clients.push(i),
        }
    }
    let from_doc =
        |c: &fixture::FixtureClient, id: String, old: Option<&ClientState>| ClientState {
            id,
            name: c.name.as_str().to_owned(),
            features: c.features.names(),
            ip_whitelist: c.allow_list.strings(),
            settings: match (&c.settings, old) {
                (Some(s), _) => s.clone(),
                (None, Some(old)) if !prune => old.settings.clone(),
                (None, _) => Map::new(),
            },
            secrets: old.map(|o| o.secrets.clone()).unwrap_or_default(),
        };
    // Which clients' schemas the document decides (the rest keep theirs).
    let mut schemas_from_doc: BTreeSet<String> = BTreeSet::new();
    let mut doc_index_of: BTreeMap<String, usize> = BTreeMap::new();
    for old in &current.clients {
        match matched.get(&old.id) {
            Some(&i) => {
                let c = &doc.clients[i];
                desired.clients.push(from_doc(c, old.id.clone(), Some(old)));
                doc_index_of.insert(old.id.clone(), i);
                if c.access_schemas.is_some() || prune {
                    schemas_from_doc.insert(old.id.clone());
                }
            }
            None if prune => {}
            None => desired.clients.push(old.clone()),
        }
    }
    let mut new_secrets = BTreeMap::new();
    let mut pinned_new_ids = Vec::new();
    for &i in &new_clients {
        let c = &doc.clients[i];
        let id = match &c.id {
            Some(id) => {
                pinned_new_ids.push((id.clone(), format!("{}._id", c.path)));
                id.clone()
            }
            None => random::new_client_id(),
        };
        let secret = match &c.secret {
            Some(s) => (s.clone(), true),
            None => (random::new_secret(), false),
        };
        new_secrets.insert(id.clone(), secret);
        desired.clients.push(from_doc(c, id.clone(), None));
        doc_index_of.insert(id.clone(), i);
        schemas_from_doc.insert(id);
    }
    let matched_by_index: BTreeMap<usize, String> =
        matched.iter().map(|(id, &i)| (i, id.clone())).collect();
    let pinned = doc
        .clients
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some((matched_by_index.get(&i)?.clone(), c.secret.clone()?)))
        .collect();

    // Names stay unique (a pinned `_id` may carry a name another client has).
    let mut names = BTreeMap::new();
    for c in &desired.clients {
        if let Some(_other) = names.insert(c.name.clone(), c.id.clone()) {
            let path = doc_index_of
                .get(&c.id)
                .map(|&i| format!("{}.name", doc.clients[i].path))
                .unwrap_or_else(|| "clients".to_owned());
            return Err(fixture_error(
                path,
                format!("API client {} already exists.", c.name),
            ));
        }
    }

    // Access schemas: those the document gives, checked against the final entity types, and
    // the others kept.
    let kept: BTreeSet<&str> = desired.clients.iter().map(|c| c.id.as_str()).collect();
    for (key, attrs) in &current.schemas {
        if kept.contains(key.0.as_str()) && !schemas_from_doc.contains(&key.0) {
            desired.schemas.insert(key.clone(), attrs.clone());
        }
    }
    let type_of = |name: &str| -> Result<Option<EntityType>, ServiceError> {
        desired
            .types
            .get(name)
            .map(|v| entity_type_from_json(name, v.clone()))
            .transpose()
    };
    for c in &desired.clients {
        let Some(&i) = doc_index_of.get(&c.id) else {
            continue;
        };
        for s in doc.clients[i].access_schemas.iter().flatten() {
            let Some(et) = type_of(&s.entity_type)? else {
                return Err(fixture_error(
                    format!("{}.entityType", s.path),
                    ServiceError::EntityTypeNotFound {
                        name: s.entity_type.clone(),
                    },
                ));
            };
            let list = normalize_schema(&et, &s.attributes)
                .map_err(|e| fixture_error(format!("{}.attributes", s.path), e))?;
            desired.schemas.insert(
                (
                    c.id.clone(),
                    s.entity_type.clone(),
                    s.access_type.as_str().to_owned(),
                ),
                list.iter().map(|p| p.to_string()).collect(),
            );
        }
    }
    // Kept schemas must still name existing types and attributes.
    for ((client, type_name, _), attrs) in &desired.schemas {
        let path = type_paths
            .get(type_name)
            .cloned()
            .unwrap_or_else(|| "entityTypes".to_owned());
        let Some(et) = type_of(type_name)? else {
            return Err(fixture_error(
                path,
                EntityTypesError::InUse {
                    name: type_name.clone(),
                    clients: vec![client.clone()],
                },
            ));
        };
        let broken: Vec<String> = attrs
            .iter()
            .filter(|a| !AttributePath::parse(a).is_ok_and(|p| et.contains(&p)))
            .cloned()
            .collect();
        if !broken.is_empty() {
            return Err(fixture_error(
                path,
                EntityTypesError::AttributeInUse {
                    paths: broken,
                    clients: vec![client.clone()],
                },
            ));
        }
    }
    Ok(Plan {
        desired,
        new_secrets,
        pinned,
        pinned_new_ids,
    })
}

fn nets(c: &ClientState) -> Result<Vec<IpNet>, ServiceError> {
    c.ip_whitelist
        .iter()
        .map(|s| {
            s.parse::<IpNet>()
                .map_err(|e| ServiceError::Internal(format!("allow list entry {s}: {e}")))
        })
        .collect()
}

fn scope(client: &Option<String>) -> Scope<'_> {
    match client {
        Some(id) => Scope::Client(id),
        None => Scope::Defaults,
    }
}

impl StagingService<'_> {
    /// Applies a fixture document to an application (see the module documentation).
    pub async fn apply_fixture(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        doc: &Value,
        options: ApplyOptions,
    ) -> Result<Committed<ApplyReport>, StagingError> {
        ctx.operator()?;
        let fixture = fixture::parse(doc)?;
        self.apply_checked(ctx, app_id, &fixture, options, None)
            .await
    }

    /// Applies a checked document in one transaction. With `import`, one `app.import` event
    /// (the pass and its counts) comes first, whether anything changed or not.
    pub(super) async fn apply_checked(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        fixture: &Fixture,
        options: ApplyOptions,
        import: Option<&ImportNote>,
    ) -> Result<Committed<ApplyReport>, StagingError> {
        self.apps.ensure(ctx, app_id).await?;
        let mut tx = WriteTx::begin(self.pool).await?;
        if !store::app_snapshots::lock_app(&mut *tx, app_id.as_str()).await? {
            return Err(ServiceError::AppNotFound.into());
        }
        let current =
            AppState::from_rows(&store::app_snapshots::capture(&mut *tx, app_id.as_str()).await?);
        let plan = plan(&current, fixture, options.prune)?;
        let wanted: Vec<String> = plan
            .pinned_new_ids
            .iter()
            .map(|(id, _)| id.clone())
            .collect();
        let taken = store::fixtures::ids_used_elsewhere(&mut *tx, app_id.as_str(), &wanted).await?;
        if let Some((_, path)) = plan
            .pinned_new_ids
            .iter()
            .find(|(id, _)| taken.contains(id))
        {
            return Err(fixture_error(
                path.clone(),
                "Client ID is used by another application.",
            ));
        }
        let mut report = ApplyReport {
            dry_run: options.dry_run,
            changes: Vec::new(),
            secrets: BTreeMap::new(),
        };
        let mut events = Vec::new();
        for change in app_state::diff(&current, &plan.desired) {
            if let Change::ClientCreate(c) = &change {
                if let Some((secret, false)) = plan.new_secrets.get(&c.id) {
                    report.secrets.insert(c.id.clone(), secret.clone());
                }
            }
            self.write_change(&mut tx, app_id.as_str(), &change, &plan.new_secrets)
                .await?;
            events.push(change.event(ctx, app_id.as_str()));
        }
        for (client_id, secret) in &plan.pinned {
            if let Some(change) = self
                .pin_secret(&mut tx, app_id.as_str(), client_id, secret)
                .await?
            {
                events.push(change.event(ctx, app_id.as_str()));
            }
        }
        if let Some(note) = import {
            let mut pass = ctx.audit_event(app_id.as_str(), AuditAction::AppImport);
            pass.changes = changes_of::Imported {
                source: &note.source,
                changes: events.len(),
                clients: note.clients,
                entity_types: note.entity_types,
                access_schemas: note.access_schemas,
                metadata_clients: &note.metadata_clients,
                new_secrets: report.secrets.keys().collect(),
                prune: options.prune,
            }
            .into_changes();
            events.insert(0, pass);
        }
        report.changes = events.iter().map(ChangeSummary::of).collect();
        if options.dry_run {
            // Not even appended: rolled back when `tx` is dropped, nothing announced.
            return Ok(Committed::unchanged(report));
        }
        // Last in the transaction: the chain head stays locked only briefly.
        store::audit::append_all(&mut tx, events).await?;
        Ok(commit(tx, report).await?)
    }

    /// Writes one change with the per-table store functions. New clients get their secret
    /// hashed and stored like any other.
    async fn write_change(
        &self,
        tx: &mut PgConnection,
        app_id: &str,
        change: &Change,
        new_secrets: &BTreeMap<String, (String, bool)>,
    ) -> Result<(), StagingError> {
        match change {
            Change::ClientDelete(c) => store::clients::delete(&mut *tx, app_id, &c.id).await?,
            Change::ClientCreate(c) => {
                let values = ClientValues {
                    name: &c.name,
                    features: &c.features,
                    ip_whitelist: &nets(c)?,
                };
                store::clients::insert(&mut *tx, app_id, &c.id, &values)
                    .await
                    .map_err(duplicate_name::<StagingError>(&c.name))?;
                let secret = match new_secrets.get(&c.id) {
                    Some((s, _)) => s.clone(),
                    None => random::new_secret(),
                };
                let new = self.secrets.hash(secret).await?;
                self.secrets.store(&mut *tx, app_id, &c.id, &new).await?;
            }
            Change::ClientUpdate { after, .. } => {
                let values = ClientValues {
                    name: &after.name,
                    features: &after.features,
                    ip_whitelist: &nets(after)?,
                };
                store::clients::update(&mut *tx, app_id, &after.id, &values)
                    .await
                    .map_err(duplicate_name::<StagingError>(&after.name))?;
            }
            // Applying never changes secrets through the state (see `pin_secret`).
            Change::SecretsRestored { .. } | Change::SecretPinned { .. } => {}
            Change::Settings {
                client,
                before,
                after,
            } => {
                let gone: Vec<String> = before
                    .keys()
                    .filter(|k| !after.contains_key(*k))
                    .cloned()
                    .collect();
                if !gone.is_empty() {
                    store::settings::delete(&mut *tx, app_id, scope(client), &gone).await?;
                }
                for (key, value) in after {
                    if before.get(key) != Some(value) {
                        store::settings::upsert(&mut *tx, app_id, scope(client), key, value)
                            .await?;
                    }
                }
            }
            Change::TypeCreate { name, attr_defs } => {
                store::entity_types::insert(&mut *tx, app_id, name, attr_defs).await?;
            }
            Change::TypeUpdate { name, to, .. } => {
                store::entity_types::update(&mut *tx, app_id, name, to).await?;
            }
            Change::TypeDelete { name, .. } => {
                store::entity_types::delete(&mut *tx, app_id, name).await?
            }
            Change::SchemaSet { key, to, .. } => {
                store::access_schemas::upsert(&mut *tx, app_id, &key.0, &key.1, &key.2, to).await?;
            }
            Change::SchemaDelete { key, .. } => {
                store::access_schemas::delete(&mut *tx, app_id, &key.0, &key.1, &key.2).await?;
            }
        }
        Ok(())
    }

    /// Makes `secret` the secret of an existing client, unless it already works: the others
    /// stop at once, as after a rotation with `hoursToLive` 0.
    async fn pin_secret(
        &self,
        tx: &mut PgConnection,
        app_id: &str,
        client_id: &str,
        secret: &str,
    ) -> Result<Option<Change>, StagingError> {
        let Some(found) = store::clients::get_with_secrets(&mut *tx, app_id, client_id).await?
        else {
            return Ok(None);
        };
        let verified = self
            .hasher
            .verify(client_id, secret, Some(&found.phcs))
            .await?;
        if matches!(verified, Verification::Verified { .. }) {
            return Ok(None);
        }
        let new = self.secrets.hash(secret.to_owned()).await?;
        // No grace period: the pinned secret is the only live one.
        store::secrets::expire_current(&mut *tx, app_id, client_id, 0).await?;
        self.secrets
            .store(&mut *tx, app_id, client_id, &new)
            .await?;
        let row = store::clients::bump_version(&mut *tx, app_id, client_id).await?;
        Ok(Some(Change::SecretPinned {
            client: ClientState {
                id: row.client_id,
                name: row.name,
                features: crate::domain::FeatureSet::from_stored(&row.features).names(),
                ip_whitelist: vec![],
                settings: Map::new(),
                secrets: vec![],
            },
        }))
    }

    /// The application as a fixture document holds it, without secrets (the adapters write
    /// the document, and may leave out the client ids).
    pub async fn export_fixture(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
    ) -> Result<AppExport, StagingError> {
        ctx.operator()?;
        self.apps.ensure(ctx, app_id).await?;
        let rows = store::app_snapshots::capture(
            replica::read_pool(self.pool, self.replica, app_id.as_str()),
            app_id.as_str(),
        )
        .await?;
        let AppState {
            defaults,
            types,
            clients,
            schemas,
        } = AppState::from_rows(&rows);
        let clients = clients
            .into_iter()
            .map(|c| ExportedClient {
                access_schemas: schemas
                    .iter()
                    .filter(|(k, _)| k.0 == c.id)
                    .map(
                        |((_, entity_type, access_type), attributes)| ExportedSchema {
                            entity_type: entity_type.clone(),
                            access_type: access_type.clone(),
                            attributes: attributes.clone(),
                        },
                    )
                    .collect(),
                id: c.id,
                name: c.name,
                features: c.features,
                ip_whitelist: c.ip_whitelist,
                settings: c.settings,
            })
            .collect();
        Ok(AppExport {
            settings: defaults,
            entity_types: types,
            clients,
        })
    }
}

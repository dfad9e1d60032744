//! An application's whole state (clients, secrets, settings, entity types, access schemas) as
//! the snapshots hold it, and the changes between two states, each with the audit event the
//! single-change calls write for it. Applying a fixture and restoring a snapshot both go
//! through [`diff`], so a replay of the audit log rebuilds the tables whichever way they were
//! written.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ipnet::IpNet;
use serde_json::{Map, Value};

use super::clients::{diff as client_diff, ClientView};
use super::RequestContext;
use crate::domain::audit::AuditAction;
use crate::domain::audit::AuditEvent;
use crate::domain::audit_changes::{self as changes_of, Payload};
use crate::domain::FeatureSet;
use crate::store::app_snapshots::{AppRows, SecretRow};

/// One client with everything that belongs to it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClientState {
    pub id: String,
    pub name: String,
    /// Sorted names.
    pub features: Vec<String>,
    /// CIDR blocks as shown.
    pub ip_whitelist: Vec<String>,
    pub settings: Map<String, Value>,
    /// The secret rows (hashes, expiry, sealed copies) without their last use, by id: only
    /// compared.
    pub secrets: Vec<SecretRow>,
}

impl ClientState {
    fn view(&self, app_id: &str) -> ClientView {
        ClientView {
            app_id: app_id.to_owned(),
            client_id: self.id.clone(),
            name: self.name.clone(),
            features: self.features.clone(),
            ip_whitelist: self.ip_whitelist.clone(),
            version: 0,
        }
    }

    fn same_fields(&self, other: &ClientState) -> bool {
        self.name == other.name
            && self.features == other.features
            && self.ip_whitelist == other.ip_whitelist
    }
}

/// (client id, entity type, access type) → attribute paths.
pub(crate) type SchemaKey = (String, String, String);

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AppState {
    pub defaults: Map<String, Value>,
    /// Entity type name → its stored `attr_defs`.
    pub types: BTreeMap<String, Value>,
    /// Oldest first.
    pub clients: Vec<ClientState>,
    pub schemas: BTreeMap<SchemaKey, Vec<String>>,
}

impl AppState {
    /// Reads an application's rows (current or saved, `store::app_snapshots`).
    pub fn from_rows(rows: &AppRows) -> Self {
        let mut secrets: BTreeMap<&str, Vec<SecretRow>> = BTreeMap::new();
        for row in &rows.client_secrets {
            secrets
                .entry(row.client_id.as_str())
                .or_default()
                .push(SecretRow {
                    // Bookkeeping, not part of what a secret is.
                    last_used_at: None,
                    ..row.clone()
                });
        }
        let mut client_settings: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
        for r in &rows.client_settings {
            client_settings
                .entry(r.client_id.as_str())
                .or_default()
                .insert(r.key.clone(), r.value.clone());
        }
        let clients = rows
            .clients
            .iter()
            .map(|r| {
                let mut own_secrets = secrets.remove(r.client_id.as_str()).unwrap_or_default();
                own_secrets.sort_by_key(|s| s.secret_id);
                ClientState {
                    features: FeatureSet::from_stored(&r.features).names(),
                    ip_whitelist: r.ip_whitelist.iter().map(IpNet::to_string).collect(),
                    settings: client_settings
                        .remove(r.client_id.as_str())
                        .unwrap_or_default(),
                    secrets: own_secrets,
                    name: r.name.clone(),
                    id: r.client_id.clone(),
                }
            })
            .collect();
        AppState {
            defaults: rows
                .app_settings
                .iter()
                .map(|r| (r.key.clone(), r.value.clone()))
                .collect(),
            types: rows
                .entity_types
                .iter()
                .map(|r| (r.name.clone(), r.attr_defs.clone()))
                .collect(),
            clients,
            schemas: rows
                .access_schemas
                .iter()
                .map(|r| {
                    let key = (
                        r.client_id.clone(),
                        r.type_name.clone(),
                        r.access_type.clone(),
                    );
                    (key, r.attributes.clone())
                })
                .collect(),
        }
    }
}

/// One change of an application's state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    ClientDelete(ClientState),
    ClientCreate(ClientState),
    ClientUpdate {
        before: ClientState,
        after: ClientState,
    },
    /// The secrets of a client were put back as they were (restore).
    SecretsRestored {
        client: ClientState,
    },
    /// A pinned secret replaced the client's secrets (apply).
    SecretPinned {
        client: ClientState,
    },
    Settings {
        client: Option<String>,
        before: Map<String, Value>,
        after: Map<String, Value>,
    },
    TypeCreate {
        name: String,
        attr_defs: Value,
    },
    TypeUpdate {
        name: String,
        from: Value,
        to: Value,
    },
    TypeDelete {
        name: String,
        from: Value,
    },
    SchemaSet {
        key: SchemaKey,
        from: Option<Vec<String>>,
        to: Vec<String>,
    },
    SchemaDelete {
        key: SchemaKey,
        from: Vec<String>,
    },
}

/// The changes that turn `before` into `after`, in an order that a replay can follow: clients
/// leave first (taking their settings and schemas), entity types are written before the schemas
/// that use them and deleted after them.
pub(crate) fn diff(before: &AppState, after: &AppState) -> Vec<Change> {
    let mut out = Vec::new();
    let old: HashMap<&str, &ClientState> =
        before.clients.iter().map(|c| (c.id.as_str(), c)).collect();
    let kept: BTreeSet<&str> = after.clients.iter().map(|c| c.id.as_str()).collect();
    for c in &before.clients {
        if !kept.contains(c.id.as_str()) {
            out.push(Change::ClientDelete(c.clone()));
        }
    }
    for (name, to) in &after.types {
        match before.types.get(name) {
            None => out.push(Change::TypeCreate {
                name: name.clone(),
                attr_defs: to.clone(),
            }),
            Some(from) if from != to => out.push(Change::TypeUpdate {
                name: name.clone(),
                from: from.clone(),
                to: to.clone(),
            }),
            Some(_) => {}
        }
    }
    for c in &after.clients {
        match old.get(c.id.as_str()) {
            None => out.push(Change::ClientCreate(c.clone())),
            Some(&was) => {
                if !was.same_fields(c) {
                    out.push(Change::ClientUpdate {
                        before: was.clone(),
                        after: c.clone(),
                    });
                }
                if was.secrets != c.secrets {
                    out.push(Change::SecretsRestored { client: c.clone() });
                }
            }
        }
    }
    if before.defaults != after.defaults {
        out.push(Change::Settings {
            client: None,
            before: before.defaults.clone(),
            after: after.defaults.clone(),
        });
    }
    for c in &after.clients {
        let was = old
            .get(c.id.as_str())
            .map(|o| o.settings.clone())
            .unwrap_or_default();
        if was != c.settings {
            out.push(Change::Settings {
                client: Some(c.id.clone()),
                before: was,
                after: c.settings.clone(),
            });
        }
    }
    for (key, to) in &after.schemas {
        let from = before.schemas.get(key);
        if from != Some(to) {
            // A schema of a client created just now has no "from", whatever a deleted client
            // of the same id had.
            let from = from.filter(|_| old.contains_key(key.0.as_str())).cloned();
            out.push(Change::SchemaSet {
                key: key.clone(),
                from,
                to: to.clone(),
            });
        }
    }
    for (key, from) in &before.schemas {
        if !after.schemas.contains_key(key) && kept.contains(key.0.as_str()) {
            out.push(Change::SchemaDelete {
                key: key.clone(),
                from: from.clone(),
            });
        }
    }
    for (name, from) in &before.types {
        if !after.types.contains_key(name) {
            out.push(Change::TypeDelete {
                name: name.clone(),
                from: from.clone(),
            });
        }
    }
    out
}

fn type_changes(name: &str, from: Option<&Value>, to: Option<&Value>) -> Value {
    changes_of::EntityTypeChanged::of(name, from, to).into_changes()
}

fn schema_changes(key: &SchemaKey, from: Option<&Vec<String>>, to: Option<&Vec<String>>) -> Value {
    changes_of::AccessSchemaChanged {
        entity_type: &key.1,
        access_type: &key.2,
        attributes: changes_of::FromTo {
            from: from.map(Vec::as_slice),
            to: to.map(Vec::as_slice),
        },
    }
    .into_changes()
}

impl Change {
    /// The audit event the single-change call for this change writes.
    pub fn event(&self, ctx: &RequestContext, app_id: &str) -> AuditEvent {
        let (action, target) = match self {
            Change::ClientDelete(c) => (AuditAction::ClientDelete, Some(&c.id)),
            Change::ClientCreate(c) => (AuditAction::ClientCreate, Some(&c.id)),
            Change::ClientUpdate { after, .. } => (AuditAction::ClientUpdate, Some(&after.id)),
            Change::SecretsRestored { client } => {
                (AuditAction::ClientSecretRestore, Some(&client.id))
            }
            Change::SecretPinned { client } => (AuditAction::ClientSecretRotate, Some(&client.id)),
            Change::Settings { client, .. } => (AuditAction::SettingsReplace, client.as_ref()),
            Change::TypeCreate { .. } => (AuditAction::EntityTypeCreate, None),
            Change::TypeUpdate { .. } => (AuditAction::EntityTypeUpdate, None),
            Change::TypeDelete { .. } => (AuditAction::EntityTypeDelete, None),
            Change::SchemaSet { key, .. } => (AuditAction::AccessSchemaSet, Some(&key.0)),
            Change::SchemaDelete { key, .. } => (AuditAction::AccessSchemaDelete, Some(&key.0)),
        };
        let mut event = ctx.audit_event(app_id, action);
        event.target_client_id = target.cloned();
        let features = |before: Option<&ClientState>, after: Option<&ClientState>| {
            (
                Some(before.map(|c| c.features.clone()).unwrap_or_default()),
                Some(after.map(|c| c.features.clone()).unwrap_or_default()),
            )
        };
        (event.features_before, event.features_after, event.changes) = match self {
            Change::ClientDelete(c) => {
                let (b, a) = features(Some(c), None);
                (b, a, client_diff(Some(&c.view(app_id)), None))
            }
            Change::ClientCreate(c) => {
                let (b, a) = features(None, Some(c));
                (b, a, client_diff(None, Some(&c.view(app_id))))
            }
            Change::ClientUpdate { before, after } => {
                let (b, a) = features(Some(before), Some(after));
                let changes = client_diff(Some(&before.view(app_id)), Some(&after.view(app_id)));
                (b, a, changes)
            }
            Change::SecretsRestored { client } => {
                let (b, a) = features(Some(client), Some(client));
                (b, a, changes_of::SecretChanged::restored().into_changes())
            }
            Change::SecretPinned { client } => {
                let (b, a) = features(Some(client), Some(client));
                let changes = changes_of::SecretChanged::rotated(0, true).into_changes();
                (b, a, changes)
            }
            Change::Settings { before, after, .. } => {
                let changes = changes_of::SettingsChanged::between(before, after);
                (None, None, changes.into_changes())
            }
            Change::TypeCreate { name, attr_defs } => {
                (None, None, type_changes(name, None, Some(attr_defs)))
            }
            Change::TypeUpdate { name, from, to } => {
                (None, None, type_changes(name, Some(from), Some(to)))
            }
            Change::TypeDelete { name, from } => (None, None, type_changes(name, Some(from), None)),
            Change::SchemaSet { key, from, to } => {
                (None, None, schema_changes(key, from.as_ref(), Some(to)))
            }
            Change::SchemaDelete { key, from } => {
                (None, None, schema_changes(key, Some(from), None))
            }
        };
        event
    }
}

/// One audit event an apply or a restore wrote (or, dry, would write), as their reports list
/// it: the adapters answer it as `{action, client, changes}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeSummary {
    pub action: AuditAction,
    /// The client the event is about, if any.
    pub client: Option<String>,
    /// The event's payload, as the audit log holds it.
    pub changes: Value,
}

impl ChangeSummary {
    pub fn of(event: &AuditEvent) -> Self {
        Self {
            action: event.action,
            client: event.target_client_id.clone(),
            changes: event.changes.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn client(id: &str, name: &str, features: &[&str]) -> ClientState {
        ClientState {
            id: id.into(),
            name: name.into(),
            features: features.iter().map(|s| s.to_string()).collect(),
            ip_whitelist: vec!["0.0.0.0/0".into()],
            settings: Map::new(),
            secrets: vec![],
        }
    }

    #[test]
    fn equal_states_have_no_changes() {
        let mut s = AppState::default();
        s.clients.push(client("a", "A", &["owner"]));
        s.types.insert("user".into(), json!([]));
        assert_eq!(diff(&s, &s.clone()), vec![]);
    }

    #[test]
    fn changes_come_in_replay_order() {
        let mut before = AppState::default();
        before.clients.push(client("a", "A", &[]));
        before.clients.push(client("b", "B", &[]));
        before.types.insert("old".into(), json!([]));
        before
            .schemas
            .insert(("b".into(), "old".into(), "read".into()), vec!["id".into()]);
        let mut after = AppState::default();
        after.clients.push(client("a", "A2", &["owner"]));
        after.clients.push(client("c", "C", &[]));
        after.types.insert("new".into(), json!([]));
        after.defaults.insert("k".into(), json!(1));
        let actions: Vec<AuditAction> = diff(&before, &after)
            .iter()
            .map(|c| c.event(&RequestContext::command_line(), "app").action)
            .collect();
        assert_eq!(
            actions,
            [
                AuditAction::ClientDelete,
                AuditAction::EntityTypeCreate,
                AuditAction::ClientUpdate,
                AuditAction::ClientCreate,
                AuditAction::SettingsReplace,
                AuditAction::EntityTypeDelete
            ]
        );
    }
}

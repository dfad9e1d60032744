//! Entitlements at any moment (issue #20, docs/audit.md "Access reviews"): which clients an
//! application had, with their features, IP allow lists and access schemas, folded from the
//! audit log's typed payloads.
//!
//! The reducer ([`EntitlementState::apply`]) is the one place that knows which events change
//! entitlements and how:
//!
//! * `client.create`: the client, its name and allow list from the payload (`to`), its features
//!   from `features_after`, no access schemas (a new client has none);
//! * `client.update`: each field the payload names (`to`), the features from `features_after`;
//! * `client.delete`: the client and its access schemas (the schemas go with the client in the
//!   database, by cascade, without events of their own);
//! * `access_schema.set`/`access_schema.delete`: the (entity type, access type) list
//!   (`attributes.to`; `null`: the schema was removed);
//! * `client.secret_rotate`/`client.secret_restore`: no change of state, but a change to report.
//!
//! Every other action leaves entitlements as they were (entity types never touch access
//! schemas: a change that would break one is refused). Snapshot restores, imports and fixtures
//! write the same per-client events, so they fold the same way.

use super::wire_name::wire_names;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::audit::{feature_delta, format_time, AuditAction, AuditEvent};
use super::audit_changes::{AccessSchemaChangedRecord, ClientChangedRecord, SecretChangedRecord};
use super::audit_query::write_csv_line;

/// The encoding of a stored state (`audit_entitlement_states.format`). A change of
/// [`EntitlementState`]'s serialised form takes a new number, and readers keep reading the old.
pub const STATE_FORMAT: i16 = 1;

/// A state is materialised every this many events of a log, so that an answer folds at most
/// about this many events onto a stored state (the bench: 10,000 clients, 1,000,000 events).
pub const STATE_EVERY: i64 = 10_000;

/// The actions the reducer reads; the store fetches only these.
pub const ACTIONS: [AuditAction; 7] = [
    AuditAction::ClientCreate,
    AuditAction::ClientUpdate,
    AuditAction::ClientDelete,
    AuditAction::ClientSecretRotate,
    AuditAction::ClientSecretRestore,
    AuditAction::AccessSchemaSet,
    AuditAction::AccessSchemaDelete,
];

/// One client's access schemas for one entity type. `None`: no schema of that access type
/// (the features alone decide, every attribute), which is not the same as a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessLists {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<Vec<String>>,
}

impl AccessLists {
    fn slot(&mut self, access_type: &str) -> Option<&mut Option<Vec<String>>> {
        match access_type {
            "read" => Some(&mut self.read),
            "write" => Some(&mut self.write),
            _ => None,
        }
    }

    fn is_empty(&self) -> bool {
        self.read.is_none() && self.write.is_none()
    }
}

/// What one client was entitled to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientEntitlement {
    pub name: String,
    /// Sorted, as stored and shown.
    pub features: Vec<String>,
    /// In the client's order.
    pub ip_whitelist: Vec<String>,
    /// Entity type → its schemas; only types with at least one schema.
    #[serde(default)]
    pub access_schemas: BTreeMap<String, AccessLists>,
}

/// Every client of an application at one moment, by id. Its serde form is the stored state
/// (format [`STATE_FORMAT`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntitlementState {
    pub clients: BTreeMap<String, ClientEntitlement>,
}

/// The kinds of change an access review lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    ClientCreated,
    ClientDeleted,
    FeatureGranted,
    FeatureRevoked,
    AllowListChanged,
    AccessSchemaChanged,
    SecretRotated,
}

wire_names! { ChangeKind {
    ClientCreated => "client_created",
    ClientDeleted => "client_deleted",
    FeatureGranted => "feature_granted",
    FeatureRevoked => "feature_revoked",
    AllowListChanged => "allow_list_changed",
    AccessSchemaChanged => "access_schema_changed",
    SecretRotated => "secret_rotated",
} }

/// What a change was, per kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ChangeDetail {
    /// `client_created`: what it started with.
    Created {
        features: Vec<String>,
        #[serde(rename = "ipWhitelist")]
        ip_whitelist: Vec<String>,
    },
    /// `client_deleted` (what it held), `feature_granted`, `feature_revoked` (which).
    Features { features: Vec<String> },
    /// `allow_list_changed`.
    AllowList { from: Vec<String>, to: Vec<String> },
    /// `access_schema_changed`: `null` on the side where there was no schema.
    AccessSchema {
        #[serde(rename = "entityType")]
        entity_type: String,
        #[serde(rename = "accessType")]
        access_type: String,
        from: Option<Vec<String>>,
        to: Option<Vec<String>>,
    },
    /// `secret_rotated`: how long the old secrets keep working (a rotation), or that a
    /// snapshot's secrets were put back.
    Secret {
        #[serde(
            rename = "oldSecretHoursToLive",
            skip_serializing_if = "Option::is_none"
        )]
        old_secret_hours_to_live: Option<i64>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        restored: bool,
    },
}

/// One line of an access review's changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitlementChange {
    pub at: DateTime<Utc>,
    pub revision: i64,
    pub actor: String,
    pub client: String,
    /// The client's name at that moment (before a deletion, after a creation).
    pub name: String,
    pub kind: ChangeKind,
    pub detail: ChangeDetail,
}

/// An event the reducer cannot read: its payload is not what its action writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit event {seq} ({action}) has a payload the entitlement history cannot read")]
pub struct UnreadableEvent {
    pub seq: i64,
    pub action: AuditAction,
}

impl EntitlementState {
    /// Folds one event into the state.
    pub fn apply(&mut self, e: &AuditEvent) -> Result<(), UnreadableEvent> {
        self.fold(e, None)
    }

    /// Folds one event and appends what it changed to `out`, in a fixed order per event
    /// (created/deleted, granted, revoked, allow list, access schema, secret).
    pub fn apply_recording(
        &mut self,
        e: &AuditEvent,
        out: &mut Vec<EntitlementChange>,
    ) -> Result<(), UnreadableEvent> {
        self.fold(e, Some(out))
    }

    fn fold(
        &mut self,
        e: &AuditEvent,
        mut out: Option<&mut Vec<EntitlementChange>>,
    ) -> Result<(), UnreadableEvent> {
        let unreadable = || UnreadableEvent {
            seq: e.seq,
            action: e.action,
        };
        let Some(id) = e.target_client_id.as_deref() else {
            return Ok(());
        };
        let mut record = |name: &str, kind: ChangeKind, detail: ChangeDetail| {
            if let Some(out) = out.as_deref_mut() {
                out.push(EntitlementChange {
                    at: e.occurred_at,
                    revision: e.seq,
                    actor: e.actor.clone(),
                    client: id.to_owned(),
                    name: name.to_owned(),
                    kind,
                    detail,
                });
            }
        };
        match e.action {
            AuditAction::ClientCreate => {
                let c: ClientChangedRecord =
                    serde_json::from_value(e.changes.clone()).map_err(|_| unreadable())?;
                let client = ClientEntitlement {
                    name: c.name.and_then(|n| n.to).ok_or_else(unreadable)?,
                    features: e.features_after.clone().unwrap_or_default(),
                    ip_whitelist: c.ip_whitelist.and_then(|n| n.to).unwrap_or_default(),
                    access_schemas: BTreeMap::new(),
                };
                record(
                    &client.name,
                    ChangeKind::ClientCreated,
                    ChangeDetail::Created {
                        features: client.features.clone(),
                        ip_whitelist: client.ip_whitelist.clone(),
                    },
                );
                self.clients.insert(id.to_owned(), client);
            }
            AuditAction::ClientUpdate => {
                let c: ClientChangedRecord =
                    serde_json::from_value(e.changes.clone()).map_err(|_| unreadable())?;
                let Some(client) = self.clients.get_mut(id) else {
                    return Err(unreadable());
                };
                if let Some(name) = c.name.and_then(|n| n.to) {
                    client.name = name;
                }
                if let Some(after) = &e.features_after {
                    let (granted, revoked) =
                        feature_delta(Some(&client.features), Some(after.as_slice()));
                    client.features = after.clone();
                    if !granted.is_empty() {
                        record(
                            &client.name,
                            ChangeKind::FeatureGranted,
                            ChangeDetail::Features { features: granted },
                        );
                    }
                    if !revoked.is_empty() {
                        record(
                            &client.name,
                            ChangeKind::FeatureRevoked,
                            ChangeDetail::Features { features: revoked },
                        );
                    }
                }
                if let Some(to) = c.ip_whitelist.and_then(|n| n.to) {
                    if to != client.ip_whitelist {
                        let from = std::mem::replace(&mut client.ip_whitelist, to.clone());
                        record(
                            &client.name,
                            ChangeKind::AllowListChanged,
                            ChangeDetail::AllowList { from, to },
                        );
                    }
                }
            }
            AuditAction::ClientDelete => {
                if let Some(client) = self.clients.remove(id) {
                    record(
                        &client.name,
                        ChangeKind::ClientDeleted,
                        ChangeDetail::Features {
                            features: client.features,
                        },
                    );
                }
            }
            AuditAction::AccessSchemaSet | AuditAction::AccessSchemaDelete => {
                let s: AccessSchemaChangedRecord =
                    serde_json::from_value(e.changes.clone()).map_err(|_| unreadable())?;
                let Some(client) = self.clients.get_mut(id) else {
                    return Err(unreadable());
                };
                let lists = client
                    .access_schemas
                    .entry(s.entity_type.clone())
                    .or_default();
                let slot = lists.slot(&s.access_type).ok_or_else(unreadable)?;
                let from = std::mem::replace(slot, s.attributes.to.clone());
                if lists.is_empty() {
                    client.access_schemas.remove(&s.entity_type);
                }
                if from != s.attributes.to {
                    let name = client.name.clone();
                    record(
                        &name,
                        ChangeKind::AccessSchemaChanged,
                        ChangeDetail::AccessSchema {
                            entity_type: s.entity_type,
                            access_type: s.access_type,
                            from,
                            to: s.attributes.to,
                        },
                    );
                }
            }
            AuditAction::ClientSecretRotate | AuditAction::ClientSecretRestore => {
                let s: SecretChangedRecord =
                    serde_json::from_value(e.changes.clone()).map_err(|_| unreadable())?;
                let name = self.clients.get(id).map(|c| c.name.clone());
                record(
                    name.as_deref().unwrap_or_default(),
                    ChangeKind::SecretRotated,
                    ChangeDetail::Secret {
                        old_secret_hours_to_live: s.secret.old_secret_hours_to_live,
                        restored: s.secret.restored,
                    },
                );
            }
            _ => {}
        }
        Ok(())
    }
}

/// The CSV header of the entitlements table.
pub const CSV_HEADER: &str = "_id,name,features,ipWhitelist,accessSchemas\r\n";

/// The CSV header of the changes.
pub const CHANGES_CSV_HEADER: &str = "at,revision,actor,client,name,kind,detail\r\n";

/// One CSV line per client. Lists are joined with a space (no feature, network or attribute
/// path contains one); `accessSchemas` is `<type>:<read|write>=<attr> <attr>…`, one entry per
/// schema, entries joined with `; `, by type then read before write.
pub fn write_csv_row(out: &mut String, id: &str, c: &ClientEntitlement) {
    let mut schemas = Vec::new();
    for (entity_type, lists) in &c.access_schemas {
        for (access, list) in [("read", &lists.read), ("write", &lists.write)] {
            if let Some(list) = list {
                schemas.push(format!("{entity_type}:{access}={}", list.join(" ")));
            }
        }
    }
    let fields = [
        id,
        &c.name,
        &c.features.join(" "),
        &c.ip_whitelist.join(" "),
        &schemas.join("; "),
    ];
    write_csv_line(out, &fields);
}

/// One CSV line per change; `detail` is its JSON.
pub fn write_change_csv_row(out: &mut String, c: &EntitlementChange) {
    let detail = serde_json::to_string(&c.detail).unwrap_or_default();
    let fields = [
        format_time(&c.at),
        c.revision.to_string(),
        c.actor.clone(),
        c.client.clone(),
        c.name.clone(),
        c.kind.as_str().to_owned(),
        detail,
    ];
    write_csv_line(out, &fields);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use uuid::Uuid;

    fn event(
        seq: i64,
        action: AuditAction,
        client: &str,
        changes: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent {
            app_id: "app".into(),
            seq,
            event_id: Uuid::nil(),
            occurred_at: DateTime::from_timestamp(1_700_000_000 + seq, 0).unwrap(),
            actor: "operator".into(),
            actor_ip: None,
            request_id: "r".into(),
            action,
            target_client_id: Some(client.into()),
            features_before: None,
            features_after: None,
            changes,
            changes_text: None,
        }
    }

    fn with_features(mut e: AuditEvent, before: &[&str], after: &[&str]) -> AuditEvent {
        e.features_before = Some(before.iter().map(|s| s.to_string()).collect());
        e.features_after = Some(after.iter().map(|s| s.to_string()).collect());
        e
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_client_life_folds_and_reports() {
        let mut s = EntitlementState::default();
        let mut out = Vec::new();
        let events = [
            with_features(
                event(
                    1,
                    AuditAction::ClientCreate,
                    "c1",
                    json!({"name": {"from": null, "to": "one"},
                           "ipWhitelist": {"from": null, "to": ["0.0.0.0/0"]}}),
                ),
                &[],
                &["direct_access"],
            ),
            with_features(
                event(
                    2,
                    AuditAction::ClientUpdate,
                    "c1",
                    json!({"name": {"from": "one", "to": "uno"},
                           "ipWhitelist": {"from": ["0.0.0.0/0"], "to": ["10.0.0.0/8"]}}),
                ),
                &["direct_access"],
                &["direct_read_access", "owner"],
            ),
            event(
                3,
                AuditAction::AccessSchemaSet,
                "c1",
                json!({"entityType": "user", "accessType": "read",
                       "attributes": {"from": null, "to": ["id", "email"]}}),
            ),
            event(
                4,
                AuditAction::ClientSecretRotate,
                "c1",
                json!({"secret": {"rotated": true, "oldSecretHoursToLive": 2}}),
            ),
            event(5, AuditAction::SettingsSet, "c1", json!({"k": {"to": 1}})),
        ];
        for e in &events {
            s.apply_recording(e, &mut out).unwrap();
        }
        let c = &s.clients["c1"];
        assert_eq!(c.name, "uno");
        assert_eq!(c.features, strings(&["direct_read_access", "owner"]));
        assert_eq!(c.ip_whitelist, strings(&["10.0.0.0/8"]));
        assert_eq!(
            c.access_schemas["user"],
            AccessLists {
                read: Some(strings(&["id", "email"])),
                write: None
            }
        );
        let kinds: Vec<_> = out.iter().map(|c| (c.revision, c.kind)).collect();
        assert_eq!(
            kinds,
            [
                (1, ChangeKind::ClientCreated),
                (2, ChangeKind::FeatureGranted),
                (2, ChangeKind::FeatureRevoked),
                (2, ChangeKind::AllowListChanged),
                (3, ChangeKind::AccessSchemaChanged),
                (4, ChangeKind::SecretRotated),
            ]
        );
        assert_eq!(
            serde_json::to_value(&out[1].detail).unwrap(),
            json!({"features": ["direct_read_access", "owner"]})
        );
        assert_eq!(
            serde_json::to_value(&out[4].detail).unwrap(),
            json!({"entityType": "user", "accessType": "read", "from": null, "to": ["id", "email"]})
        );
        assert_eq!(
            serde_json::to_value(&out[5].detail).unwrap(),
            json!({"oldSecretHoursToLive": 2})
        );
        assert_eq!(out[1].name, "uno");

        // Removing the last schema of a type removes the type; deleting the client removes it.
        out.clear();
        s.apply_recording(
            &event(
                6,
                AuditAction::AccessSchemaDelete,
                "c1",
                json!({"entityType": "user", "accessType": "read",
                       "attributes": {"from": ["id", "email"], "to": null}}),
            ),
            &mut out,
        )
        .unwrap();
        assert!(s.clients["c1"].access_schemas.is_empty());
        s.apply_recording(
            &with_features(
                event(
                    7,
                    AuditAction::ClientDelete,
                    "c1",
                    json!({"name": {"from": "uno", "to": null}}),
                ),
                &["direct_read_access", "owner"],
                &[],
            ),
            &mut out,
        )
        .unwrap();
        assert!(s.clients.is_empty());
        assert_eq!(out[1].kind, ChangeKind::ClientDeleted);
        assert_eq!(out[1].name, "uno");
    }

    #[test]
    fn a_payload_that_is_not_its_actions_is_an_error() {
        let mut s = EntitlementState::default();
        let e = event(9, AuditAction::ClientCreate, "c", json!({"name": 3}));
        assert_eq!(
            s.apply(&e),
            Err(UnreadableEvent {
                seq: 9,
                action: AuditAction::ClientCreate
            })
        );
        let e = event(10, AuditAction::ClientUpdate, "nobody", json!({}));
        assert!(s.apply(&e).is_err());
    }

    #[test]
    fn the_stored_form_is_stable() {
        let mut s = EntitlementState::default();
        s.clients.insert(
            "c".into(),
            ClientEntitlement {
                name: "n".into(),
                features: strings(&["owner"]),
                ip_whitelist: strings(&["0.0.0.0/0"]),
                access_schemas: BTreeMap::from([(
                    "user".into(),
                    AccessLists {
                        read: None,
                        write: Some(strings(&["id"])),
                    },
                )]),
            },
        );
        let stored = json!({"clients": {"c": {"name": "n", "features": ["owner"],
            "ipWhitelist": ["0.0.0.0/0"], "accessSchemas": {"user": {"write": ["id"]}}}}});
        assert_eq!(serde_json::to_value(&s).unwrap(), stored);
        assert_eq!(
            serde_json::from_value::<EntitlementState>(stored).unwrap(),
            s
        );
        let mut csv = String::new();
        let c = &s.clients["c"];
        write_csv_row(&mut csv, "c", c);
        assert_eq!(csv, "c,n,owner,0.0.0.0/0,user:write=id\r\n");
    }

    #[test]
    fn kinds_have_their_names() {
        for k in ChangeKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }
}

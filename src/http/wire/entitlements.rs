//! Access reviews: the bodies of `/config/{appId}/audit/entitlements(/changes)` and of
//! `latchkey audit entitlements`, as JSON or CSV.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::audit::format_time;
use crate::domain::entitlements::{
    self as ent, AccessLists, ChangeDetail, EntitlementChange, CHANGES_CSV_HEADER, CSV_HEADER,
};
use crate::service::{EntitlementChanges, EntitlementsAt};

/// One client's access schemas for one entity type: only the access types that have a schema
/// (none: the features alone decide, every attribute).
#[derive(Serialize, ToSchema)]
pub struct AccessListsBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    read: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    write: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct EntitledClient {
    #[serde(rename = "_id")]
    id: String,
    name: String,
    features: Vec<String>,
    #[serde(rename = "ipWhitelist")]
    ip_whitelist: Vec<String>,
    /// Entity type → its schemas; only types with a schema.
    #[serde(rename = "accessSchemas")]
    access_schemas: BTreeMap<String, AccessListsBody>,
}

#[derive(Serialize, ToSchema)]
pub struct EntitlementsBody {
    /// The moment asked for (RFC 3339, UTC).
    at: String,
    /// The last event at or before `at`: the state is the one after it.
    revision: i64,
    /// Every client that existed at `at`, sorted by id.
    clients: Vec<EntitledClient>,
}

fn lists(l: AccessLists) -> AccessListsBody {
    AccessListsBody {
        read: l.read,
        write: l.write,
    }
}

/// The table as CSV (`format=csv`, the CLI's `--format csv`).
pub fn entitlements_csv(e: &EntitlementsAt) -> String {
    let mut out = String::from(CSV_HEADER);
    for (id, c) in &e.state.clients {
        ent::write_csv_row(&mut out, id, c);
    }
    out
}

impl EntitlementsBody {
    pub fn of(e: EntitlementsAt) -> Self {
        Self {
            at: format_time(&e.at),
            revision: e.revision,
            clients: e
                .state
                .clients
                .into_iter()
                .map(|(id, c)| EntitledClient {
                    id,
                    name: c.name,
                    features: c.features,
                    ip_whitelist: c.ip_whitelist,
                    access_schemas: c
                        .access_schemas
                        .into_iter()
                        .map(|(t, l)| (t, lists(l)))
                        .collect(),
                })
                .collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ChangeItem {
    /// When (RFC 3339, UTC).
    at: String,
    /// The event's revision (`seq`).
    revision: i64,
    /// A client id, or `operator`.
    actor: String,
    /// The client changed.
    client: String,
    /// Its name then (before a deletion, after a creation).
    name: String,
    /// `client_created`, `client_deleted`, `feature_granted`, `feature_revoked`,
    /// `allow_list_changed`, `access_schema_changed` or `secret_rotated`.
    kind: String,
    /// Per kind: `{features, ipWhitelist}` (created), `{features}` (deleted: what it held;
    /// granted, revoked: which), `{from, to}` (allow list), `{entityType, accessType, from,
    /// to}` (access schema), `{oldSecretHoursToLive}` or `{restored}` (secret).
    #[schema(value_type = Object)]
    detail: ChangeDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ChangesBody {
    from: String,
    to: String,
    /// Ordered by revision.
    changes: Vec<ChangeItem>,
}

fn item(c: EntitlementChange) -> ChangeItem {
    ChangeItem {
        at: format_time(&c.at),
        revision: c.revision,
        actor: c.actor,
        client: c.client,
        name: c.name,
        kind: c.kind.as_str().to_owned(),
        detail: c.detail,
    }
}

/// The changes as CSV (`format=csv`, the CLI's `--format csv`).
pub fn changes_csv(c: &EntitlementChanges) -> String {
    let mut out = String::from(CHANGES_CSV_HEADER);
    for change in &c.changes {
        ent::write_change_csv_row(&mut out, change);
    }
    out
}

impl ChangesBody {
    pub fn of(c: EntitlementChanges) -> Self {
        Self {
            from: format_time(&c.from),
            to: format_time(&c.to),
            changes: c.changes.into_iter().map(item).collect(),
        }
    }
}

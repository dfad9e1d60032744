//! The staging toolkit's documents and reports (`/apps/{appId}/apply | export | snapshots`,
//! `latchkey apply | export | snapshot`).
//!
//! These were JSON maps before, so their keys went out sorted (in JSON and YAML); the fields
//! are declared in that order to keep every byte of the answers.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::domain::audit::{format_time, AuditAction};
use crate::service::{
    AppExport, ApplyReport, ChangeSummary, ExportedClient, ExportedSchema, RestoreReport,
    SnapshotInfo,
};

/// A fixture document (docs/staging.md). JSON, or YAML with `Content-Type: application/yaml`.
/// Sections left out are left as they are (with `prune`: emptied).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"settings": {"login_attempts": 5}, "clients": [{"name": "ci", "features": ["owner"]}]}))]
pub struct FixtureDocument {
    #[serde(skip_serializing_if = "Option::is_none")]
    clients: Option<Vec<FixtureClient>>,
    #[serde(rename = "entityTypes", skip_serializing_if = "Option::is_none")]
    entity_types: Option<Vec<FixtureEntityType>>,
    /// Application default settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::http::schemas::settings)]
    settings: Option<Map<String, Value>>,
}

/// A client of a fixture: matched by `_id` when given, else by `name`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FixtureClient {
    /// A pinned client id.
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[a-z0-9]{32}$")]
    id: Option<String>,
    /// A pinned secret (stored hashed, like any other).
    #[serde(rename = "_secret", skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[a-z0-9]{32}$")]
    secret: Option<String>,
    /// Ignored (a client read from the Config API may be pasted).
    #[serde(rename = "_self", skip_serializing_if = "Option::is_none")]
    self_link: Option<String>,
    /// Ignored (a client read from the Config API may be pasted).
    #[serde(rename = "_settings", skip_serializing_if = "Option::is_none")]
    settings_link: Option<String>,
    #[serde(rename = "accessSchemas", skip_serializing_if = "Option::is_none")]
    access_schemas: Option<Vec<FixtureAccessSchema>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::http::schemas::feature_list)]
    features: Option<Vec<String>>,
    #[serde(rename = "ipWhitelist", skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::http::schemas::cidr_list)]
    ip_whitelist: Option<Vec<String>>,
    #[schema(schema_with = crate::http::schemas::name)]
    name: String,
    /// The client's own settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::http::schemas::settings)]
    settings: Option<Map<String, Value>>,
}

/// An entity type of a fixture.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FixtureEntityType {
    /// Attribute definitions, as `POST /config/{appId}/entityTypes` takes them.
    #[schema(value_type = Vec<Value>)]
    attr_defs: Value,
    #[schema(schema_with = crate::http::schemas::type_name)]
    name: String,
}

/// An access schema of a fixture client.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FixtureAccessSchema {
    #[serde(rename = "accessType")]
    #[schema(schema_with = crate::http::schemas::access_type)]
    access_type: String,
    attributes: Vec<String>,
    #[serde(rename = "entityType")]
    #[schema(schema_with = crate::http::schemas::type_name)]
    entity_type: String,
}

impl FixtureDocument {
    /// The document of an exported application; `with_ids`: with each client's `_id` (leave
    /// them out to copy the application into another one on the same server: client ids are
    /// unique across applications).
    pub fn export(app: AppExport, with_ids: bool) -> Self {
        Self {
            clients: Some(
                app.clients
                    .into_iter()
                    .map(|c| FixtureClient::export(c, with_ids))
                    .collect(),
            ),
            entity_types: Some(
                app.entity_types
                    .into_iter()
                    .map(|(name, attr_defs)| FixtureEntityType { attr_defs, name })
                    .collect(),
            ),
            settings: Some(app.settings),
        }
    }
}

impl FixtureClient {
    fn export(c: ExportedClient, with_ids: bool) -> Self {
        Self {
            id: with_ids.then_some(c.id),
            secret: None,
            self_link: None,
            settings_link: None,
            access_schemas: Some(
                c.access_schemas
                    .into_iter()
                    .map(FixtureAccessSchema::export)
                    .collect(),
            ),
            features: Some(c.features),
            ip_whitelist: Some(c.ip_whitelist),
            name: c.name,
            settings: Some(c.settings),
        }
    }
}

impl FixtureAccessSchema {
    fn export(s: ExportedSchema) -> Self {
        Self {
            access_type: s.access_type,
            attributes: s.attributes,
            entity_type: s.entity_type,
        }
    }
}

/// One audit event written (or, on a dry run, that would be).
#[derive(Serialize, ToSchema)]
pub struct Change {
    #[schema(schema_with = crate::http::schemas::audit_action)]
    action: AuditAction,
    /// The event's payload, as the audit log holds it.
    #[schema(value_type = Map<String, Value>)]
    changes: Value,
    client: Option<String>,
}

impl Change {
    fn of(c: ChangeSummary) -> Self {
        Self {
            action: c.action,
            changes: c.changes,
            client: c.client,
        }
    }
}

/// What an apply did (or would do).
#[derive(Serialize, ToSchema)]
#[schema(as = ApplyReport)]
pub struct ApplyReportBody {
    changes: Vec<Change>,
    #[serde(rename = "dryRun")]
    dry_run: bool,
    /// Secrets minted for new clients the document gave no `_secret`: id → secret.
    secrets: BTreeMap<String, String>,
}

impl ApplyReportBody {
    pub fn new(r: ApplyReport) -> Self {
        Self {
            changes: r.changes.into_iter().map(Change::of).collect(),
            dry_run: r.dry_run,
            secrets: r.secrets,
        }
    }
}

/// A saved snapshot.
#[derive(Serialize, ToSchema)]
pub struct Snapshot {
    clients: i64,
    /// RFC 3339.
    created_at: String,
    name: String,
}

impl Snapshot {
    pub fn new(s: SnapshotInfo) -> Self {
        Self {
            clients: s.clients,
            created_at: format_time(&s.created_at),
            name: s.name,
        }
    }
}

/// What a restore did: `app.restore` first, then one change per event.
#[derive(Serialize, ToSchema)]
#[schema(as = RestoreReport)]
pub struct RestoreReportBody {
    changes: Vec<Change>,
    snapshot: String,
}

impl RestoreReportBody {
    pub fn new(r: RestoreReport) -> Self {
        Self {
            changes: r.changes.into_iter().map(Change::of).collect(),
            snapshot: r.snapshot,
        }
    }
}

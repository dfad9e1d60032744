//! The OpenAPI 3.1 document (`GET /openapi.json`) and the interactive docs (`GET /docs/`,
//! Swagger UI from assets vendored into the binary at build time).
//!
//! The operations are declared on documentation-only functions below rather than on the
//! handlers, so the contract reads in one place; `tests/api/openapi.rs` fails when a route the
//! server serves is missing here (it reads the route table from the source).

#![allow(dead_code)]

use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// `{"errors": "<message>"}`: every Config API failure.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    #[schema(example = "Authentication required.")]
    pub errors: String,
}

/// An API client as the Config API shows it.
#[derive(Serialize, ToSchema)]
pub struct Client {
    #[schema(example = "ay6e3qmucvdyr29hmpvxjdjupe8bcsky")]
    pub _id: String,
    /// In the responses that mint a secret (create, secret reset), and for owners in every
    /// client answer of a `show_secrets` application (each read audited).
    pub _secret: Option<String>,
    /// `/config/{appId}/clients/{clientId}`
    pub _self: String,
    pub _settings: String,
    pub name: String,
    #[schema(example = json!(["direct_access"]))]
    pub features: Vec<String>,
    #[schema(example = json!(["0.0.0.0/0"]))]
    #[serde(rename = "ipWhitelist")]
    pub ip_whitelist: Vec<String>,
}

/// Body of POST and PUT on clients. Other fields are ignored.
#[derive(Serialize, ToSchema)]
pub struct ClientInput {
    pub name: String,
    /// Omitted on PUT: all features are removed.
    pub features: Option<Vec<String>>,
    /// Omitted: `["0.0.0.0/0"]`.
    #[serde(rename = "ipWhitelist")]
    pub ip_whitelist: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct SecretInput {
    /// 0..=168: how long the previous secret keeps working.
    #[serde(rename = "hoursToLive")]
    pub hours_to_live: i64,
}

#[derive(Serialize, ToSchema)]
pub struct AppInput {
    pub name: String,
    /// One of `us eu au sa cn sg`; default `us`.
    pub region: Option<String>,
    /// Pin the application id (26 characters of `[a-z0-9]`); default: a random one.
    pub app_id: Option<String>,
    /// Check `janrain-signed` requests (needs a sealing key); default false.
    pub signed_requests: Option<bool>,
    /// Show secrets to owners in reads, each read audited (needs a sealing key); default false.
    pub show_secrets: Option<bool>,
}

/// `PATCH /apps/{appId}`: options to change; absent ones stay as they are.
#[derive(Serialize, ToSchema)]
pub struct AppOptionsInput {
    pub signed_requests: Option<bool>,
    pub show_secrets: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct App {
    pub app_id: String,
    pub name: String,
    pub region: String,
    pub created_at: String,
    pub signed_requests: bool,
    pub show_secrets: bool,
    /// Only right after creation: the first owner client, with its secret.
    pub owner: Option<Client>,
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    pub status: String,
}

#[utoipa::path(get, path = "/apps", tag = "operator", security(("operator" = [])),
    responses((status = 200, body = Vec<App>), (status = 401, body = ErrorBody)))]
fn list_apps() {}

#[utoipa::path(post, path = "/apps", tag = "operator", security(("operator" = [])), request_body = AppInput,
    responses((status = 201, body = App), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
fn create_app() {}

#[utoipa::path(get, path = "/apps/{appId}", tag = "operator", security(("operator" = [])),
    params(("appId" = String, Path)),
    responses((status = 200, body = App), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn get_app() {}

#[utoipa::path(patch, path = "/apps/{appId}", tag = "operator", security(("operator" = [])), request_body = AppOptionsInput,
    params(("appId" = String, Path)),
    responses((status = 200, body = App), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn update_app() {}
/// A fixture document (docs/staging.md): `settings`, `entityTypes`, `clients` (each with
/// `name`, `features`, `ipWhitelist`, optional `_id`, `_secret`, `settings`, `accessSchemas`).
/// JSON, or YAML with `Content-Type: application/yaml`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"settings": {"login_attempts": 5}, "clients": [{"name": "ci", "features": ["owner"]}]}))]
pub struct FixtureDocument(serde_json::Map<String, serde_json::Value>);

/// One audit event written (or, dry, that would be).
#[derive(Serialize, ToSchema)]
pub struct Change {
    #[schema(example = "client.create")]
    pub action: String,
    pub client: Option<String>,
    pub changes: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct ApplyReport {
    #[serde(rename = "dryRun")]
    pub dry_run: bool,
    pub changes: Vec<Change>,
    /// Secrets minted for new clients the document gave no `_secret`: id → secret.
    pub secrets: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct Snapshot {
    pub name: String,
    pub created_at: String,
    pub clients: i64,
}

#[derive(Serialize, ToSchema)]
pub struct RestoreReport {
    pub snapshot: String,
    /// `app.restore` first, then one per change.
    pub changes: Vec<Change>,
}

#[utoipa::path(post, path = "/apps/{appId}/apply", tag = "staging", security(("operator" = [])),
    request_body = FixtureDocument,
    params(("appId" = String, Path), ("dryRun" = Option<bool>, Query), ("prune" = Option<bool>, Query)),
    responses((status = 200, body = ApplyReport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
fn apply_fixture() {}

#[utoipa::path(get, path = "/apps/{appId}/export", tag = "staging", security(("operator" = [])),
    params(("appId" = String, Path), ("format" = Option<String>, Query, description = "json (default) or yaml"),
        ("ids" = Option<bool>, Query, description = "false: leave out the clients' _id")),
    responses((status = 200, body = FixtureDocument), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn export_fixture() {}

#[utoipa::path(get, path = "/apps/{appId}/snapshots", tag = "staging", security(("operator" = [])),
    params(("appId" = String, Path)),
    responses((status = 200, body = Vec<Snapshot>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn list_snapshots() {}

#[utoipa::path(put, path = "/apps/{appId}/snapshots/{name}", tag = "staging", security(("operator" = [])),
    params(("appId" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = Snapshot), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn save_snapshot() {}

#[utoipa::path(delete, path = "/apps/{appId}/snapshots/{name}", tag = "staging", security(("operator" = [])),
    params(("appId" = String, Path), ("name" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn delete_snapshot() {}

#[utoipa::path(post, path = "/apps/{appId}/snapshots/{name}/restore", tag = "staging", security(("operator" = [])),
    params(("appId" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = RestoreReport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn restore_snapshot() {}

#[utoipa::path(get, path = "/config/{appId}/clients", tag = "clients",
    security(("basic" = []), ("operator" = [])),
    params(("appId" = String, Path), ("has_feature" = Option<Vec<String>>, Query, explode, description = "Repeatable: clients having any of them")),
    responses((status = 200, body = Vec<Client>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
fn list_clients() {}

#[utoipa::path(post, path = "/config/{appId}/clients", tag = "clients",
    security(("basic" = []), ("operator" = [])), request_body = ClientInput,
    params(("appId" = String, Path)),
    responses((status = 201, body = Client, headers(("Location" = String), ("ETag" = String))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
fn create_client() {}

#[utoipa::path(get, path = "/config/{appId}/clients/{clientId}", tag = "clients",
    security(("basic" = []), ("operator" = [])),
    params(("appId" = String, Path), ("clientId" = String, Path)),
    responses((status = 200, body = Client, headers(("ETag" = String))), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn get_client() {}

#[utoipa::path(put, path = "/config/{appId}/clients/{clientId}", tag = "clients",
    security(("basic" = []), ("operator" = [])), request_body = ClientInput,
    params(("appId" = String, Path), ("clientId" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = Client, headers(("ETag" = String))), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 412, body = ErrorBody)))]
fn replace_client() {}

#[utoipa::path(delete, path = "/config/{appId}/clients/{clientId}", tag = "clients",
    security(("basic" = []), ("operator" = [])),
    params(("appId" = String, Path), ("clientId" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
fn delete_client() {}

#[utoipa::path(put, path = "/config/{appId}/clients/{clientId}/secret", tag = "clients",
    security(("basic" = []), ("operator" = [])), request_body = SecretInput,
    params(("appId" = String, Path), ("clientId" = String, Path)),
    responses((status = 200, body = Client), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn rotate_secret() {}

/// A flat object of settings: key → any JSON value.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"login_attempts": 5, "default_flow_name": "standard"}))]
pub struct Settings(serde_json::Map<String, serde_json::Value>);

#[utoipa::path(get, path = "/config/{appId}/settings", tag = "settings",
    security(("basic" = []), ("operator" = [])), params(("appId" = String, Path)),
    responses((status = 200, body = Settings), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
fn get_app_settings() {}

#[utoipa::path(put, path = "/config/{appId}/settings", tag = "settings",
    security(("basic" = []), ("operator" = [])), params(("appId" = String, Path)), request_body = Settings,
    description = "Replaces the application defaults: keys left out are deleted.",
    responses((status = 200, body = Settings), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
fn put_app_settings() {}

#[utoipa::path(get, path = "/config/{appId}/clients/{clientId}/settings", tag = "settings",
    security(("basic" = []), ("operator" = [])), params(("appId" = String, Path), ("clientId" = String, Path)),
    responses((status = 200, body = Settings), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn get_client_settings() {}

#[utoipa::path(put, path = "/config/{appId}/clients/{clientId}/settings", tag = "settings",
    security(("basic" = []), ("operator" = [])), params(("appId" = String, Path), ("clientId" = String, Path)), request_body = Settings,
    description = "Replaces the client's own settings: keys left out are deleted.",
    responses((status = 200, body = Settings), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn put_client_settings() {}

/// An entity type: a name and its attribute definitions (reserved attributes first).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"name": "user", "attr_defs": [{"name": "email", "type": "string", "length": 256}]}))]
pub struct EntityType {
    pub name: String,
    /// Each: `name`, `type` (string boolean integer decimal date dateTime time json password
    /// uuid id object plural), optional `description`, `length`, `constraints`; `object` and
    /// `plural` carry nested `attr_defs`.
    pub attr_defs: Vec<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct AccessSchema {
    /// Attribute paths (`a.b`, `/a.b` or `/a/b` on input; stored as `a.b`).
    #[schema(example = json!(["email", "primaryAddress.city"]))]
    pub attributes: Vec<String>,
}

/// The question an identity backend asks.
#[derive(Serialize, ToSchema)]
pub struct AccessCheckInput {
    #[serde(rename = "clientId")]
    pub client_id: String,
    /// When given, the secret is verified (`bad_credentials` otherwise).
    #[serde(rename = "clientSecret")]
    pub client_secret: Option<String>,
    /// When given, the client's allow list is applied (`ip_not_allowed`).
    #[serde(rename = "sourceIp")]
    pub source_ip: Option<String>,
    #[serde(rename = "entityType")]
    pub entity_type: String,
    /// `read` or `write`.
    pub access: String,
    pub attributes: Vec<String>,
    /// `any` or `self`.
    pub record: String,
    /// `"minimize_latency"` (default: this instance's snapshot), `"fully_consistent"` (the
    /// database) or `{"atLeastAsFresh": "<revision>"}`.
    pub consistency: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct AccessDecision {
    pub allowed: bool,
    /// ok, bad_credentials, ip_not_allowed, no_feature, self_only, attribute_not_permitted,
    /// unknown_entity_type, unknown_attribute.
    pub reason: String,
    pub permitted: Vec<String>,
    pub denied: Vec<String>,
    #[serde(rename = "updatesLastUpdated")]
    pub updates_last_updated: bool,
    /// The application's revision the decision was made at.
    #[schema(example = "42")]
    pub revision: String,
}

#[utoipa::path(get, path = "/config/{appId}/entityTypes", tag = "entity types",
    security(("basic" = []), ("operator" = [])), params(("appId" = String, Path)),
    responses((status = 200, body = Vec<EntityType>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
fn list_entity_types() {}

#[utoipa::path(post, path = "/config/{appId}/entityTypes", tag = "entity types",
    security(("basic" = []), ("operator" = [])), params(("appId" = String, Path)), request_body = EntityType,
    responses((status = 201, body = EntityType), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
fn create_entity_type() {}

#[utoipa::path(get, path = "/config/{appId}/entityTypes/{typeName}", tag = "entity types",
    security(("basic" = []), ("operator" = [])), params(("appId" = String, Path), ("typeName" = String, Path)),
    responses((status = 200, body = EntityType), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn get_entity_type() {}

#[utoipa::path(put, path = "/config/{appId}/entityTypes/{typeName}", tag = "entity types",
    security(("basic" = []), ("operator" = [])), params(("appId" = String, Path), ("typeName" = String, Path)), request_body = EntityType,
    description = "Replaces the attribute definitions. Refused (409) when an access schema names an attribute it would remove.",
    responses((status = 200, body = EntityType), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
fn replace_entity_type() {}

#[utoipa::path(delete, path = "/config/{appId}/entityTypes/{typeName}", tag = "entity types",
    security(("basic" = []), ("operator" = [])), params(("appId" = String, Path), ("typeName" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
fn delete_entity_type() {}

#[utoipa::path(get, path = "/config/{appId}/clients/{clientId}/accessSchemas/{typeName}/{accessType}", tag = "access schemas",
    security(("basic" = []), ("operator" = [])),
    params(("appId" = String, Path), ("clientId" = String, Path), ("typeName" = String, Path), ("accessType" = String, Path, description = "read or write")),
    responses((status = 200, body = AccessSchema), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn get_access_schema() {}

#[utoipa::path(put, path = "/config/{appId}/clients/{clientId}/accessSchemas/{typeName}/{accessType}", tag = "access schemas",
    security(("basic" = []), ("operator" = [])), request_body = AccessSchema,
    params(("appId" = String, Path), ("clientId" = String, Path), ("typeName" = String, Path), ("accessType" = String, Path, description = "read or write")),
    description = "Replaces the list; the reserved attributes (id, uuid, created, lastUpdated) are always included.",
    responses((status = 200, body = AccessSchema), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn put_access_schema() {}

#[utoipa::path(delete, path = "/config/{appId}/clients/{clientId}/accessSchemas/{typeName}/{accessType}", tag = "access schemas",
    security(("basic" = []), ("operator" = [])),
    params(("appId" = String, Path), ("clientId" = String, Path), ("typeName" = String, Path), ("accessType" = String, Path, description = "read or write")),
    description = "Removes the restriction: the client's features alone decide.",
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn delete_access_schema() {}

#[utoipa::path(post, path = "/config/{appId}/access/check", tag = "access schemas",
    security(("basic" = []), ("operator" = [])), params(("appId" = String, Path)), request_body = AccessCheckInput,
    responses((status = 200, body = AccessDecision), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
fn access_check() {}

/// One audit event (also one NDJSON line).
#[derive(Serialize, ToSchema)]
pub struct AuditEvent {
    pub seq: i64,
    pub event_id: String,
    pub app_id: String,
    pub occurred_at: String,
    /// A client id, or `operator`.
    pub actor: String,
    pub actor_ip: Option<String>,
    pub request_id: String,
    #[schema(example = "client.update")]
    pub action: String,
    pub target_client_id: Option<String>,
    pub features_before: Option<Vec<String>>,
    pub features_after: Option<Vec<String>>,
    /// `{"field": {"from": …, "to": …}}` for the other changed fields.
    pub changes: serde_json::Value,
    /// Hex SHA-256 of the previous event (zeros for the first).
    pub prev_hash: String,
    /// Hex SHA-256(prev_hash ‖ canonical JSON of this event).
    pub hash: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// The next page (absent on the last one).
    pub next: Option<String>,
}

/// The verification result: `status` `intact` (with `count`, `head_seq`, `head_hash`) or
/// `broken` (with `seq`, `problem`, `message`).
#[derive(Serialize, ToSchema)]
pub struct AuditVerification {
    #[schema(example = "intact")]
    pub status: String,
    pub app_id: String,
    pub count: Option<i64>,
    pub head_seq: Option<i64>,
    pub head_hash: Option<String>,
    pub seq: Option<i64>,
    /// altered, unlinked, missing, head_mismatch, anchor_mismatch.
    pub problem: Option<String>,
    pub message: Option<String>,
}

#[utoipa::path(get, path = "/config/{appId}/audit", tag = "audit",
    security(("basic" = []), ("operator" = [])),
    params(("appId" = String, Path),
        ("client" = Option<String>, Query), ("actor" = Option<String>, Query), ("action" = Option<String>, Query),
        ("feature" = Option<String>, Query, description = "events that added or removed it"),
        ("since" = Option<String>, Query, description = "RFC 3339, inclusive"), ("until" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("order" = Option<String>, Query, description = "newest (default for pages) or oldest"),
        ("limit" = Option<i64>, Query, description = "1..1000, default 100"), ("cursor" = Option<String>, Query),
        ("format" = Option<String>, Query, description = "json, ndjson or csv (or the Accept header)")),
    responses((status = 200, body = AuditPage, description = "A page; with format ndjson/csv the whole filtered result, streamed"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
fn query_audit() {}

#[utoipa::path(get, path = "/config/{appId}/audit/verify", tag = "audit",
    security(("basic" = []), ("operator" = [])),
    params(("appId" = String, Path), ("anchor" = Option<Vec<String>>, Query, explode, description = "seq:hash noted earlier; repeatable")),
    responses((status = 200, body = AuditVerification), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
fn verify_audit() {}

#[utoipa::path(get, path = "/config/{appId}/changes", tag = "audit",
    security(("basic" = []), ("operator" = [])),
    params(("appId" = String, Path),
        ("after" = Option<i64>, Query, description = "resume after this revision (Last-Event-ID wins)"),
        ("Last-Event-ID" = Option<i64>, Header, description = "the id of the last event received")),
    description = "Server-Sent Events, one per committed change in revision order: `id:` the revision, `event:` the action, `data:` the audit event. Heartbeat comments on a quiet feed.",
    responses((status = 200, description = "An endless event stream", content_type = "text/event-stream"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "The subscriber limit is reached")))]
fn changes() {}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Status)))]
fn healthz() {}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Status), (status = 503, body = Status)))]
fn readyz() {}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
fn metrics() {}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Latchkey",
        description = "API clients and their permissions (Config API and operator routes). \
                       The form-encoded Registration API is described in the README."
    ),
    paths(
        list_apps, create_app, get_app, update_app,
        apply_fixture, export_fixture, list_snapshots, save_snapshot, delete_snapshot, restore_snapshot,
        list_clients, create_client, get_client, replace_client, delete_client, rotate_secret,
        get_app_settings, put_app_settings, get_client_settings, put_client_settings,
        list_entity_types, create_entity_type, get_entity_type, replace_entity_type, delete_entity_type,
        get_access_schema, put_access_schema, delete_access_schema, access_check,
        query_audit, verify_audit, changes,
        healthz, readyz, metrics,
    ),
    components(schemas(ErrorBody, Settings, EntityType, AccessSchema, AccessCheckInput, AccessDecision, AuditEvent, AuditPage, AuditVerification, Client, ClientInput, SecretInput, AppInput, AppOptionsInput, App, Status, FixtureDocument, Change, ApplyReport, Snapshot, RestoreReport)),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

/// Serves `/openapi.json` and the Swagger UI under `/docs/`.
pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(
        utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", ApiDoc::openapi()),
    );
}

//! The route table: every (method, path) the server serves, once. It registers the routes
//! ([`configure`]), builds the OpenAPI document from each handler's `#[utoipa::path]`
//! ([`super::openapi`]), and tells the tests which routes change state
//! (`tests/api/audit_completeness.rs`) and which must be documented (`tests/api/operations.rs`).
//!
//! Adding a route: one row below, and its handler with `#[utoipa::path(...)]` (docs/openapi.md).

use actix_web::http::header::HeaderValue;
use actix_web::http::Method;
use actix_web::web;
use serde_json::Value;

use super::config::{
    self, access, apps, audit, changes, clients, entitlements, entity_types, evidence, settings,
    sinks, staging,
};
use super::oauth::{self as oauth, manage as oauth_manage};
use super::registration::entity_types as reg_entity;
use super::registration::{self, clients as reg_clients, settings as reg_settings};
use super::{metrics, openapi, ops};

/// Which adapter serves a route: it decides the error envelope (including the 405 answer) and
/// the responses every operation of the surface shares in the OpenAPI document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `/healthz`, `/readyz`, `/metrics`: no authentication.
    Ops,
    /// `/openapi.json` itself.
    Docs,
    /// `/apps…`: the operator's bearer token only.
    Operator,
    /// The JSON Configuration API, `/config/{app_id}/…`.
    Config,
    /// The form-encoded Registration API at the root; each call answers GET and POST alike.
    Registration,
    /// OAuth 2.0 (`/oauth/{app_id}/…`, the RFC 8414 well-known path): RFC 6749 errors.
    OAuth,
}

/// Whether a successful call changes state (and so writes audit events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Reads,
    Writes,
}

/// Adds one row's operations to the document (see [`openapi::add`]).
pub type DocFn = fn(&mut Value, &Route);

/// One row of the table.
pub struct Route {
    pub methods: &'static [Method],
    /// The actix template (`{app_id}`); the OpenAPI path names its parameters in camelCase.
    pub path: &'static str,
    pub surface: Surface,
    pub effect: Effect,
    handler: fn(actix_web::Route) -> actix_web::Route,
    /// `None` only for `/openapi.json`, which documents the others.
    pub doc: Option<DocFn>,
}

impl Route {
    pub fn mutating(&self) -> bool {
        self.effect == Effect::Writes
    }
}

const GET: &[Method] = &[Method::GET];
const POST: &[Method] = &[Method::POST];
const PUT: &[Method] = &[Method::PUT];
const DELETE: &[Method] = &[Method::DELETE];
const PATCH: &[Method] = &[Method::PATCH];
const GET_POST: &[Method] = &[Method::GET, Method::POST];

/// A row: `route!(METHODS "/path", Surface, Effect, handler, documentation)`, where the
/// documentation is the type `#[utoipa::path]` generated beside the handler (`module::__path_fn`).
macro_rules! route {
    ($methods:ident $path:literal, $surface:ident, $effect:ident, $handler:path, $doc:path) => {
        Route {
            methods: $methods,
            path: $path,
            surface: Surface::$surface,
            effect: Effect::$effect,
            handler: |r| r.to($handler),
            doc: Some(openapi::add::<$doc>),
        }
    };
}

/// A Registration API call: GET and POST, served by [`registration::serve`].
macro_rules! rpc {
    ($path:literal, $effect:ident, $op:path, $doc:path) => {
        Route {
            methods: GET_POST,
            path: $path,
            surface: Surface::Registration,
            effect: Effect::$effect,
            handler: |r| {
                r.to(|req, payload| registration::serve(req, payload, Effect::$effect, $op))
            },
            doc: Some(openapi::add::<$doc>),
        }
    };
}

/// Every route of the server.
pub fn table() -> Vec<Route> {
    vec![
        // Operations.
        route!(GET "/healthz", Ops, Reads, ops::healthz, ops::__path_healthz),
        route!(GET "/readyz", Ops, Reads, ops::readyz, ops::__path_readyz),
        route!(GET "/metrics", Ops, Reads, metrics::metrics, metrics::__path_metrics),
        // The audit checkpoints' verifier keys (public).
        route!(GET "/audit/keys", Ops, Reads, evidence::keys, evidence::__path_keys),
        Route {
            methods: GET,
            path: "/openapi.json",
            surface: Surface::Docs,
            effect: Effect::Reads,
            handler: |r| r.to(openapi::serve),
            doc: None,
        },
        // The operator's applications.
        route!(GET "/apps", Operator, Reads, apps::list, apps::__path_list),
        route!(POST "/apps", Operator, Writes, apps::create, apps::__path_create),
        route!(GET "/apps/{app_id}", Operator, Reads, apps::get, apps::__path_get),
        route!(PATCH "/apps/{app_id}", Operator, Writes, apps::update, apps::__path_update),
        // The operator's OAuth settings and key rotation (docs/oauth.md).
        route!(GET "/apps/{app_id}/oauth", Operator, Reads, oauth_manage::get_app_oauth, oauth_manage::__path_get_app_oauth),
        route!(PATCH "/apps/{app_id}/oauth", Operator, Writes, oauth_manage::patch_app_oauth, oauth_manage::__path_patch_app_oauth),
        route!(POST "/apps/{app_id}/oauth/rotate", Operator, Writes, oauth_manage::rotate, oauth_manage::__path_rotate),
        // The operator's staging toolkit (docs/staging.md).
        route!(POST "/apps/{app_id}/apply", Operator, Writes, staging::apply, staging::__path_apply),
        route!(GET "/apps/{app_id}/export", Operator, Reads, staging::export, staging::__path_export),
        route!(GET "/apps/{app_id}/snapshots", Operator, Reads, staging::list_snapshots, staging::__path_list_snapshots),
        route!(PUT "/apps/{app_id}/snapshots/{name}", Operator, Writes, staging::save_snapshot, staging::__path_save_snapshot),
        route!(DELETE "/apps/{app_id}/snapshots/{name}", Operator, Writes, staging::delete_snapshot, staging::__path_delete_snapshot),
        route!(POST "/apps/{app_id}/snapshots/{name}/restore", Operator, Writes, staging::restore_snapshot, staging::__path_restore_snapshot),
        // The operator's sinks: the audit log streamed out (docs/streaming.md).
        route!(GET "/sinks", Operator, Reads, sinks::list, sinks::__path_list),
        route!(POST "/sinks", Operator, Writes, sinks::create, sinks::__path_create),
        route!(GET "/sinks/{name}", Operator, Reads, sinks::get, sinks::__path_get),
        route!(DELETE "/sinks/{name}", Operator, Writes, sinks::delete, sinks::__path_delete),
        route!(POST "/sinks/{name}/pause", Operator, Writes, sinks::pause, sinks::__path_pause),
        route!(POST "/sinks/{name}/resume", Operator, Writes, sinks::resume, sinks::__path_resume),
        route!(POST "/sinks/{name}/rewind", Operator, Writes, sinks::rewind, sinks::__path_rewind),
        route!(PUT "/sinks/{name}/secret", Operator, Writes, sinks::rotate_secret, sinks::__path_rotate_secret),
        // The Configuration API.
        route!(GET "/config/{app_id}/clients", Config, Reads, clients::list, clients::__path_list),
        route!(POST "/config/{app_id}/clients", Config, Writes, clients::create, clients::__path_create),
        route!(GET "/config/{app_id}/clients/{client_id}", Config, Reads, clients::get, clients::__path_get),
        route!(PUT "/config/{app_id}/clients/{client_id}", Config, Writes, clients::replace, clients::__path_replace),
        route!(DELETE "/config/{app_id}/clients/{client_id}", Config, Writes, clients::delete, clients::__path_delete),
        route!(PUT "/config/{app_id}/clients/{client_id}/secret", Config, Writes, clients::rotate_secret, clients::__path_rotate_secret),
        route!(GET "/config/{app_id}/settings", Config, Reads, settings::get_defaults, settings::__path_get_defaults),
        route!(PUT "/config/{app_id}/settings", Config, Writes, settings::replace_defaults, settings::__path_replace_defaults),
        route!(GET "/config/{app_id}/clients/{client_id}/settings", Config, Reads, settings::get_client, settings::__path_get_client),
        route!(PUT "/config/{app_id}/clients/{client_id}/settings", Config, Writes, settings::replace_client, settings::__path_replace_client),
        route!(GET "/config/{app_id}/entityTypes", Config, Reads, entity_types::list, entity_types::__path_list),
        route!(POST "/config/{app_id}/entityTypes", Config, Writes, entity_types::create, entity_types::__path_create),
        route!(GET "/config/{app_id}/entityTypes/{type_name}", Config, Reads, entity_types::get, entity_types::__path_get),
        route!(PUT "/config/{app_id}/entityTypes/{type_name}", Config, Writes, entity_types::replace, entity_types::__path_replace),
        route!(DELETE "/config/{app_id}/entityTypes/{type_name}", Config, Writes, entity_types::delete, entity_types::__path_delete),
        route!(GET "/config/{app_id}/clients/{client_id}/accessSchemas/{type_name}/{access_type}", Config, Reads, access::get, access::__path_get),
        route!(PUT "/config/{app_id}/clients/{client_id}/accessSchemas/{type_name}/{access_type}", Config, Writes, access::set, access::__path_set),
        route!(DELETE "/config/{app_id}/clients/{client_id}/accessSchemas/{type_name}/{access_type}", Config, Writes, access::delete, access::__path_delete),
        route!(GET "/config/{app_id}/clients/{client_id}/jwks", Config, Reads, oauth_manage::get_client_jwks, oauth_manage::__path_get_client_jwks),
        route!(PUT "/config/{app_id}/clients/{client_id}/jwks", Config, Writes, oauth_manage::put_client_jwks, oauth_manage::__path_put_client_jwks),
        route!(DELETE "/config/{app_id}/clients/{client_id}/jwks", Config, Writes, oauth_manage::delete_client_jwks, oauth_manage::__path_delete_client_jwks),
        // A question, not a change.
        route!(POST "/config/{app_id}/access/check", Config, Reads, access::check, access::__path_check),
        route!(GET "/config/{app_id}/audit", Config, Reads, audit::query, audit::__path_query),
        route!(GET "/config/{app_id}/audit/verify", Config, Reads, audit::verify, audit::__path_verify),
        route!(GET "/config/{app_id}/audit/entitlements", Config, Reads, entitlements::at, entitlements::__path_at),
        route!(GET "/config/{app_id}/audit/entitlements/changes", Config, Reads, entitlements::changes, entitlements::__path_changes),
        route!(GET "/config/{app_id}/audit/checkpoint", Config, Reads, evidence::checkpoint, evidence::__path_checkpoint),
        route!(GET "/config/{app_id}/audit/checkpoints", Config, Reads, evidence::checkpoints, evidence::__path_checkpoints),
        route!(GET "/config/{app_id}/audit/proof/inclusion", Config, Reads, evidence::inclusion, evidence::__path_inclusion),
        route!(GET "/config/{app_id}/audit/proof/consistency", Config, Reads, evidence::consistency, evidence::__path_consistency),
        route!(GET "/config/{app_id}/changes", Config, Reads, changes::stream_changes, changes::__path_stream_changes),
        // OAuth 2.0 client credentials (docs/oauth.md). Issuing a token is not a change;
        // revoking one is.
        route!(GET "/.well-known/oauth-authorization-server/oauth/{app_id}", OAuth, Reads, oauth::metadata_well_known, oauth::__path_metadata_well_known),
        route!(GET "/oauth/{app_id}/.well-known/oauth-authorization-server", OAuth, Reads, oauth::metadata_below_issuer, oauth::__path_metadata_below_issuer),
        route!(GET "/oauth/{app_id}/jwks", OAuth, Reads, oauth::jwks, oauth::__path_jwks),
        route!(POST "/oauth/{app_id}/token", OAuth, Reads, oauth::token, oauth::__path_token),
        route!(POST "/oauth/{app_id}/introspect", OAuth, Reads, oauth::introspect, oauth::__path_introspect),
        route!(POST "/oauth/{app_id}/revoke", OAuth, Writes, oauth::revoke, oauth::__path_revoke),
        // The Registration API.
        rpc!(
            "/clients/add",
            Writes,
            reg_clients::add,
            reg_clients::__path_add
        ),
        rpc!(
            "/clients/list",
            Reads,
            reg_clients::list,
            reg_clients::__path_list
        ),
        rpc!(
            "/clients/delete",
            Writes,
            reg_clients::delete,
            reg_clients::__path_delete
        ),
        rpc!(
            "/clients/set_features",
            Writes,
            reg_clients::set_features,
            reg_clients::__path_set_features
        ),
        rpc!(
            "/clients/set_whitelist",
            Writes,
            reg_clients::set_whitelist,
            reg_clients::__path_set_whitelist
        ),
        rpc!(
            "/clients/clear_whitelist",
            Writes,
            reg_clients::clear_whitelist,
            reg_clients::__path_clear_whitelist
        ),
        rpc!(
            "/clients/set_description",
            Writes,
            reg_clients::set_description,
            reg_clients::__path_set_description
        ),
        rpc!(
            "/clients/reset_secret",
            Writes,
            reg_clients::reset_secret,
            reg_clients::__path_reset_secret
        ),
        rpc!(
            "/settings/get",
            Reads,
            reg_settings::get,
            reg_settings::__path_get
        ),
        rpc!(
            "/settings/get_multi",
            Reads,
            reg_settings::get_multi,
            reg_settings::__path_get_multi
        ),
        rpc!(
            "/settings/items",
            Reads,
            reg_settings::items,
            reg_settings::__path_items
        ),
        rpc!(
            "/settings/keys",
            Reads,
            reg_settings::keys,
            reg_settings::__path_keys
        ),
        rpc!(
            "/settings/set",
            Writes,
            reg_settings::set,
            reg_settings::__path_set
        ),
        rpc!(
            "/settings/set_multi",
            Writes,
            reg_settings::set_multi,
            reg_settings::__path_set_multi
        ),
        rpc!(
            "/settings/delete",
            Writes,
            reg_settings::delete,
            reg_settings::__path_delete
        ),
        rpc!(
            "/settings/get_default",
            Reads,
            reg_settings::get_default,
            reg_settings::__path_get_default
        ),
        rpc!(
            "/settings/set_default",
            Writes,
            reg_settings::set_default,
            reg_settings::__path_set_default
        ),
        rpc!(
            "/settings/set_default_multi",
            Writes,
            reg_settings::set_default_multi,
            reg_settings::__path_set_default_multi
        ),
        rpc!(
            "/settings/delete_default",
            Writes,
            reg_settings::delete_default,
            reg_settings::__path_delete_default
        ),
        rpc!(
            "/settings/get_all",
            Reads,
            reg_settings::get_all,
            reg_settings::__path_get_all
        ),
        rpc!(
            "/entityType",
            Reads,
            reg_entity::entity_type,
            reg_entity::__path_entity_type
        ),
        rpc!(
            "/entityType.list",
            Reads,
            reg_entity::list,
            reg_entity::__path_list
        ),
        rpc!(
            "/entityType.create",
            Writes,
            reg_entity::create,
            reg_entity::__path_create
        ),
        rpc!(
            "/entityType.delete",
            Writes,
            reg_entity::delete,
            reg_entity::__path_delete
        ),
        rpc!(
            "/entityType.addAttribute",
            Writes,
            reg_entity::add_attribute,
            reg_entity::__path_add_attribute
        ),
        rpc!(
            "/entityType.removeAttribute",
            Writes,
            reg_entity::remove_attribute,
            reg_entity::__path_remove_attribute
        ),
        rpc!(
            "/entityType.setAccessSchema",
            Writes,
            reg_entity::set_access_schema,
            reg_entity::__path_set_access_schema
        ),
        rpc!(
            "/entityType.getAccessSchema",
            Reads,
            reg_entity::get_access_schema,
            reg_entity::__path_get_access_schema
        ),
    ]
}

/// The `Allow` header of a 405 answer: the methods the path's rows serve.
fn allow_header(rows: &[&Route]) -> HeaderValue {
    let methods: Vec<&str> = rows
        .iter()
        .flat_map(|r| r.methods.iter().map(Method::as_str))
        .collect();
    // Method names are header-safe tokens, so this cannot fail; an empty value is harmless.
    HeaderValue::from_str(&methods.join(", ")).unwrap_or(HeaderValue::from_static(""))
}

/// The paths registered first: the load balancer's probes, then the calls an identity
/// platform makes on every request it serves. actix tries resources in the order they were
/// registered and matches each templated one with a regular expression, so the decision,
/// registered in table order, paid for 22 failed matches first (about 17 % of its
/// instructions, callgrind). No two templates of the table match the same path (the test below
/// checks it), so the order changes nothing but the cost.
const HOT_PATHS: [&str; 7] = [
    "/healthz",
    "/readyz",
    "/config/{app_id}/access/check",
    "/oauth/{app_id}/token",
    "/config/{app_id}/clients/{client_id}",
    "/config/{app_id}/clients",
    "/oauth/{app_id}/introspect",
];

/// Registers the rows `include` keeps: one resource per path with its methods, and the
/// surface's 405 answer for any other method.
pub fn configure(cfg: &mut web::ServiceConfig, include: impl Fn(&Route) -> bool) {
    let table: Vec<Route> = table().into_iter().filter(|r| include(r)).collect();
    let mut paths: Vec<&'static str> = Vec::new();
    for row in &table {
        if !paths.contains(&row.path) {
            paths.push(row.path);
        }
    }
    // Stable: the hot paths first, in HOT_PATHS' order, then the rest in table order.
    paths.sort_by_key(|p| {
        HOT_PATHS
            .iter()
            .position(|h| h == p)
            .unwrap_or(HOT_PATHS.len())
    });
    for path in paths {
        let rows: Vec<&Route> = table.iter().filter(|r| r.path == path).collect();
        let mut resource = web::resource(path);
        for row in &rows {
            for method in row.methods {
                resource = resource.route((row.handler)(web::method(method.clone())));
            }
        }
        resource = match rows[0].surface {
            Surface::Registration => resource.default_service(web::to(registration::wrong_method)),
            _ => resource.default_service(config::method_not_allowed(allow_header(&rows))),
        };
        cfg.service(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether one path could be served by both templates: as many segments, and each pair
    /// either equal or one of them a `{parameter}` (no template of the table has a tail or a
    /// custom pattern, which the test also checks).
    fn overlap(a: &str, b: &str) -> bool {
        let param = |s: &str| s.starts_with('{') && s.ends_with('}');
        let (a, b): (Vec<&str>, Vec<&str>) = (a.split('/').collect(), b.split('/').collect());
        a.len() == b.len()
            && a.iter()
                .zip(&b)
                .all(|(x, y)| x == y || param(x) || param(y))
    }

    #[test]
    fn no_two_templates_match_the_same_path_so_registration_order_is_free() {
        let mut paths: Vec<&str> = table().iter().map(|r| r.path).collect();
        paths.dedup();
        let mut unique = paths.clone();
        unique.sort_unstable();
        unique.dedup();
        for p in &unique {
            assert!(
                !p.contains('*') && !p.contains(':'),
                "{p}: a tail or custom pattern"
            );
        }
        for (i, a) in unique.iter().enumerate() {
            for b in &unique[i + 1..] {
                assert!(!overlap(a, b), "{a} and {b} can match the same path");
            }
        }
        for hot in HOT_PATHS {
            assert!(unique.contains(&hot), "{hot} is not a route of the table");
        }
        assert!(overlap("/config/{app_id}/clients", "/config/x/clients"));
        assert!(!overlap(
            "/config/{app_id}/clients",
            "/config/{app_id}/clients/{id}"
        ));
    }
}

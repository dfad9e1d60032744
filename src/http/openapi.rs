//! The OpenAPI 3.1 document (`GET /openapi.json`) and the interactive docs (`GET /docs/`,
//! Swagger UI from assets vendored into the binary at build time).
//!
//! The document is built from the route table ([`super::routes`]): each row's handler carries
//! `#[utoipa::path]` and its body types derive `ToSchema`. What every operation of a surface
//! shares (the extractor's authentication answers, the Registration API's HTTP-200 envelope,
//! a form body for its POST) is added here, once per surface, so the handlers only declare what
//! is their own. `tests/api/operations.rs` fails when a row is undocumented or the document names
//! a route the server does not serve.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use serde_json::{json, Map, Value};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::config::ErrorBody;
use super::registration::error::ErrorEnvelope;
use super::routes::{self, Route, Surface};
use super::schemas;

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
        description = "API clients and their permissions: the JSON Configuration API \
                       (`/config/{appId}/…`), the operator's `/apps`, the vendor's form-encoded \
                       Registration API at the root (every answer HTTP 200 with `stat`), and the \
                       operational endpoints."
    ),
    components(schemas(ErrorBody, ErrorEnvelope)),
    modifiers(&SecuritySchemes)
)]
struct ApiDoc;

/// The document, built once.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        doc["paths"] = json!({});
        for route in routes::table() {
            if let Some(add) = route.doc {
                add(&mut doc, &route);
            }
        }
        let (properties, components) = schemas::refined_properties();
        for (component, property, schema) in properties {
            doc["components"]["schemas"][component]["properties"][property] = schema;
        }
        for (name, schema) in components {
            doc["components"]["schemas"][name] = schema;
        }
        doc
    })
}

/// `GET /openapi.json`.
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

/// Serves the Swagger UI under `/docs/`, reading `/openapi.json`.
pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.route("/docs", actix_web::web::get().to(super::ops::docs));
    cfg.service(
        utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
            .config(utoipa_swagger_ui::Config::from("/openapi.json")),
    );
}

/// Adds the operation(s) `P` documents for `route`, and the schemas they name.
pub fn add<P: utoipa::Path + utoipa::__dev::SchemaReferences>(doc: &mut Value, route: &Route) {
    let path = P::path();
    let mut operation = serde_json::to_value(P::operation()).unwrap_or_default();
    let mut schemas = Vec::new();
    P::schemas(&mut schemas);
    for (name, schema) in schemas {
        doc["components"]["schemas"][name] = serde_json::to_value(schema).unwrap_or_default();
    }
    shared_parameters(&mut operation, route.surface);
    refine_parameters(&mut operation, &path);
    shared_responses(&mut operation, route.surface, &path);
    for method in P::methods() {
        let method = serde_json::to_value(method)
            .ok()
            .and_then(|m| m.as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut op = operation.clone();
        if route.surface == Surface::Registration && method == "post" {
            parameters_to_form(&mut op);
        }
        op["operationId"] = Value::String(operation_id(&method, &path));
        doc["paths"][&path][&method] = op;
    }
}

/// How a surface's callers authenticate (its extractor decides), and the parameter every
/// Registration call takes.
fn shared_parameters(op: &mut Value, surface: Surface) {
    let security = match surface {
        Surface::Ops | Surface::Docs => return,
        // Each operation documents its own (client authentication in the form or Basic).
        Surface::OAuth => return,
        Surface::Operator => json!([{"operator": []}]),
        Surface::Config | Surface::Registration => json!([{"basic": []}, {"operator": []}]),
    };
    op["security"] = security;
    if surface == Surface::Registration {
        let application_id = json!({
            "name": "application_id", "in": "query", "required": false,
            "description": "The application: the caller's own (required for the operator)",
            "schema": {"type": "string"}
        });
        match op.get_mut("parameters").and_then(Value::as_array_mut) {
            Some(parameters) => parameters.insert(0, application_id),
            None => op["parameters"] = json!([application_id]),
        }
    }
}

/// Gives the parameters the server restricts their exact schema ([`schemas::parameter`]).
fn refine_parameters(op: &mut Value, path: &str) {
    let Some(parameters) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    for p in parameters {
        let refined = p["name"]
            .as_str()
            .and_then(|name| schemas::parameter(path, name));
        if let Some(schema) = refined {
            p["schema"] = serde_json::to_value(schema).unwrap_or_default();
        }
    }
}

/// `get_config_appId_clients`: unique, from the method and the path.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    for part in path.split(['/', '.']).filter(|p| !p.is_empty()) {
        id.push('_');
        id.push_str(part.trim_matches(['{', '}']));
    }
    id
}

fn error_response(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

fn add_response(op: &mut Value, status: &str, response: Value) {
    if let Some(responses) = op["responses"].as_object_mut() {
        responses.entry(status).or_insert(response);
    }
}

/// The answers every operation of a surface can give, whatever its handler does: those of the
/// extractors (authentication, allow list, failure limit, database, body reading), the 404 of
/// the resource the path names ([`not_found`]) and the Registration API's envelope. An
/// operation that answers one of these statuses differently documents its own, which wins.
fn shared_responses(op: &mut Value, surface: Surface, path: &str) {
    let has_body = op.get("requestBody").is_some();
    let schema = if surface == Surface::OAuth {
        "OAuthErrorBody"
    } else {
        "ErrorBody"
    };
    let error = |d| error_response(d, schema);
    if let Some(description) = not_found(surface, path, has_body) {
        add_response(op, "404", error(description));
    }
    match surface {
        Surface::Ops | Surface::Docs => {}
        // The endpoints that take a form authenticate the client (token, introspection,
        // revocation); the others are public.
        Surface::OAuth if has_body => authentication_responses(
            op,
            schema,
            [
                "invalid_client",
                "Too many failed authentications from this source",
                "No sealing key, or the database is unreachable",
            ],
        ),
        Surface::OAuth => {}
        Surface::Operator | Surface::Config => {
            authentication_responses(
                op,
                schema,
                [
                    "No, malformed or wrong credentials.",
                    "Too many failed authentications from this source.",
                    "The database is unreachable.",
                ],
            );
            if surface == Surface::Config {
                add_response(
                    op,
                    "403",
                    error("The caller lacks `owner`, or its address is outside its allow list."),
                );
            }
            if has_body {
                add_response(
                    op,
                    "400",
                    error("`Invalid JSON body.` or a field refused (the message says which)."),
                );
                add_response(op, "408", error("The body was not received in time."));
                add_response(op, "413", error("`Request body too large.` (over 64 KiB)."));
            }
        }
        Surface::Registration => registration_envelope(op),
    }
}

/// What an extractor that authenticates the caller can answer, in `schema` bodies: 401 with
/// `WWW-Authenticate`, 429 with `Retry-After` (seconds) and 503, described by `descriptions`.
fn authentication_responses(op: &mut Value, schema: &str, descriptions: [&str; 3]) {
    let [unauthorized, limited, unavailable] = descriptions.map(|d| error_response(d, schema));
    let with_header = |mut response: Value, name: &str, header: Value| {
        response["headers"] = json!({ name: {"schema": header} });
        response
    };
    let string = json!({"type": "string"});
    let seconds = json!({"type": "integer", "minimum": 0});
    add_response(
        op,
        "401",
        with_header(unauthorized, "WWW-Authenticate", string),
    );
    add_response(op, "429", with_header(limited, "Retry-After", seconds));
    add_response(op, "503", unavailable);
}

/// The 404 of the innermost resource an operation's path names (the messages are the wire's).
fn not_found(surface: Surface, path: &str, has_body: bool) -> Option<&'static str> {
    match surface {
        Surface::Config if path.contains("/clients/{clientId}") => Some("`Client ID not found.`"),
        Surface::Config => Some("`Application not found.` (operator only; a client gets 401)."),
        Surface::Operator if path.starts_with("/sinks/{name}") => Some("`Sink not found.`"),
        Surface::Operator if path.starts_with("/apps/{appId}") => Some("`Application not found.`"),
        // The public endpoints; those that authenticate a client answer `invalid_client`.
        Surface::OAuth if !has_body => Some("No such application"),
        _ => None,
    }
}

/// The Registration API answers HTTP 200 for success (`{"stat":"ok", …}`) and failure (the
/// error envelope) alike: the documented 200 becomes one of the two.
fn registration_envelope(op: &mut Value) {
    let Some(ok) = op["responses"]["200"]["content"]["application/json"]["schema"]
        .as_object()
        .cloned()
    else {
        return;
    };
    let mut ok = Value::Object(ok);
    let stat_ok = json!({"type": "string", "enum": ["ok"]});
    match ok.get_mut("properties").and_then(Value::as_object_mut) {
        Some(properties) => {
            properties.insert("stat".into(), stat_ok);
            if let Some(required) = ok.get_mut("required").and_then(Value::as_array_mut) {
                required.push("stat".into());
            } else {
                ok["required"] = json!(["stat"]);
            }
        }
        // A reference: add `stat` beside it.
        None => {
            ok = json!({"allOf": [ok, {"type": "object", "required": ["stat"],
                "properties": {"stat": stat_ok}}]})
        }
    }
    op["responses"]["200"]["content"]["application/json"]["schema"] =
        json!({"oneOf": [ok, {"$ref": "#/components/schemas/ErrorEnvelope"}]});
    op["responses"]["200"]["description"] = Value::String(
        "`{\"stat\":\"ok\", …}`, or the error envelope (`stat` `error`, the vendor's code)".into(),
    );
}

/// A Registration POST takes its parameters as an `application/x-www-form-urlencoded` body
/// (the server also reads the query string; the document shows one way).
fn parameters_to_form(op: &mut Value) {
    let Some(Value::Array(parameters)) = op.as_object_mut().and_then(|o| o.remove("parameters"))
    else {
        return;
    };
    let mut properties = Map::new();
    let mut required = Vec::new();
    for p in parameters {
        let Some(name) = p["name"].as_str() else {
            continue;
        };
        let mut schema = p["schema"].clone();
        if let (Some(d), Some(s)) = (p.get("description"), schema.as_object_mut()) {
            s.insert("description".into(), d.clone());
        }
        if p["required"] == Value::Bool(true) {
            required.push(Value::String(name.to_owned()));
        }
        properties.insert(name.to_owned(), schema);
    }
    if properties.is_empty() {
        return;
    }
    let body_required = !required.is_empty();
    op["requestBody"] = json!({
        "required": body_required,
        "content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object", "properties": properties, "required": required}}}
    });
}

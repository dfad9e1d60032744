//! Completeness of the audit log: every route that changes state writes exactly its audit
//! event(s), in the request's transaction (same request id).
//!
//! The route table (`latchkey::http::routes::table()`) says which routes change state; each needs
//! a `Case` below (a request that succeeds, and the actions it must write). The server serves
//! exactly the table's routes, so a new route, or a new method on a route, is classified where it
//! is added. (RPC routes of the Registration API answer GET and POST alike: one row, two cases.)

use std::collections::BTreeSet;

use latchkey::http::routes::{table, Route};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// `(method, path template)` of every row the table marks as changing state.
fn mutating_routes() -> Vec<(String, &'static str)> {
    table()
        .iter()
        .filter(|r| r.mutating())
        .flat_map(|r: &Route| r.methods.iter().map(|m| (m.to_string(), r.path)))
        .collect()
}

/// The ids a case's path and body may use, made for this case alone: `client_id` is a client
/// with `direct_access`, an allow list other than the default and a setting `fixture`; the
/// application has a default setting `fixture`; `type_name` is an entity type (attributes
/// `email`, `nick`) on which the client has a read schema `["nick"]`; `spare_type` is an entity
/// type no schema uses; `snapshot` is a snapshot of the application saved by the fixture.
struct Ids {
    app_id: String,
    client_id: String,
    type_name: String,
    spare_type: String,
    snapshot: String,
    /// A webhook sink covering the application, and a paused one.
    sink: String,
    paused_sink: String,
    /// An access token of the owner (the fixture's first token made the application's key).
    token: String,
}

enum Body {
    Empty,
    Json(Value),
    /// Registration API parameters: the query string for GET, a form body for POST.
    Params(Vec<(&'static str, String)>),
}

/// A Registration API call and its parameters; becomes a GET case and a POST case.
struct RegCase {
    path: &'static str,
    params: fn(&Ids) -> Vec<(&'static str, String)>,
    actions: &'static [&'static str],
}

fn registration_cases() -> Vec<RegCase> {
    vec![
        RegCase {
            path: "/clients/add",
            params: |i| vec![("description", format!("added {}", i.client_id))],
            actions: &["client.create"],
        },
        RegCase {
            path: "/clients/delete",
            params: |i| vec![("client_id_for_deletion", i.client_id.clone())],
            actions: &["client.delete"],
        },
        RegCase {
            path: "/clients/set_features",
            params: |i| {
                vec![
                    ("for_client_id", i.client_id.clone()),
                    ("features", r#"["direct_read_access"]"#.into()),
                ]
            },
            actions: &["client.update"],
        },
        RegCase {
            path: "/clients/set_whitelist",
            params: |i| {
                vec![
                    ("for_client_id", i.client_id.clone()),
                    ("whitelist", r#"["192.168.0.0/16"]"#.into()),
                ]
            },
            actions: &["client.update"],
        },
        RegCase {
            path: "/clients/clear_whitelist",
            params: |i| vec![("for_client_id", i.client_id.clone())],
            actions: &["client.update"],
        },
        RegCase {
            path: "/clients/set_description",
            params: |i| {
                vec![
                    ("for_client_id", i.client_id.clone()),
                    ("description", format!("renamed {}", i.client_id)),
                ]
            },
            actions: &["client.update"],
        },
        RegCase {
            path: "/clients/reset_secret",
            params: |i| {
                vec![
                    ("for_client_id", i.client_id.clone()),
                    ("hours_to_live", "0".into()),
                ]
            },
            actions: &["client.secret_rotate"],
        },
        RegCase {
            path: "/settings/set",
            params: |i| {
                vec![
                    ("for_client_id", i.client_id.clone()),
                    ("key", "k".into()),
                    ("value", "v".into()),
                ]
            },
            actions: &["settings.set"],
        },
        RegCase {
            path: "/settings/set_multi",
            params: |i| {
                vec![
                    ("for_client_id", i.client_id.clone()),
                    ("items", r#"{"a": 1, "b": 2}"#.into()),
                ]
            },
            actions: &["settings.set"],
        },
        RegCase {
            path: "/settings/delete",
            params: |i| {
                vec![
                    ("for_client_id", i.client_id.clone()),
                    ("key", "fixture".into()),
                ]
            },
            actions: &["settings.delete"],
        },
        RegCase {
            path: "/settings/set_default",
            params: |_| vec![("key", "fixture".into()), ("value", "changed".into())],
            actions: &["settings.set"],
        },
        RegCase {
            path: "/settings/set_default_multi",
            params: |_| vec![("items", r#"{"fixture": 2, "other": 3}"#.into())],
            actions: &["settings.set"],
        },
        RegCase {
            path: "/settings/delete_default",
            params: |_| vec![("key", "fixture".into())],
            actions: &["settings.delete"],
        },
        RegCase {
            path: "/entityType.create",
            params: |i| {
                vec![
                    ("type_name", format!("n{}", &i.client_id[..8])),
                    (
                        "attr_defs",
                        r#"[{"name": "email", "type": "string"}]"#.into(),
                    ),
                ]
            },
            actions: &["entity_type.create"],
        },
        RegCase {
            path: "/entityType.delete",
            params: |i| vec![("type_name", i.spare_type.clone())],
            actions: &["entity_type.delete"],
        },
        RegCase {
            path: "/entityType.addAttribute",
            params: |i| {
                vec![
                    ("type_name", i.type_name.clone()),
                    ("attr_def", r#"{"name": "extra", "type": "string"}"#.into()),
                ]
            },
            actions: &["entity_type.attribute_add"],
        },
        RegCase {
            path: "/entityType.removeAttribute",
            params: |i| {
                vec![
                    ("type_name", i.type_name.clone()),
                    ("attribute_name", "email".into()),
                ]
            },
            actions: &["entity_type.attribute_remove"],
        },
        RegCase {
            path: "/entityType.setAccessSchema",
            params: |i| {
                vec![
                    ("type_name", i.type_name.clone()),
                    ("for_client_id", i.client_id.clone()),
                    ("access_type", "write".into()),
                    ("attributes", r#"["email"]"#.into()),
                ]
            },
            actions: &["access_schema.set"],
        },
    ]
}

struct Case {
    method: &'static str,
    template: &'static str,
    /// `true`: call as the operator; otherwise as the application's owner.
    operator: bool,
    body: Maker,
    /// Actions of the events the call must write, in order.
    actions: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            method: "POST",
            template: "/apps",
            operator: true,
            body: Maker::Body(|_| Body::Json(json!({"name": "another app"}))),
            // The application and its first owner client: two changes, two events.
            actions: &["app.create", "client.create"],
        },
        Case {
            method: "PATCH",
            template: "/apps/{app_id}",
            operator: true,
            body: Maker::Body(|_| Body::Json(json!({"signed_requests": true}))),
            actions: &["app.update"],
        },
        Case {
            method: "POST",
            template: "/config/{app_id}/clients",
            operator: false,
            body: Maker::Body(|_| Body::Json(json!({"name": "new client", "features": ["direct_read_access"]}))),
            actions: &["client.create"],
        },
        Case {
            method: "PUT",
            template: "/config/{app_id}/clients/{client_id}",
            operator: false,
            body: Maker::Body(|_| {
                Body::Json(
                    json!({"name": "renamed", "features": ["access_issuer"], "ipWhitelist": ["10.0.0.0/8"]}),
                )
            }),
            actions: &["client.update"],
        },
        Case {
            method: "DELETE",
            template: "/config/{app_id}/clients/{client_id}",
            operator: false,
            body: Maker::Body(|_| Body::Empty),
            actions: &["client.delete"],
        },
        Case {
            method: "PUT",
            template: "/config/{app_id}/clients/{client_id}/secret",
            operator: false,
            body: Maker::Body(|_| Body::Json(json!({"hoursToLive": 0}))),
            actions: &["client.secret_rotate"],
        },
        Case {
            method: "PUT",
            template: "/config/{app_id}/settings",
            operator: false,
            body: Maker::Body(|_| Body::Json(json!({"fixture": "changed", "more": true}))),
            actions: &["settings.replace"],
        },
        Case {
            method: "PUT",
            template: "/config/{app_id}/clients/{client_id}/settings",
            operator: false,
            body: Maker::Body(|_| Body::Json(json!({"theme": "dark"}))),
            actions: &["settings.replace"],
        },
        Case {
            method: "POST",
            template: "/config/{app_id}/entityTypes",
            operator: false,
            body: Maker::Body(|i| {
                Body::Json(json!({"name": format!("n{}", &i.client_id[..8]),
                    "attr_defs": [{"name": "email", "type": "string"}]}))
            }),
            actions: &["entity_type.create"],
        },
        Case {
            method: "PUT",
            template: "/config/{app_id}/entityTypes/{type_name}",
            operator: false,
            body: Maker::Body(|i| {
                Body::Json(json!({"name": i.type_name, "attr_defs": [
                    {"name": "email", "type": "string"}, {"name": "nick", "type": "string"},
                    {"name": "birthday", "type": "date"}]}))
            }),
            actions: &["entity_type.update"],
        },
        Case {
            method: "DELETE",
            template: "/config/{app_id}/entityTypes/{spare_type}",
            operator: false,
            body: Maker::Body(|_| Body::Empty),
            actions: &["entity_type.delete"],
        },
        Case {
            method: "PUT",
            template: "/config/{app_id}/clients/{client_id}/accessSchemas/{type_name}/{access_type}",
            operator: false,
            body: Maker::Body(|_| Body::Json(json!({"attributes": ["email"]}))),
            actions: &["access_schema.set"],
        },
        Case {
            method: "DELETE",
            template: "/config/{app_id}/clients/{client_id}/accessSchemas/{type_name}/{access_type}",
            operator: false,
            body: Maker::Body(|_| Body::Empty),
            actions: &["access_schema.delete"],
        },
        Case {
            method: "POST",
            template: "/apps/{app_id}/apply",
            operator: true,
            body: Maker::Body(|i| {
                Body::Json(json!({"clients": [{"name": format!("applied {}", i.client_id)}]}))
            }),
            actions: &["client.create"],
        },
        Case {
            method: "PUT",
            template: "/apps/{app_id}/snapshots/{snapshot}",
            operator: true,
            body: Maker::Body(|_| Body::Empty),
            actions: &["snapshot.save"],
        },
        Case {
            method: "DELETE",
            template: "/apps/{app_id}/snapshots/{snapshot}",
            operator: true,
            body: Maker::Body(|_| Body::Empty),
            actions: &["snapshot.delete"],
        },
        // Sinks: audited in each application the sink covers (here the one application).
        Case {
            method: "POST",
            template: "/sinks",
            operator: true,
            body: Maker::Body(|i| {
                Body::Json(json!({"name": format!("new-{}", &i.client_id[..8]), "kind": "webhook",
                    "url": "http://127.0.0.1:9/hook", "apps": [i.app_id]}))
            }),
            actions: &["sink.create"],
        },
        Case {
            method: "DELETE",
            template: "/sinks/{sink}",
            operator: true,
            body: Maker::Body(|_| Body::Empty),
            actions: &["sink.delete"],
        },
        Case {
            method: "POST",
            template: "/sinks/{sink}/pause",
            operator: true,
            body: Maker::Body(|_| Body::Empty),
            actions: &["sink.pause"],
        },
        Case {
            method: "POST",
            template: "/sinks/{paused_sink}/resume",
            operator: true,
            body: Maker::Body(|_| Body::Empty),
            actions: &["sink.resume"],
        },
        Case {
            method: "POST",
            template: "/sinks/{sink}/rewind",
            operator: true,
            body: Maker::Body(|i| Body::Json(json!({"app_id": i.app_id, "revision": 1}))),
            actions: &["sink.rewind"],
        },
        Case {
            method: "PUT",
            template: "/sinks/{sink}/secret",
            operator: true,
            body: Maker::Body(|_| Body::Empty),
            actions: &["sink.secret_rotate"],
        },
        Case {
            method: "POST",
            template: "/apps/{app_id}/snapshots/{snapshot}/restore",
            operator: true,
            body: Maker::Body(|_| Body::Empty),
            // Saved just now by the fixture: nothing to change but the restore itself.
            actions: &["app.restore"],
        },
        Case {
            method: "PATCH",
            template: "/apps/{app_id}/oauth",
            operator: true,
            body: Maker::Body(|_| Body::Json(json!({"tokenLifetimeSecs": 900}))),
            actions: &["oauth.settings_update"],
        },
        Case {
            method: "POST",
            template: "/apps/{app_id}/oauth/rotate",
            operator: true,
            body: Maker::Body(|_| Body::Empty),
            actions: &["oauth.key_rotate"],
        },
        Case {
            method: "PUT",
            template: "/config/{app_id}/clients/{client_id}/jwks",
            operator: false,
            body: Maker::Body(|_| {
                let (_, jwk) = latchkey::auth::jose::generate(
                    latchkey::domain::oauth::SigningAlg::EdDsa,
                    "replacement",
                )
                .unwrap();
                Body::Json(json!({ "keys": [jwk] }))
            }),
            actions: &["client.jwks_set"],
        },
        Case {
            method: "DELETE",
            template: "/config/{app_id}/clients/{client_id}/jwks",
            operator: false,
            body: Maker::Body(|_| Body::Empty),
            actions: &["client.jwks_delete"],
        },
        Case {
            method: "POST",
            template: "/oauth/{app_id}/revoke",
            operator: false,
            body: Maker::Body(|i| Body::Params(vec![("token", i.token.clone())])),
            actions: &["oauth.token_revoke"],
        },
    ]
    .into_iter()
    .chain(registration_cases().into_iter().flat_map(|r| {
        ["GET", "POST"].map(|method| Case {
            method,
            template: r.path,
            operator: false,
            body: Maker::Params(r.params),
            actions: r.actions,
        })
    }))
    .collect()
}

/// How a case makes its request body from its fixture.
enum Maker {
    Body(fn(&Ids) -> Body),
    Params(fn(&Ids) -> Vec<(&'static str, String)>),
}

impl Maker {
    fn make(&self, ids: &Ids) -> Body {
        match self {
            Maker::Body(f) => f(ids),
            Maker::Params(f) => Body::Params(f(ids)),
        }
    }
}

/// Makes the per-case fixture described on [`Ids`].
async fn fixture(app: &TestApp, owner: &Owner, label: &str) -> Ids {
    let client_id = app
        .create_client(
            owner,
            json!({"name": format!("target of {label}"), "features": ["direct_access"],
                   "ipWhitelist": ["0.0.0.0/0", "10.0.0.0/8"]}),
        )
        .await
        .id;
    let type_name = format!("t{}", &client_id[..8]);
    let spare_type = format!("s{}", &client_id[..8]);
    let app_id = owner.app_id.clone();
    let setup = [
        (
            Method::PUT,
            format!("/config/{app_id}/clients/{client_id}/settings"),
            json!({"fixture": 1}),
        ),
        (
            Method::PUT,
            format!("/config/{app_id}/settings"),
            json!({"fixture": 1}),
        ),
        (
            Method::POST,
            format!("/config/{app_id}/entityTypes"),
            json!({"name": type_name,
            "attr_defs": [{"name": "email", "type": "string"}, {"name": "nick", "type": "string"}]}),
        ),
        (
            Method::POST,
            format!("/config/{app_id}/entityTypes"),
            json!({"name": spare_type,
            "attr_defs": [{"name": "email", "type": "string"}]}),
        ),
        (
            Method::PUT,
            format!("/config/{app_id}/clients/{client_id}/accessSchemas/{type_name}/read"),
            json!({"attributes": ["nick"]}),
        ),
    ];
    for (method, path, body) in setup {
        let (status, got) = app
            .as_owner(owner, method, &path)
            .json(&body)
            .fetch()
            .await
            .pair();
        assert!(
            (200..300).contains(&status),
            "fixture {path}: {status} {got}"
        );
    }
    let snapshot = format!("s{}", &client_id[..8]);
    let res = app
        .as_operator(Method::PUT, &format!("/apps/{app_id}/snapshots/{snapshot}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "fixture snapshot");
    let sink = format!("s-{}", &client_id[..8]);
    let paused_sink = format!("p-{}", &client_id[..8]);
    for name in [&sink, &paused_sink] {
        let sink = json!({"name": name, "kind": "webhook", "url": "http://127.0.0.1:9/hook",
                          "apps": [app_id]});
        app.operator().post("/sinks", &sink).await.status_is(201);
    }
    let res = app
        .operator()
        .call(Method::POST, &format!("/sinks/{paused_sink}/pause"))
        .await;
    assert_eq!(res.status, 200, "fixture sink paused");
    let (status, body) = app
        .as_owner(owner, Method::POST, &format!("/oauth/{app_id}/token"))
        .form(&[("grant_type", "client_credentials")])
        .fetch()
        .await
        .pair();
    assert_eq!(status, 200, "fixture token {body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let (_, jwk) =
        latchkey::auth::jose::generate(latchkey::domain::oauth::SigningAlg::Es256, "fixture")
            .unwrap();
    let res = app
        .by(owner)
        .put(
            &format!("/config/{app_id}/clients/{client_id}/jwks"),
            &json!({ "keys": [jwk] }),
        )
        .await;
    assert_eq!(res.status, 200, "fixture client keys");
    Ids {
        app_id,
        client_id,
        type_name,
        spare_type,
        snapshot,
        sink,
        paused_sink,
        token,
    }
}

fn fill(template: &str, ids: &Ids) -> String {
    assert!(
        !template.contains("{}"),
        "name the parameters of {template}"
    );
    template
        .replace("{app_id}", &ids.app_id)
        .replace("{client_id}", &ids.client_id)
        .replace("{type_name}", &ids.type_name)
        .replace("{spare_type}", &ids.spare_type)
        .replace("{snapshot}", &ids.snapshot)
        .replace("{paused_sink}", &ids.paused_sink)
        .replace("{sink}", &ids.sink)
        .replace("{access_type}", "read")
}

#[tokio::test]
async fn the_case_table_and_the_route_list_agree() {
    let routes = mutating_routes();
    let listed: BTreeSet<_> = routes
        .iter()
        .map(|(m, t)| (m.clone(), route_shape(t)))
        .collect();
    let covered: BTreeSet<_> = cases()
        .iter()
        .map(|c| (c.method.to_owned(), route_shape(c.template)))
        .collect();
    assert_eq!(listed.len(), routes.len(), "duplicates in the route table");
    assert!(listed.len() > 40, "the table marks the writes: {listed:?}");
    assert_eq!(
        listed, covered,
        "every mutating route needs exactly one Case, and every Case a mutating row in src/http/routes.rs"
    );
}

#[tokio::test]
async fn every_mutating_route_writes_exactly_its_events_in_its_transaction() {
    // The fixture makes two sinks per case: no delivery (a worker and a connection each).
    let app = spawn_app_with(|s| s.sinks.delivery = false).await;
    let owner = app.create_app("shop").await;
    for case in cases() {
        let ids = fixture(&app, &owner, &format!("{} {}", case.method, case.template)).await;
        let before: i64 = app.scalar("SELECT count(*) FROM audit_events", &[]).await;
        let mut path = fill(case.template, &ids);
        let method = Method::from_bytes(case.method.as_bytes()).unwrap();
        let body = case.body.make(&ids);
        if let (Body::Params(params), "GET") = (&body, case.method) {
            path = format!("{path}?{}", serde_urlencoded::to_string(params).unwrap());
        }
        let mut req = if case.operator {
            app.as_operator(method, &path)
        } else {
            app.as_owner(&owner, method, &path)
        };
        req = match body {
            Body::Empty => req,
            Body::Json(v) => req.json(&v),
            Body::Params(_) if case.method == "GET" => req,
            Body::Params(f) => req.form(&f),
        };
        let res = req.fetch().await;
        let request_id = res.headers["x-request-id"].to_str().unwrap().to_owned();
        let (status, body) = res.pair();
        // The Registration API answers 200 for errors too: its verdict is `stat`.
        assert!(
            (200..300).contains(&status) && body.get("stat").is_none_or(|s| s == "ok"),
            "{} {path}: {status} {body}",
            case.method
        );

        let new: Vec<String> = sqlx::query_scalar(
            "SELECT action FROM audit_events WHERE request_id = $1 ORDER BY app_id, seq",
        )
        .bind(&request_id)
        .fetch_all(&app.pool)
        .await
        .unwrap();
        let total: i64 = app.scalar("SELECT count(*) FROM audit_events", &[]).await;
        assert_eq!(
            total - before,
            case.actions.len() as i64,
            "{} {}: events written",
            case.method,
            case.template
        );
        let actions: Vec<&str> = new.iter().map(String::as_str).collect();
        assert_eq!(
            actions, case.actions,
            "{} {}: the request's events",
            case.method, case.template
        );
    }
}

/// The table's path with its parameters filled: the application is real; any other parameter
/// names nothing (a client id of the right shape that does not exist), so probing changes nothing.
fn probe_path(template: &str, app_id: &str) -> String {
    let mut path = String::new();
    for (i, part) in route_shape(template).split("{}").enumerate() {
        if i > 0 {
            let prev = path.rsplit('/').nth(1).unwrap_or("");
            path.push_str(if prev == "config" || prev == "apps" {
                app_id
            } else {
                "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
            });
        }
        path.push_str(part);
    }
    path
}

#[tokio::test]
async fn the_server_answers_exactly_the_methods_of_the_table() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let rows = table();
    let mut paths: Vec<&str> = rows.iter().map(|r| r.path).collect();
    paths.dedup();
    let mut wrong = Vec::new();
    for template in paths {
        let path = probe_path(template, &owner.app_id);
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let listed = rows
                .iter()
                .any(|r| r.path == template && r.methods.iter().any(|m| m.as_str() == method));
            let res = app
                .as_operator(Method::from_bytes(method.as_bytes()).unwrap(), &path)
                .send()
                .await
                .unwrap();
            // The change feed never ends its body: answered, and nothing more to read.
            let is_feed = res
                .headers()
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
            let (status, body) = if is_feed {
                (res.status().as_u16(), Value::Null)
            } else {
                status_json(res).await
            };
            // 405: the path exists without this method; 404 "Not found.": no route at all.
            let answered = !(status == 405 || (status == 404 && body == errors("Not found.")));
            if answered != listed {
                wrong.push(format!(
                    "{method} {template}: answered {status}, in the table: {listed}"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "server and route table disagree: {wrong:#?}"
    );
}

#[tokio::test]
async fn refused_changes_write_no_event() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let id = app.add_client(&owner, "x", &[]).await;
    let before = app.audit_rows(&owner.app_id).await.len();
    let path = format!("/config/{}/clients/{id}", owner.app_id);
    for (method, body) in [
        (Method::PUT, json!({"name": "x", "features": ["bogus"]})),
        (Method::PUT, json!({"name": "x", "features": ["metadata"]})),
        (Method::POST, json!({"name": "x"})),
    ] {
        let path = if method == Method::POST {
            format!("/config/{}/clients", owner.app_id)
        } else {
            path.clone()
        };
        let (status, _) = app
            .as_owner(&owner, method, &path)
            .json(&body)
            .fetch()
            .await
            .pair();
        assert!(status >= 400);
    }
    assert_eq!(app.audit_rows(&owner.app_id).await.len(), before);
}

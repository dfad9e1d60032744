//! Completeness of the audit log: every route that changes state writes exactly its audit
//! event(s), in the request's transaction (same request id), and no state-changing route the
//! server answers is missing from `latchkey::http::mutating::MUTATING_ROUTES`.
//!
//! Every (method, route) the server answers must be classified: in MUTATING_ROUTES with a `Case`
//! below (a request that succeeds, and the actions it must write), or in `READ_ONLY_ROUTES`.
//! Routes are found by scanning `src/http` for path literals and asking the server which methods
//! each answers, so a new route, or a new method on a route, fails here until it is classified.
//! (RPC routes of the Registration API answer GET and POST alike: classify both methods.)

use std::collections::BTreeSet;

use latchkey::http::mutating::MUTATING_ROUTES;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// Routes that change nothing.
const READ_ONLY_ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/apps"),
    ("GET", "/apps/{app_id}"),
    ("GET", "/config/{app_id}/clients"),
    ("GET", "/config/{app_id}/clients/{client_id}"),
    ("GET", "/config/{app_id}/audit"),
    ("GET", "/config/{app_id}/audit/verify"),
];

/// A template with its parameters unnamed: `/config/{appId}/x`, `/config/{app_id}/x` and
/// `format!("/config/{}/x")` are one route.
fn shape(template: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in template.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            c if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

fn classified(list: &[(&str, &str)], method: &str, template: &str) -> bool {
    list.iter()
        .any(|(m, t)| *m == method && shape(t) == shape(template))
}

/// The ids a case's path and body may use: `client_id` is a fresh client with
/// `direct_access`, made for this case alone.
struct Ids {
    app_id: String,
    client_id: String,
}

#[allow(dead_code)] // Form: for the Registration API's routes
enum Body {
    Empty,
    Json(Value),
    Form(Vec<(&'static str, String)>),
}

struct Case {
    method: &'static str,
    template: &'static str,
    /// `true`: call as the operator; otherwise as the application's owner.
    operator: bool,
    body: fn(&Ids) -> Body,
    /// Actions of the events the call must write, in order.
    actions: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            method: "POST",
            template: "/apps",
            operator: true,
            body: |_| Body::Json(json!({"name": "another app"})),
            // The application and its first owner client: two changes, two events.
            actions: &["app.create", "client.create"],
        },
        Case {
            method: "POST",
            template: "/config/{app_id}/clients",
            operator: false,
            body: |_| Body::Json(json!({"name": "new client", "features": ["direct_read_access"]})),
            actions: &["client.create"],
        },
        Case {
            method: "PUT",
            template: "/config/{app_id}/clients/{client_id}",
            operator: false,
            body: |_| {
                Body::Json(
                    json!({"name": "renamed", "features": ["access_issuer"], "ipWhitelist": ["10.0.0.0/8"]}),
                )
            },
            actions: &["client.update"],
        },
        Case {
            method: "DELETE",
            template: "/config/{app_id}/clients/{client_id}",
            operator: false,
            body: |_| Body::Empty,
            actions: &["client.delete"],
        },
        Case {
            method: "PUT",
            template: "/config/{app_id}/clients/{client_id}/secret",
            operator: false,
            body: |_| Body::Json(json!({"hoursToLive": 0})),
            actions: &["client.secret_rotate"],
        },
    ]
}

fn fill(template: &str, ids: &Ids) -> String {
    assert!(
        !template.contains("{}"),
        "name the parameters of {template}"
    );
    template
        .replace("{app_id}", &ids.app_id)
        .replace("{client_id}", &ids.client_id)
}

#[tokio::test]
async fn the_case_table_and_the_route_list_agree() {
    let listed: BTreeSet<_> = MUTATING_ROUTES.iter().copied().collect();
    let covered: BTreeSet<_> = cases().iter().map(|c| (c.method, c.template)).collect();
    assert_eq!(
        listed.len(),
        MUTATING_ROUTES.len(),
        "duplicates in MUTATING_ROUTES"
    );
    assert_eq!(
        listed, covered,
        "every mutating route needs exactly one Case, and every Case a MUTATING_ROUTES entry"
    );
}

#[tokio::test]
async fn every_mutating_route_writes_exactly_its_events_in_its_transaction() {
    let app = spawn_app().await;
    let owner = app.create_app("shop").await;
    for case in cases() {
        let (client_id, _, _) = app
            .create_client(&owner, json!({"name": format!("target of {} {}", case.method, case.template), "features": ["direct_access"]}))
            .await;
        let ids = Ids {
            app_id: owner.app_id.clone(),
            client_id,
        };
        let before: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        let path = fill(case.template, &ids);
        let method = Method::from_bytes(case.method.as_bytes()).unwrap();
        let mut req = if case.operator {
            app.as_operator(method, &path)
        } else {
            app.as_owner(&owner, method, &path)
        };
        req = match (case.body)(&ids) {
            Body::Empty => req,
            Body::Json(v) => req.json(&v),
            Body::Form(f) => req.form(&f),
        };
        let res = req.send().await.unwrap();
        let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        let (status, body) = status_json(res).await;
        assert!(
            (200..300).contains(&status),
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
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
            .fetch_one(&app.pool)
            .await
            .unwrap();
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

/// Route shapes named in the server's source: every string literal under `src/http` that looks
/// like a path (`"/…"`, up to any `?`), parameters unnamed. Literals that are not routes (links,
/// prefixes) are harmless: the server does not answer them.
fn declared_shapes() -> BTreeSet<String> {
    fn walk(dir: &std::path::Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (i, _) in text.match_indices("\"/") {
                    let rest = &text[i + 1..];
                    let Some(end) = rest.find('"') else { continue };
                    let literal = rest[..end].split('?').next().unwrap_or("");
                    let path_like = literal.len() > 1
                        && literal
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "/{}_.-".contains(c));
                    if path_like {
                        out.insert(shape(literal));
                    }
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http"),
        &mut out,
    );
    out
}

#[tokio::test]
async fn every_route_the_server_answers_is_classified() {
    let app = spawn_app().await;
    let owner = app.create_app("shop").await;
    let shapes = declared_shapes();
    assert!(
        shapes.contains("/config/{}/clients/{}"),
        "the scan finds routes: {shapes:?}"
    );
    let mut unclassified = Vec::new();
    let mut answered = BTreeSet::new();
    for shape in &shapes {
        // The application is real; any other parameter names nothing (a client id of the right
        // shape that does not exist), and no body is sent: probing changes nothing.
        let mut path = String::new();
        for (i, part) in shape.split("{}").enumerate() {
            if i > 0 {
                let prev = path.rsplit('/').nth(1).unwrap_or("");
                path.push_str(if prev == "config" || prev == "apps" {
                    owner.app_id.as_str()
                } else {
                    "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
                });
            }
            path.push_str(part);
        }
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let res = app
                .as_operator(Method::from_bytes(method.as_bytes()).unwrap(), &path)
                .send()
                .await
                .unwrap();
            let (status, body) = status_json(res).await;
            // 405: the path exists without this method; 404 "Not found.": no route at all.
            if status == 405 || (status == 404 && body == errors("Not found.")) {
                continue;
            }
            answered.insert((method, shape.clone()));
            if !classified(MUTATING_ROUTES, method, shape)
                && !classified(READ_ONLY_ROUTES, method, shape)
            {
                unclassified.push(format!("{method} {shape} (answered {status})"));
            }
        }
    }
    assert!(
        unclassified.is_empty(),
        "routes in neither MUTATING_ROUTES (src/http/mutating.rs) nor READ_ONLY_ROUTES (this file): {unclassified:#?}"
    );
    for (method, template) in MUTATING_ROUTES.iter().chain(READ_ONLY_ROUTES) {
        assert!(
            answered.contains(&(*method, shape(template))),
            "{method} {template} is classified but the server does not answer it"
        );
    }
}

#[tokio::test]
async fn refused_changes_write_no_event() {
    let app = spawn_app().await;
    let owner = app.create_app("shop").await;
    let (id, _, _) = app.create_client(&owner, json!({"name": "x"})).await;
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
        let (status, _) = status_json(
            app.as_owner(&owner, method, &path)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(status >= 400);
    }
    assert_eq!(app.audit_rows(&owner.app_id).await.len(), before);
}

//! Operations: OpenAPI completeness, docs, metrics, readiness, failed-auth limits.

use std::collections::BTreeSet;

use latchkey::http::routes::{table, Surface};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// Every row of the route table is in the OpenAPI document, under its own path and methods, and
/// the document names nothing else: both surfaces, the operator's and the operational routes.
#[tokio::test]
async fn openapi_documents_every_route_of_the_table() {
    let app = spawn_app().await;
    let doc = app
        .request(Method::GET, "/openapi.json")
        .fetch()
        .await
        .status_is(200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["components"]["securitySchemes"]["basic"].is_object());
    assert!(doc["components"]["securitySchemes"]["operator"].is_object());
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), route_shape(path)));
        }
    }
    let mut served = BTreeSet::new();
    for row in table() {
        if row.doc.is_none() {
            assert_eq!(
                (row.surface, row.path),
                (Surface::Docs, "/openapi.json"),
                "only the document itself may go undocumented"
            );
            continue;
        }
        for method in row.methods {
            served.insert((method.to_string(), route_shape(row.path)));
        }
    }
    assert!(served.len() > 80, "the table: {served:?}");
    let missing: Vec<_> = served.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes of the table missing from /openapi.json: {missing:?}"
    );
    let stale: Vec<_> = documented.difference(&served).collect();
    assert!(stale.is_empty(), "documented but not served: {stale:?}");
}

#[tokio::test]
async fn openapi_states_the_values_the_server_restricts() {
    let app = spawn_app().await;
    let (_, doc) = app
        .request(Method::GET, "/openapi.json")
        .fetch()
        .await
        .pair();
    let param = |path: &str, method: &str, name: &str| -> Value {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{method} {path}: no parameter {name}"))["schema"]
            .clone()
    };
    let schema_path = "/config/{appId}/clients/{clientId}/accessSchemas/{typeName}/{accessType}";
    assert_eq!(
        param(schema_path, "get", "accessType")["enum"],
        json!(["read", "write"])
    );
    assert_eq!(
        param("/config/{appId}/clients", "get", "has_feature")["items"]["enum"],
        json!(ALL_FEATURES)
    );
    assert_eq!(
        param("/entityType.getAccessSchema", "get", "access_type")["enum"],
        json!(["read", "write"])
    );
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["AppInput"]["properties"]["region"]["anyOf"][0]["enum"],
        json!(["us", "eu", "au", "sa", "cn", "sg"])
    );
    assert_eq!(schemas["ClientInput"]["properties"]["name"]["minLength"], 1);
    assert_eq!(
        schemas["SecretInput"]["properties"]["hoursToLive"]["maximum"],
        168
    );
    // Every operation of the Config API documents what its extractor can answer.
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/config/") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            for status in ["401", "403", "404", "429", "503"] {
                assert!(
                    op["responses"][status].is_object(),
                    "{method} {path}: no {status}"
                );
            }
        }
    }
    // The 404 of the resource the path names, added once for every operation below it (an
    // operation's own 404 wins: the type's), and the OAuth form endpoints' client answers.
    let not_found = |path: &str, method: &str| {
        doc["paths"][path][method]["responses"]["404"]["description"].clone()
    };
    assert_eq!(
        not_found("/config/{appId}/clients/{clientId}/settings", "put"),
        "`Client ID not found.`"
    );
    assert_eq!(
        not_found("/config/{appId}/entityTypes/{typeName}", "get"),
        "No such type"
    );
    assert_eq!(
        not_found("/sinks/{name}/pause", "post"),
        "`Sink not found.`"
    );
    assert_eq!(
        not_found("/apps/{appId}/snapshots", "get"),
        "`Application not found.`"
    );
    assert_eq!(
        not_found("/oauth/{appId}/jwks", "get"),
        "No such application"
    );
    assert!(doc["paths"]["/oauth/{appId}/jwks"]["get"]["responses"]["401"].is_null());
    for path in [
        "/oauth/{appId}/token",
        "/oauth/{appId}/introspect",
        "/oauth/{appId}/revoke",
    ] {
        let responses = &doc["paths"][path]["post"]["responses"];
        assert_eq!(responses["401"]["description"], "invalid_client", "{path}");
        assert!(
            responses["401"]["headers"]["WWW-Authenticate"].is_object(),
            "{path}"
        );
        assert!(
            responses["429"]["headers"]["Retry-After"].is_object(),
            "{path}"
        );
        assert_eq!(
            responses["503"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/OAuthErrorBody",
            "{path}"
        );
        assert!(responses["404"].is_null(), "{path}");
    }
    // A Registration POST takes a form body; its GET the same parameters in the query string.
    let add = &doc["paths"]["/clients/add"];
    assert_eq!(
        add["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
            ["required"],
        json!(["description"])
    );
    assert!(add["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "description" && p["in"] == "query"));
    assert_eq!(
        add["post"]["responses"]["200"]["content"]["application/json"]["schema"]["oneOf"][1],
        json!({"$ref": "#/components/schemas/ErrorEnvelope"})
    );
}

#[tokio::test]
async fn interactive_docs_are_served_from_the_binary() {
    let app = spawn_app().await;
    let res = app.request(Method::GET, "/docs/").fetch().await;
    assert_eq!(res.status, 200);
    let html = res.text;
    assert!(html.contains("swagger-ui"), "{html}");
    let res = app
        .request(Method::GET, "/docs/swagger-ui-bundle.js")
        .fetch()
        .await;
    assert_eq!(res.status, 200);
    assert!(res.text.len() > 100_000);
}

#[tokio::test]
async fn metrics_count_requests_and_credential_checks() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let path = format!("/config/{}/clients", owner.app_id);
    for _ in 0..3 {
        assert_eq!(app.by(&owner).get(&path).await.status, 200);
    }
    let res = app.request(Method::GET, "/metrics").fetch().await;
    assert_eq!(res.status, 200);
    let text = res.text;
    assert!(
        text.contains(r#"latchkey_http_requests_total{method="GET",route="/config/{app_id}/clients",status="200"} 3"#),
        "{text}"
    );
    assert!(text.contains("latchkey_http_request_duration_seconds_bucket"));
    // First request ran Argon2, the next two were proven from the cache.
    assert!(
        text.contains("latchkey_argon2_verifications_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains("latchkey_credential_cache_hits_total 2\n"),
        "{text}"
    );
    assert!(text.contains("latchkey_db_pool_connections{state=\"idle\"}"));
}

#[tokio::test]
async fn metrics_can_have_their_own_listener() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_with(|s| {
        s.http.metrics_listen = Some(format!("127.0.0.1:{port}").parse().unwrap())
    })
    .await;
    let (status, _) = app.request(Method::GET, "/metrics").fetch().await.pair();
    assert_eq!(status, 404, "not on the main listener");
    let res = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("latchkey_db_pool_connections"));
}

#[tokio::test]
async fn readiness_reports_pending_migrations() {
    let app = spawn_app().await;
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 1")
        .execute(&app.pool)
        .await
        .unwrap();
    app.request(Method::GET, "/readyz")
        .fetch()
        .await
        .is(503, json!({"status": "migrations pending", "pending": 1}));
    let (status, _) = app.request(Method::GET, "/healthz").fetch().await.pair();
    assert_eq!(status, 200, "liveness does not depend on the database");
}

#[tokio::test]
async fn failed_authentications_are_limited_with_retry_after() {
    let app = spawn_app_with(|s| s.auth.failure_limit = 3).await;
    let owner = app.create_app("shop").await;
    let path = format!("/config/{}/clients", owner.app_id);
    // Distinct wrong secrets: a replayed one is remembered, not a new guess (docs/limits.md).
    for i in 0..3 {
        app.by_client(&owner.client_id, &format!("wrong{i}"))
            .get(&path)
            .await
            .status_is(401);
    }
    let res = app.by_client(&owner.client_id, "wrong").get(&path).await;
    assert_eq!(res.status, 429);
    let retry: u64 = res.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: Value = res.body;
    assert_eq!(body, errors("Too many failed authentication attempts."));
    // The right secret from the same address, never verified before, is a new guess and is
    // refused too until the window ends: the limit is on the source (other sources are not
    // affected: tests/api/hardening.rs).
    app.by(&owner).get(&path).await.status_is(429);
    // The operator token is a guess like any other from that source.
    let (status, _) = app.operator().get(&path).await.pair();
    assert_eq!(status, 429, "the source is limited");
}

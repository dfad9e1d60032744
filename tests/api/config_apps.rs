//! Operator routes: `/apps`.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn operator_creates_an_app_with_an_owner_client() {
    let app = spawn_app().await;
    let res = app
        .as_operator(Method::POST, "/apps")
        .json(&json!({ "name": "shop", "region": "eu" }))
        .fetch()
        .await;
    assert_eq!(res.status, 201);
    assert_eq!(res.headers["x-request-id"].len(), 16);
    let body: serde_json::Value = res.body;
    let app_id = body["app_id"].as_str().unwrap();
    assert_eq!(app_id.len(), 26);
    assert_eq!(body["name"], "shop");
    assert_eq!(body["region"], "eu");
    let owner = &body["owner"];
    let id = owner["_id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert_eq!(owner["_secret"].as_str().unwrap().len(), 32);
    assert_eq!(owner["_self"], format!("/config/{app_id}/clients/{id}"));
    assert_eq!(
        owner["_settings"],
        format!("/config/{app_id}/clients/{id}/settings")
    );
    assert_eq!(owner["features"], json!(["owner"]));
    assert_eq!(owner["ipWhitelist"], json!(["0.0.0.0/0"]));

    let list = app
        .as_operator(Method::GET, "/apps")
        .fetch()
        .await
        .status_is(200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["app_id"], app_id);
    assert!(list[0].get("owner").is_none());

    let one = app
        .as_operator(Method::GET, &format!("/apps/{app_id}"))
        .fetch()
        .await
        .status_is(200);
    assert_eq!(one["name"], "shop");
}

#[tokio::test]
async fn app_creation_is_audited_with_the_owner_client() {
    let app = spawn_app().await;
    let owner = app.create_app("shop").await;
    let rows = app.audit_rows(&owner.app_id).await;
    let actions: Vec<_> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["app.create", "client.create"]);
    assert_eq!(rows[0]["actor"], "operator");
    assert_eq!(rows[1]["features_after"], json!(["owner"]));
    assert!(!rows[1].to_string().contains(&owner.secret));
}

#[tokio::test]
async fn unknown_app_is_404_for_the_operator() {
    let app = spawn_app().await;
    app.as_operator(Method::GET, "/apps/aaaaaaaaaaaaaaaaaaaaaaaaaa")
        .fetch()
        .await
        .is(404, errors("Application not found."));
    app.as_operator(Method::GET, "/config/aaaaaaaaaaaaaaaaaaaaaaaaaa/clients")
        .fetch()
        .await
        .is(404, errors("Application not found."));
}

#[tokio::test]
async fn app_routes_refuse_anyone_but_the_operator() {
    let app = spawn_app().await;
    let owner = app.create_app("shop").await;
    for req in [
        app.request(Method::GET, "/apps"),
        app.request(Method::GET, "/apps")
            .header("Authorization", "Bearer wrong-token-wrong-token"),
        app.as_owner(&owner, Method::GET, "/apps"),
        app.as_owner(&owner, Method::POST, "/apps")
            .json(&json!({"name": "x"})),
    ] {
        req.fetch()
            .await
            .is(401, errors("Authentication required."));
    }
}

#[tokio::test]
async fn app_names_are_unique_and_regions_checked() {
    let app = spawn_app().await;
    app.create_app("shop").await;
    app.as_operator(Method::POST, "/apps")
        .json(&json!({ "name": "shop" }))
        .fetch()
        .await
        .is(409, errors("Application shop already exists."));
    app.as_operator(Method::POST, "/apps")
        .json(&json!({ "name": "other", "region": "mars" }))
        .fetch()
        .await
        .is(400, errors("Not a valid region."));
}

#[tokio::test]
async fn without_an_operator_token_nobody_is_operator() {
    let app = spawn_app_with(|s| s.auth.operator_token = None).await;
    app.request(Method::GET, "/apps")
        .header("Authorization", "Bearer ")
        .fetch()
        .await
        .status_is(401);
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    app.request(Method::GET, "/healthz")
        .fetch()
        .await
        .is(200, json!({"status": "ok"}));
    app.request(Method::GET, "/readyz")
        .fetch()
        .await
        .is(200, json!({"status": "ready"}));
}

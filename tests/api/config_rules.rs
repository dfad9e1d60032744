//! Every row of the spec §3 status table, and the feature rules of §1.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

async fn post(app: &TestApp, owner: &Owner, body: Value) -> (u16, Value) {
    app.config(owner).create_client(&body).await.pair()
}

async fn put(app: &TestApp, owner: &Owner, id: &str, body: Value) -> (u16, Value) {
    app.config(owner).put_client(id, &body).await.pair()
}

#[tokio::test]
async fn invalid_bodies_are_400_with_the_seed_messages_and_change_nothing() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let id = app.add_client(&owner, "target", &["direct_access"]).await;
    let cases = [
        (
            json!({"features": ["owner"]}),
            "Missing data for required field.",
        ),
        (json!({"name": null}), "Name not supplied"),
        (json!({"name": ""}), "Name not supplied"),
        (json!({"name": "   "}), "Name not supplied"),
        (json!({"name": 5}), "Not a valid string."),
        (json!({"name": ["a"]}), "Not a valid string."),
        (json!({"name": "n", "features": [1]}), "Not a valid string."),
        (
            json!({"name": "n", "ipWhitelist": [10]}),
            "Not a valid string.",
        ),
        (
            json!({"name": "n", "features": "owner"}),
            "Not a valid list.",
        ),
        (
            json!({"name": "n", "ipWhitelist": "10.0.0.0/8"}),
            "Not a valid list.",
        ),
        (json!({"name": "n", "features": null}), "Not a valid list."),
        (
            json!({"name": "n", "ipWhitelist": ["10.0.0.1"]}),
            "Not a valid CIDR address.",
        ),
        (
            json!({"name": "n", "ipWhitelist": ["10.0.0.0/33"]}),
            "Not a valid CIDR address.",
        ),
        (
            json!({"name": "n", "ipWhitelist": ["10.0.0.1/8"]}),
            "Not a valid CIDR address.",
        ),
        (
            json!({"name": "n", "ipWhitelist": ["2001:db8::1/32"]}),
            "Not a valid CIDR address.",
        ),
        (
            json!({"name": "n", "ipWhitelist": ["::/129"]}),
            "Not a valid CIDR address.",
        ),
        (
            json!({"name": "n", "ipWhitelist": ["nonsense"]}),
            "Not a valid CIDR address.",
        ),
        (
            json!({"name": "n", "features": ["superuser"]}),
            "Not a valid feature name.",
        ),
        (
            json!({"name": "n", "features": ["login_client", "direct_access"]}),
            "Clients with the login_client feature cannot have any other features.",
        ),
        (
            json!({"name": "n", "features": ["metadata"]}),
            "The metadata feature can only be applied to a client by Akamai.",
        ),
    ];
    let before = client_count(&app, &owner.app_id).await;
    let audit_before = app.audit_rows(&owner.app_id).await.len();
    for (body, msg) in &cases {
        assert_eq!(
            post(&app, &owner, body.clone()).await,
            (400, errors(msg)),
            "POST {body}"
        );
        assert_eq!(
            put(&app, &owner, &id, body.clone()).await,
            (400, errors(msg)),
            "PUT {body}"
        );
    }
    assert_eq!(client_count(&app, &owner.app_id).await, before);
    assert_eq!(app.audit_rows(&owner.app_id).await.len(), audit_before);
    let (_, got) = app.config(&owner).get_client(&id).await.pair();
    assert_eq!(got["name"], "target");
    assert_eq!(got["features"], json!(["direct_access"]));
}

#[tokio::test]
async fn malformed_json_wrong_type_and_content_type() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let path = format!("/config/{}/clients", owner.app_id);
    for (ctype, body) in [
        ("application/json", "{\"name\": "),
        ("application/json", "[\"name\"]"),
        ("application/json", "\"name\""),
        ("application/json", ""),
        ("text/plain", "{\"name\": \"x\"}"),
        ("application/x-www-form-urlencoded", "name=x"),
    ] {
        app.as_owner(&owner, Method::POST, &path)
            .header("Content-Type", ctype)
            .body(body)
            .fetch()
            .await
            .case_is(
                400,
                errors("Invalid JSON body."),
                format_args!("{ctype} {body}"),
            );
    }
    let (status, _) = app
        .as_owner(&owner, Method::POST, &path)
        .header("Content-Type", "application/json; charset=utf-8")
        .body("{\"name\": \"x\"}")
        .fetch()
        .await
        .pair();
    assert_eq!(status, 201, "parameters on the content type are fine");
}

#[tokio::test]
async fn huge_bodies_are_413() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let big = json!({"name": "x", "pad": "y".repeat(70 * 1024)});
    let (status, body) = post(&app, &owner, big).await;
    assert_eq!((status, body), (413, errors("Request body too large.")));
    assert_eq!(client_count(&app, &owner.app_id).await, 1);
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let (status, body) = post(
        &app,
        &owner,
        json!({"name": "x", "_id": "zzz", "color": "red"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_ne!(body["_id"], "zzz");
    assert!(body.get("color").is_none());
}

#[tokio::test]
async fn duplicate_names_are_409() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    app.make_client(&owner, "My Client", &[]).await;
    let id = app.add_client(&owner, "other", &[]).await;
    assert_eq!(
        post(&app, &owner, json!({"name": "My Client"})).await,
        (409, errors("API client My Client already exists."))
    );
    assert_eq!(
        put(&app, &owner, &id, json!({"name": "My Client"})).await,
        (409, errors("API client My Client already exists."))
    );
    // Names are unique per application only.
    let other = app.create_app("other app").await;
    assert_eq!(
        post(&app, &other, json!({"name": "My Client"})).await.0,
        201
    );
}

#[tokio::test]
async fn unknown_client_is_404() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let missing = "a".repeat(32);
    for method in [Method::GET, Method::DELETE] {
        app.as_owner(
            &owner,
            method,
            &format!("/config/{}/clients/{missing}", owner.app_id),
        )
        .fetch()
        .await
        .is(404, errors("Client ID not found."));
    }
    assert_eq!(
        put(&app, &owner, &missing, json!({"name": "x"})).await,
        (404, errors("Client ID not found."))
    );
    assert_eq!(
        put(&app, &owner, "not-even-an-id", json!({"name": "x"})).await,
        (404, errors("Client ID not found."))
    );
}

#[tokio::test]
async fn metadata_rules() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let (meta, _) = app
        .create_client_as_operator(
            &owner.app_id,
            json!({"name": "meta", "features": ["metadata", "direct_access"]}),
        )
        .await;
    let plain = app.add_client(&owner, "plain", &[]).await;
    let msg403 = "Clients with the metadata feature can only be updated by Akamai.";
    assert_eq!(
        put(
            &app,
            &owner,
            &meta,
            json!({"name": "meta", "features": ["metadata", "direct_access"]})
        )
        .await,
        (403, errors(msg403))
    );
    assert_eq!(
        put(&app, &owner, &meta, json!({"name": "meta2"})).await,
        (403, errors(msg403))
    );
    app.config(&owner)
        .delete_client(&meta)
        .await
        .is(403, errors(msg403));
    app.config(&owner)
        .rotate_secret(&meta, &json!({"hoursToLive": 0}))
        .await
        .is(403, errors(msg403));
    assert_eq!(
        put(
            &app,
            &owner,
            &plain,
            json!({"name": "plain", "features": ["metadata"]})
        )
        .await,
        (
            400,
            errors("The metadata feature can only be applied to a client by Akamai.")
        )
    );
    // The operator may do all of it.
    let b = app
        .operator()
        .put(
            &format!("/config/{}/clients/{meta}", owner.app_id),
            &json!({"name": "meta", "features": ["metadata"]}),
        )
        .await
        .status_is(200);
    assert_eq!(b["features"], json!(["metadata"]));
}

#[tokio::test]
async fn operator_name_is_configurable() {
    let app = spawn_app_with(|s| s.auth.operator_name = "ACME Platform".into()).await;
    let owner = app.create_app("shop").await;
    assert_eq!(
        post(&app, &owner, json!({"name": "n", "features": ["metadata"]})).await,
        (
            400,
            errors("The metadata feature can only be applied to a client by ACME Platform.")
        )
    );
}

#[tokio::test]
async fn owner_rules() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    // The caller cannot drop owner from itself.
    assert_eq!(
        put(
            &app,
            &owner,
            &owner.client_id,
            json!({"name": "owner", "features": ["direct_access"]})
        )
        .await,
        (
            403,
            errors("Owner feature cannot be removed from the client making the call.")
        )
    );
    assert_eq!(
        put(&app, &owner, &owner.client_id, json!({"name": "owner"})).await,
        (
            403,
            errors("Owner feature cannot be removed from the client making the call.")
        )
    );
    // Nor from another owner client.
    let second = app.add_client(&owner, "second", &["owner"]).await;
    assert_eq!(
        put(
            &app,
            &owner,
            &second,
            json!({"name": "second", "features": []})
        )
        .await,
        (403, errors("Owner feature can only be removed by Akamai."))
    );
    // Keeping owner while changing the rest is fine.
    let (s, b) = put(
        &app,
        &owner,
        &owner.client_id,
        json!({"name": "renamed owner", "features": ["owner", "direct_access"]}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["features"], json!(["direct_access", "owner"]));
    // Deleting itself is deleting an owner client.
    app.by(&owner)
        .delete(&format!(
            "/config/{}/clients/{}",
            owner.app_id, owner.client_id
        ))
        .await
        .is(
            403,
            errors("Clients with the owner feature cannot be deleted."),
        );
    // The operator removes owner.
    app.operator()
        .put(
            &format!("/config/{}/clients/{second}", owner.app_id),
            &json!({"name": "second"}),
        )
        .await
        .status_is(200);
}

#[tokio::test]
async fn non_owner_clients_are_forbidden() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    for features in [
        json!([]),
        json!(["direct_access"]),
        json!(["access_issuer", "direct_read_access"]),
        json!(["login_client"]),
    ] {
        let name = format!("c{features}");
        let Made { id, secret, .. } = app
            .create_client(&owner, json!({"name": name, "features": features}))
            .await;
        app.by_client(&id, &secret)
            .get(&format!("/config/{}/clients", owner.app_id))
            .await
            .is(403, errors("Forbidden"));
        app.by_client(&id, &secret)
            .post(
                &format!("/config/{}/clients", owner.app_id),
                &json!({"name": "sneaky"}),
            )
            .await
            .is(403, errors("Forbidden"));
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = spawn_app().await;
    app.request(Method::GET, "/nope")
        .fetch()
        .await
        .is(404, errors("Not found."));
    app.request(Method::PATCH, "/config/x/clients")
        .fetch()
        .await
        .is(405, errors("Method not allowed."));
}

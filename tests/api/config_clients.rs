//! Config API client lifecycle: create, read, list, replace, delete, rotate.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

fn clients_path(o: &Owner) -> String {
    format!("/config/{}/clients", o.app_id)
}

#[tokio::test]
async fn create_returns_201_with_location_etag_and_secret_once() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let res = app.config(&owner).create_client( &json!({"name": "mailer", "features": ["direct_read_access", "access_issuer"], "ipWhitelist": ["10.0.0.0/8", "2001:db8::/32"]})).await;
    assert_eq!(res.status, 201);
    let id_loc = res.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(res.headers["etag"], "\"1\"");
    let body: Value = res.body;
    let id = body["_id"].as_str().unwrap();
    assert_eq!(id_loc, format!("/config/{}/clients/{id}", owner.app_id));
    let keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    let mut expected = vec![
        "_id",
        "_secret",
        "_self",
        "_settings",
        "name",
        "features",
        "ipWhitelist",
    ];
    expected.sort();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort();
    assert_eq!(keys_sorted, expected);
    assert_eq!(body["name"], "mailer");
    assert_eq!(
        body["features"],
        json!(["access_issuer", "direct_read_access"]),
        "stored sorted"
    );
    assert_eq!(body["ipWhitelist"], json!(["10.0.0.0/8", "2001:db8::/32"]));

    let got = app.config(&owner).get_client(id).await.status_is(200);
    let mut without_secret = body.clone();
    without_secret.as_object_mut().unwrap().remove("_secret");
    assert_eq!(got, without_secret, "GET never shows the secret");
}

#[tokio::test]
async fn create_defaults_no_features_and_allow_all() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let Made { id, client, .. } = app.make_client(&owner, "plain", &[]).await;
    assert_eq!(client.features, Vec::<String>::new());
    assert_eq!(client.ip_whitelist, ["0.0.0.0/0"]);
    // Read back as the typed client: exactly these fields, no secret.
    let client: Client = app.config(&owner).get_client(&id).await.good_as();
    assert_eq!(
        client,
        Client {
            id: id.clone(),
            secret: None,
            self_link: format!("/config/{}/clients/{id}", owner.app_id),
            settings_link: format!("/config/{}/clients/{id}/settings", owner.app_id),
            name: "plain".into(),
            features: vec![],
            ip_whitelist: vec!["0.0.0.0/0".into()],
        }
    );
}

#[tokio::test]
async fn list_with_and_without_has_feature() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let a = app.add_client(&owner, "a", &["direct_access"]).await;
    let b = app.add_client(&owner, "b", &["login_client"]).await;
    app.make_client(&owner, "c", &[]).await;

    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c["_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = app.config(&owner).list_clients("").await.status_is(200);
    assert_eq!(all.as_array().unwrap().len(), 4, "owner + 3");
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c.get("_secret").is_none()));

    let (_, some) = app
        .config(&owner)
        .list_clients("?has_feature=direct_access&has_feature=login_client")
        .await
        .pair();
    assert_eq!(ids(&some), vec![a.clone(), b.clone()]);

    let (_, one) = app
        .config(&owner)
        .list_clients("?has_feature=login_client")
        .await
        .pair();
    assert_eq!(ids(&one), vec![b]);

    app.config(&owner)
        .list_clients("?has_feature=bogus")
        .await
        .is(400, errors("Not a valid feature name."));
}

#[tokio::test]
async fn put_is_a_full_replacement() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let id = app
        .fenced_client(&owner, "x", &["direct_access"], &["10.0.0.0/8"])
        .await
        .id;
    let path = format!("/clients/{id}");
    // The seed's example: only name and features; ipWhitelist resets to allow-all.
    let res = app
        .config(&owner)
        .put(
            &path,
            &json!({"name": "Documentation Login Client", "features": ["login_client"]}),
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.headers["etag"], "\"2\"");
    let body: Value = res.body;
    assert_eq!(body["name"], "Documentation Login Client");
    assert_eq!(body["features"], json!(["login_client"]));
    assert_eq!(body["ipWhitelist"], json!(["0.0.0.0/0"]));
    assert!(body.get("_secret").is_none());

    // Omitting features removes them all.
    let body = app
        .config(&owner)
        .put(&path, &json!({"name": "renamed"}))
        .await
        .status_is(200);
    assert_eq!(body["features"], json!([]));
    assert_eq!(body["name"], "renamed");
}

#[tokio::test]
async fn a_client_read_with_get_can_be_sent_back_with_put() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let id = app.add_client(&owner, "x", &["direct_access"]).await;
    let path = format!("/clients/{id}");
    let (_, mut got) = app.config(&owner).get(&path).await.pair();
    got["ipWhitelist"] = json!(["192.168.0.0/16"]);
    let body = app.config(&owner).put(&path, &got).await.status_is(200);
    assert_eq!(body["ipWhitelist"], json!(["192.168.0.0/16"]));
    assert_eq!(body["features"], json!(["direct_access"]));
}

#[tokio::test]
async fn unchanged_put_bumps_nothing_and_audits_nothing() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let id = app.add_client(&owner, "x", &["direct_access"]).await;
    let path = format!("/clients/{id}");
    let res = app
        .config(&owner)
        .put(&path, &json!({"name": "x", "features": ["direct_access"]}))
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.headers["etag"], "\"1\"");
    assert_eq!(app.audit_count(&owner.app_id, "client.update").await, 0);
}

#[tokio::test]
async fn delete_removes_the_client_and_its_credentials() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let Made { id, secret, .. } = app.make_client(&owner, "x", &["owner"]).await;
    // Owner clients cannot be deleted by owners; make it a plain client first.
    let path = format!("/clients/{id}");
    app.config(&owner).delete(&path).await.is(
        403,
        errors("Clients with the owner feature cannot be deleted."),
    );
    let (status, _) = app
        .config(&owner)
        .put(&path, &json!({"name": "x"}))
        .await
        .pair();
    assert_eq!(status, 403, "only the operator removes owner from a client");
    app.config_as_operator(&owner.app_id)
        .put(&path, &json!({"name": "x"}))
        .await
        .status_is(200);

    app.config(&owner).delete(&path).await.is(204, Value::Null);
    app.config(&owner)
        .get(&path)
        .await
        .is(404, errors("Client ID not found."));
    app.config(&owner).delete(&path).await.status_is(404);
    // Its credentials are gone with it.
    app.by_client(&id, &secret)
        .get(&clients_path(&owner))
        .await
        .status_is(401);
    let rows = app.audit_rows(&owner.app_id).await;
    let last = rows.last().unwrap();
    assert_eq!(last["action"], "client.delete");
    assert_eq!(last["features_before"], json!([]));
    assert_eq!(last["changes"]["name"], json!({"from": "x", "to": null}));
}

#[tokio::test]
async fn operator_may_delete_an_owner_client() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let id = app.add_client(&owner, "second owner", &["owner"]).await;
    app.operator()
        .delete(&format!("{}/{id}", clients_path(&owner)))
        .await
        .status_is(204);
}

#[tokio::test]
async fn etag_and_if_match() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let id = app.add_client(&owner, "x", &[]).await;
    let path = format!("/clients/{id}");
    let res = app.config(&owner).get(&path).await;
    assert_eq!(res.headers["etag"], "\"1\"");

    for stale in ["\"7\"", "garbage", "W/\"0\""] {
        app.config(&owner)
            .request(Method::PUT, &path)
            .header("If-Match", stale)
            .json(&json!({"name": "y"}))
            .fetch()
            .await
            .case_is(412, errors("Precondition failed."), format_args!("{stale}"));
    }
    app.config(&owner)
        .request(Method::DELETE, &path)
        .header("If-Match", "\"2\"")
        .fetch()
        .await
        .is(412, errors("Precondition failed."));
    let (_, got) = app.config(&owner).get(&path).await.pair();
    assert_eq!(got["name"], "x", "nothing changed");

    let res = app
        .config(&owner)
        .request(Method::PUT, &path)
        .header("If-Match", "\"1\"")
        .json(&json!({"name": "y"}))
        .fetch()
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.headers["etag"], "\"2\"");
    app.config(&owner)
        .request(Method::DELETE, &path)
        .header("If-Match", "\"2\"")
        .fetch()
        .await
        .status_is(204);
}

#[tokio::test]
async fn secret_rotation_with_a_grace_period() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let (id, old) = app
        .make_client(&owner, "rot", &["owner"])
        .await
        .credentials();
    let path = format!("/clients/{id}/secret");
    let list = clients_path(&owner);
    // Warm the credential cache with the old secret.
    assert_eq!(app.by_client(&id, &old).get(&list).await.status, 200);

    let res = app
        .config(&owner)
        .put(&path, &json!({"hoursToLive": 2}))
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.headers["etag"], "\"2\"");
    let body: Value = res.body;
    let new = body["_secret"].as_str().unwrap().to_owned();
    assert_eq!(new.len(), 32);
    assert_ne!(new, old);
    assert_eq!(body["_id"], id);
    assert_eq!(body["features"], json!(["owner"]));

    // Both work during the grace period.
    assert_eq!(app.by_client(&id, &old).get(&list).await.status, 200);
    assert_eq!(app.by_client(&id, &new).get(&list).await.status, 200);

    // hoursToLive 0: the previous secrets stop at once (the cache must not keep them alive).
    let newest = app.config(&owner).new_secret(&id, 0).await;
    assert_eq!(app.by_client(&id, &old).get(&list).await.status, 401);
    assert_eq!(app.by_client(&id, &new).get(&list).await.status, 401);
    assert_eq!(app.by_client(&id, &newest).get(&list).await.status, 200);

    let rows = app.audit_rows(&owner.app_id).await;
    let rotations: Vec<_> = rows
        .iter()
        .filter(|r| r["action"] == "client.secret_rotate")
        .collect();
    assert_eq!(rotations.len(), 2);
    let all = serde_json::to_string(&rows).unwrap();
    for s in [&old, &new, &newest] {
        assert!(!all.contains(s.as_str()), "no secret in audit rows");
    }
}

#[tokio::test]
async fn secret_rotation_validates_hours_to_live() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let id = app.add_client(&owner, "rot", &[]).await;
    let path = format!("/clients/{id}/secret");
    let range = "Must be greater than or equal to 0 and less than or equal to 168.";
    for (body, status, msg) in [
        (json!({}), 400, "Missing data for required field."),
        (json!({"hoursToLive": "1"}), 400, "Not a valid integer."),
        (json!({"hoursToLive": 1.5}), 400, "Not a valid integer."),
        (json!({"hoursToLive": 169}), 400, range),
        (json!({"hoursToLive": -1}), 400, range),
        (json!({"hoursToLive": 1e300}), 400, range),
        (json!({"hoursToLive": 168.5}), 400, "Not a valid integer."),
    ] {
        let (s, b) = app.config(&owner).put(&path, &body).await.pair();
        assert_eq!((s, b), (status, errors(msg)), "{body}");
    }
    assert_eq!(
        app.audit_count(&owner.app_id, "client.secret_rotate").await,
        0
    );
    app.by(&owner)
        .put(
            &format!("{}/{}/secret", clients_path(&owner), "x".repeat(32)),
            &json!({"hoursToLive": 1}),
        )
        .await
        .is(404, errors("Client ID not found."));
}

/// JSON Schema (and so the OpenAPI document) calls `1.0` an integer: so does the server.
#[tokio::test]
async fn hours_to_live_may_be_an_integral_number_with_a_fraction_point() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let id = app.add_client(&owner, "rot", &[]).await;
    let path = format!("/clients/{id}/secret");
    let b = app
        .config(&owner)
        .request(Method::PUT, &path)
        .body(r#"{"hoursToLive": 1.0}"#)
        .header("Content-Type", "application/json")
        .fetch()
        .await
        .status_is(200);
    assert_eq!(b["_id"], json!(id));
    assert_eq!(
        app.audit_count(&owner.app_id, "client.secret_rotate").await,
        1
    );
}

#[tokio::test]
async fn every_change_is_audited_without_secrets() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let Made { id, secret, .. } = app.make_client(&owner, "a", &["direct_access"]).await;
    let path = format!("/clients/{id}");
    app.config(&owner).request(Method::PUT, &path)
        .json(&json!({"name": "b", "features": ["direct_read_access"], "ipWhitelist": ["10.0.0.0/8"]}))
        .send()
        .await
        .unwrap();
    let rows = app.audit_rows(&owner.app_id).await;
    let update = rows
        .iter()
        .find(|r| r["action"] == "client.update")
        .unwrap();
    assert_eq!(update["actor"], owner.client_id);
    assert_eq!(update["actor_ip"], "127.0.0.1");
    assert_eq!(update["target_client_id"], id);
    assert_eq!(update["features_before"], json!(["direct_access"]));
    assert_eq!(update["features_after"], json!(["direct_read_access"]));
    assert_eq!(
        update["changes"],
        json!({"name": {"from": "a", "to": "b"}, "ipWhitelist": {"from": ["0.0.0.0/0"], "to": ["10.0.0.0/8"]}})
    );
    assert_eq!(update["request_id"].as_str().unwrap().len(), 16);
    let seqs: Vec<i64> = rows.iter().map(|r| r["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "gap-free chain"
    );
    let all = serde_json::to_string(&rows).unwrap();
    assert!(!all.contains(&secret) && !all.contains(&owner.secret));
}

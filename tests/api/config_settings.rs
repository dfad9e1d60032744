//! Config API settings: `GET/PUT /config/{appId}/clients/{clientId}/settings` and
//! `GET/PUT /config/{appId}/settings`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

async fn get(app: &TestApp, id: &str, secret: &str, path: &str) -> (u16, Value) {
    app.by_client(id, secret).get(path).await.pair()
}

async fn put(app: &TestApp, id: &str, secret: &str, path: &str, body: Value) -> (u16, Value) {
    app.by_client(id, secret).put(path, &body).await.pair()
}

fn paths(owner: &Owner, client: &str) -> (String, String) {
    (
        format!("/config/{}/clients/{client}/settings", owner.app_id),
        format!("/config/{}/settings", owner.app_id),
    )
}

#[tokio::test]
async fn put_replaces_the_whole_set_and_get_reads_it_back() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let x = app.add_client(&owner, "x", &[]).await;
    let (o, s) = (owner.client_id.as_str(), owner.secret.as_str());
    for path in [paths(&owner, &x).0, paths(&owner, &x).1] {
        assert_eq!(get(&app, o, s, &path).await, (200, json!({})), "{path}");
        let first =
            json!({"a": 1, "b": {"c": [true, null]}, "n": null, "default_flow_name": "standard"});
        assert_eq!(
            put(&app, o, s, &path, first.clone()).await,
            (200, first.clone())
        );
        assert_eq!(
            get(&app, o, s, &path).await,
            (200, first.clone()),
            "GET answers what PUT stored"
        );
        // Keys left out are deleted; a GET's answer can be sent back unchanged.
        assert_eq!(
            put(&app, o, s, &path, json!({"a": 2, "n": null})).await,
            (200, json!({"a": 2, "n": null}))
        );
        assert_eq!(
            put(&app, o, s, &path, json!({"a": 2, "n": null})).await,
            (200, json!({"a": 2, "n": null}))
        );
        assert_eq!(
            get(&app, o, s, &path).await,
            (200, json!({"a": 2, "n": null}))
        );
    }
    // Two real changes per scope; the repeated PUT audited nothing.
    let rows: Vec<Value> = app
        .audit_rows(&owner.app_id)
        .await
        .into_iter()
        .filter(|r| r["action"] == "settings.replace")
        .map(|r| json!([r["target_client_id"], r["changes"]]))
        .collect();
    let created = json!({"a": {"to": 1}, "b": {"to": {"c": [true, null]}}, "n": {"to": null}, "default_flow_name": {"to": "standard"}});
    let replaced = json!({"a": {"from": 1, "to": 2}, "b": {"from": {"c": [true, null]}}, "default_flow_name": {"from": "standard"}});
    assert_eq!(
        rows,
        vec![
            json!([x, created]),
            json!([x, replaced]),
            json!([null, created]),
            json!([null, replaced])
        ]
    );
}

#[tokio::test]
async fn invalid_bodies_are_400_and_change_nothing() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let x = app.add_client(&owner, "x", &[]).await;
    let (o, s) = (owner.client_id.as_str(), owner.secret.as_str());
    let (client_path, defaults_path) = paths(&owner, &x);
    for path in [&client_path, &defaults_path] {
        put(&app, o, s, path, json!({"keep": "me"})).await;
        for (body, msg) in [
            (json!([]), "Invalid JSON body."),
            (json!("text"), "Invalid JSON body."),
            (
                json!({"a b": 1}),
                "Setting key \"a b\" must not contain whitespace or control characters.",
            ),
            (json!({"ok": 1, "": 1}), "Setting keys must not be empty."),
            (
                json!({"k".repeat(256): 1}),
                "Setting keys must be at most 255 bytes long.",
            ),
            (
                json!({"k": "\u{0}"}),
                "Setting value of \"k\" contains a NUL character.",
            ),
        ] {
            assert_eq!(
                put(&app, o, s, path, body.clone()).await,
                (400, errors(msg)),
                "{path} {body}"
            );
        }
        let res = app
            .as_owner(&owner, Method::PUT, path)
            .header("Content-Type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap();
        assert_eq!(status_json(res).await, (400, errors("Invalid JSON body.")));
        assert_eq!(get(&app, o, s, path).await, (200, json!({"keep": "me"})));
    }
    assert_eq!(
        app.audit_count(&owner.app_id, "settings.replace").await,
        2,
        "only the two setups"
    );
    let res = app.by(&owner).delete(&client_path).await;
    assert_eq!(res.pair(), (405, errors("Method not allowed.")));
}

#[tokio::test]
async fn unknown_clients_are_404_even_in_another_application() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let other = app.create_app("other").await;
    let foreign = app.add_client(&other, "foreign", &[]).await;
    let (o, s) = (owner.client_id.as_str(), owner.secret.as_str());
    for id in ["nope".to_owned(), "z".repeat(32), foreign.clone()] {
        let path = paths(&owner, &id).0;
        assert_eq!(
            get(&app, o, s, &path).await,
            (404, errors("Client ID not found."))
        );
        assert_eq!(
            put(&app, o, s, &path, json!({"k": 1})).await,
            (404, errors("Client ID not found."))
        );
    }
    // Another application's path: the owner's credentials do not belong there.
    let (path, defaults) = paths(&other, &foreign);
    assert_eq!(
        get(&app, o, s, &path).await,
        (401, errors("Authentication required."))
    );
    assert_eq!(
        put(&app, o, s, &defaults, json!({"k": 1})).await,
        (401, errors("Authentication required."))
    );
    let count: i64 = app
        .scalar("SELECT count(*) FROM client_settings", &[])
        .await;
    assert_eq!(count, 0);
}

#[tokio::test]
async fn a_client_manages_its_own_settings_and_only_owners_the_rest() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let (x, xs) = app
        .make_client(&owner, "x", &["direct_read_access"])
        .await
        .credentials();
    let y = app.add_client(&owner, "y", &[]).await;
    let (own, defaults) = paths(&owner, &x);
    let (others, _) = paths(&owner, &y);
    put(
        &app,
        &owner.client_id,
        &owner.secret,
        &defaults,
        json!({"d": 1}),
    )
    .await;

    assert_eq!(
        put(&app, &x, &xs, &own, json!({"mine": true})).await,
        (200, json!({"mine": true}))
    );
    assert_eq!(get(&app, &x, &xs, &own).await, (200, json!({"mine": true})));
    assert_eq!(
        get(&app, &x, &xs, &defaults).await,
        (200, json!({"d": 1})),
        "defaults are readable"
    );
    assert_eq!(
        get(&app, &x, &xs, &others).await,
        (403, errors("Forbidden"))
    );
    assert_eq!(
        put(&app, &x, &xs, &others, json!({"k": 1})).await,
        (403, errors("Forbidden"))
    );
    assert_eq!(
        put(&app, &x, &xs, &defaults, json!({})).await,
        (403, errors("Forbidden"))
    );
    assert_eq!(
        get(&app, &owner.client_id, &owner.secret, &defaults).await,
        (200, json!({"d": 1}))
    );
    assert_eq!(
        get(&app, &owner.client_id, &owner.secret, &others).await,
        (200, json!({}))
    );

    // The operator everywhere; an unknown application is 404 for it.
    let res = app
        .operator()
        .put(&others, &json!({"by": "operator"}))
        .await;
    assert_eq!(res.pair(), (200, json!({"by": "operator"})));
    let res = app
        .operator()
        .get(&format!("/config/{}/settings", "z".repeat(26)))
        .await;
    assert_eq!(res.pair(), (404, errors("Application not found.")));
}

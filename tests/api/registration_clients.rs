//! Registration API `clients/*` (spec §4): shapes, every error code, both credential styles,
//! cross-surface consistency with the Config API, audit.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::registration_support::*;

async fn config_client(app: &TestApp, owner: &Owner, id: &str) -> (u16, Value) {
    app.config(owner).get_client(id).await.pair()
}

#[tokio::test]
async fn add_answers_the_vendor_shape_and_the_config_api_sees_the_client() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let body = app
        .rpc(
            &owner,
            "/clients/add",
            &[
                ("description", "mailer"),
                ("features", r#"["direct_read_access","access_issuer"]"#),
            ],
        )
        .await;
    let id = body["client_id"].as_str().unwrap().to_owned();
    let secret = body["client_secret"].as_str().unwrap().to_owned();
    assert_eq!((id.len(), secret.len()), (32, 32));
    assert_eq!(
        body,
        json!({"stat": "ok", "client_id": id, "client_secret": secret, "description": "mailer",
               "features": ["access_issuer", "direct_read_access"], "whitelist": ["0.0.0.0/0"]})
    );
    let (status, got) = config_client(&app, &owner, &id).await;
    assert_eq!(status, 200);
    assert_eq!(got["name"], "mailer");
    assert_eq!(
        got["features"],
        json!(["access_issuer", "direct_read_access"])
    );
    assert_eq!(got["ipWhitelist"], json!(["0.0.0.0/0"]));
    // The secret shown works, and is never stored or audited in clear.
    let res = call(&app, By::Basic(&id, &secret), "/settings/items", &[]).await;
    assert_eq!(res, ok(json!({"result": {}})));
    assert_eq!(
        app.audit_count(&owner.app_id, "client.create").await,
        2,
        "owner + mailer"
    );
    let audit = serde_json::to_string(&app.audit_rows(&owner.app_id).await).unwrap();
    assert!(!audit.contains(&secret));
}

#[tokio::test]
async fn add_with_parameter_credentials_and_a_whitelist() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let body = call(
        &app,
        By::Params(&owner.client_id, &owner.secret),
        "/clients/add",
        &[
            ("description", "fenced"),
            ("whitelist", r#"["10.0.0.0/8","2001:db8::/32"]"#),
        ],
    )
    .await;
    assert_eq!(body["stat"], "ok", "{body}");
    assert_eq!(
        body["features"],
        json!([]),
        "default clients have no permissions"
    );
    assert_eq!(body["whitelist"], json!(["10.0.0.0/8", "2001:db8::/32"]));
}

#[tokio::test]
async fn add_refusals_answer_the_code_table_and_change_nothing() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let long = "x".repeat(256);
    let verbatim = |desc: &str| reg_error(200, "invalid_argument", desc, Some("features"));
    let cases: Vec<(Vec<(&str, &str)>, Value)> = vec![
        (vec![], missing("description")),
        (vec![("features", r#"["owner"]"#)], missing("description")),
        (
            vec![("description", "")],
            invalid("description", "Name not supplied"),
        ),
        (
            vec![("description", "   ")],
            invalid("description", "Name not supplied"),
        ),
        (
            vec![("description", long.as_str())],
            invalid("description", "Name is too long."),
        ),
        (
            vec![("description", "n"), ("features", r#"["direct_access""#)],
            invalid("features", "not valid JSON"),
        ),
        (
            vec![("description", "n"), ("features", "direct_access")],
            invalid("features", "not valid JSON"),
        ),
        (
            vec![("description", "n"), ("features", "")],
            invalid("features", "not valid JSON"),
        ),
        (
            vec![("description", "n"), ("features", r#""owner""#)],
            invalid("features", "Not a valid list."),
        ),
        (
            vec![("description", "n"), ("features", "[1]")],
            invalid("features", "Not a valid string."),
        ),
        (
            vec![("description", "n"), ("features", r#"["superuser"]"#)],
            verbatim("Not a valid feature name."),
        ),
        (
            vec![
                ("description", "n"),
                ("features", r#"["login_client","direct_access"]"#),
            ],
            verbatim("Clients with the login_client feature cannot have any other features."),
        ),
        (
            vec![("description", "n"), ("features", r#"["metadata"]"#)],
            permission("The metadata feature can only be applied to a client by Akamai."),
        ),
        (
            vec![("description", "n"), ("whitelist", r#"["10.0.0.1"]"#)],
            invalid("whitelist", "invalid cidr address: 10.0.0.1"),
        ),
        (
            vec![("description", "n"), ("whitelist", r#"["10.0.0.0/33"]"#)],
            invalid("whitelist", "invalid cidr address: 10.0.0.0/33"),
        ),
        (
            vec![("description", "n"), ("whitelist", r#"["10.0.0.1/8"]"#)],
            invalid("whitelist", "invalid cidr address: 10.0.0.1/8"),
        ),
        (
            vec![("description", "n"), ("whitelist", "10.0.0.0/8")],
            invalid("whitelist", "not valid JSON"),
        ),
        (
            vec![("description", "owner")],
            reg_error(
                361,
                "unique_violation",
                "API client owner already exists.",
                None,
            ),
        ),
    ];
    let clients_before = client_count(&app, &owner.app_id).await;
    let audit_before = app.audit_rows(&owner.app_id).await.len();
    for (form, expected) in &cases {
        assert_eq!(
            &app.rpc(&owner, "/clients/add", form).await,
            expected,
            "{form:?}"
        );
    }
    assert_eq!(client_count(&app, &owner.app_id).await, clients_before);
    assert_eq!(app.audit_rows(&owner.app_id).await.len(), audit_before);
}

#[tokio::test]
async fn list_answers_results_and_filters_by_features() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let (a, _) = add(&app, &owner, "a", r#"["direct_access"]"#).await;
    let (b, _) = add(&app, &owner, "b", r#"["login_client"]"#).await;
    let (c, _) = add(&app, &owner, "c", "[]").await;
    let client = |id: &str, name: &str, features: Value| json!({"client_id": id, "description": name, "features": features, "whitelist": ["0.0.0.0/0"]});
    let all = app.rpc(&owner, "/clients/list", &[]).await;
    assert_eq!(
        all,
        ok(json!({"results": [
            client(&owner.client_id, "owner", json!(["owner"])),
            client(&a, "a", json!(["direct_access"])),
            client(&b, "b", json!(["login_client"])),
            client(&c, "c", json!([])),
        ]}))
    );
    let ids = |v: &Value| -> Vec<String> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["client_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let some = app
        .rpc(
            &owner,
            "/clients/list",
            &[("has_features", r#"["login_client","direct_access"]"#)],
        )
        .await;
    assert_eq!(ids(&some), vec![a.clone(), b.clone()]);
    let alias = app
        .rpc(
            &owner,
            "/clients/list",
            &[("features", r#"["login_client"]"#)],
        )
        .await;
    assert_eq!(
        ids(&alias),
        vec![b.clone()],
        "the PHP library's `features` name"
    );
    let none = app
        .rpc(&owner, "/clients/list", &[("has_features", "[]")])
        .await;
    assert_eq!(ids(&none).len(), 4, "an empty filter is no filter");

    assert_eq!(
        app.rpc(
            &owner,
            "/clients/list",
            &[("has_features", "[]"), ("features", "[]")]
        )
        .await,
        reg_error(
            201,
            "duplicate_argument",
            "has_features and features are the same argument; give only one",
            Some("has_features")
        )
    );
    assert_eq!(
        app.rpc(&owner, "/clients/list", &[("has_features", r#"["bogus"]"#)])
            .await,
        reg_error(
            200,
            "invalid_argument",
            "Not a valid feature name.",
            Some("has_features")
        )
    );
    assert_eq!(
        app.rpc(&owner, "/clients/list", &[("features", r#"["bogus"]"#)])
            .await,
        reg_error(
            200,
            "invalid_argument",
            "Not a valid feature name.",
            Some("features")
        )
    );
    assert_eq!(
        app.rpc(&owner, "/clients/list", &[("has_features", "[")])
            .await,
        invalid("has_features", "not valid JSON")
    );
}

#[tokio::test]
async fn delete_removes_and_refuses_like_the_config_api() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let other = app.create_app("other").await;
    let (gone, gone_secret) = add(&app, &owner, "gone", r#"["direct_access"]"#).await;
    let (boss, _) = add(&app, &owner, "boss", r#"["owner"]"#).await;
    let (meta, _) = app
        .create_client_as_operator(
            &owner.app_id,
            json!({"name": "meta", "features": ["metadata"]}),
        )
        .await;
    let foreign = app.add_client(&other, "foreign", &[]).await;

    let body = app
        .rpc(
            &owner,
            "/clients/delete",
            &[("client_id_for_deletion", &gone)],
        )
        .await;
    assert_eq!(body, ok(json!({})));
    assert_eq!(
        config_client(&app, &owner, &gone).await,
        (404, errors("Client ID not found."))
    );
    assert_eq!(
        call(&app, By::Basic(&gone, &gone_secret), "/settings/items", &[]).await,
        bad_credentials()
    );
    assert_eq!(app.audit_count(&owner.app_id, "client.delete").await, 1);

    let not_valid = invalid(
        "client_id_for_deletion",
        "client_id_for_deletion is not a valid id",
    );
    // The vendor's documented example, byte for byte (request_id aside).
    assert_eq!(
        not_valid,
        json!({"argument_name": "client_id_for_deletion", "code": 200,
               "error_description": "client_id_for_deletion was not valid for the following reason: client_id_for_deletion is not a valid id",
               "error": "invalid_argument", "stat": "error"})
    );
    for (form, expected) in [
        (
            vec![("client_id_for_deletion", gone.as_str())],
            not_valid.clone(),
        ),
        (vec![("client_id_for_deletion", "nope")], not_valid.clone()),
        (vec![("client_id_for_deletion", "")], not_valid.clone()),
        (
            vec![("client_id_for_deletion", foreign.as_str())],
            not_valid.clone(),
        ),
        (vec![], missing("client_id_for_deletion")),
        (
            vec![("client_id_for_deletion", boss.as_str())],
            permission("Clients with the owner feature cannot be deleted."),
        ),
        (
            vec![("client_id_for_deletion", owner.client_id.as_str())],
            permission("Clients with the owner feature cannot be deleted."),
        ),
        (
            vec![("client_id_for_deletion", meta.as_str())],
            permission("Clients with the metadata feature can only be updated by Akamai."),
        ),
    ] {
        assert_eq!(
            app.rpc(&owner, "/clients/delete", &form).await,
            expected,
            "{form:?}"
        );
    }
    assert_eq!(config_client(&app, &owner, &boss).await.0, 200);
    assert_eq!(config_client(&app, &owner, &meta).await.0, 200);
    assert_eq!(
        config_client(&app, &other, &foreign).await.0,
        200,
        "another tenant's client is untouched"
    );
    assert_eq!(app.audit_count(&owner.app_id, "client.delete").await, 1);
}

#[tokio::test]
async fn set_features_replaces_the_list_and_keeps_the_owner_rules() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let (x, _) = add(&app, &owner, "x", r#"["direct_access"]"#).await;
    let (boss, _) = add(&app, &owner, "boss", r#"["owner"]"#).await;

    let body = app
        .rpc(
            &owner,
            "/clients/set_features",
            &[
                ("for_client_id", &x),
                ("features", r#"["owner","access_issuer"]"#),
            ],
        )
        .await;
    assert_eq!(body, ok(json!({})));
    assert_eq!(
        config_client(&app, &owner, &x).await.1["features"],
        json!(["access_issuer", "owner"])
    );

    // for_client_id defaults to the caller.
    let body = app
        .rpc(
            &owner,
            "/clients/set_features",
            &[("features", r#"["direct_access","owner"]"#)],
        )
        .await;
    assert_eq!(body, ok(json!({})));
    assert_eq!(
        config_client(&app, &owner, &owner.client_id).await.1["features"],
        json!(["direct_access", "owner"])
    );

    let updates_before = app.audit_count(&owner.app_id, "client.update").await;
    for (form, expected) in [
        (
            vec![("features", r#"["direct_access"]"#)],
            permission("Owner feature cannot be removed from the client making the call."),
        ),
        (
            vec![
                ("for_client_id", owner.client_id.as_str()),
                ("features", "[]"),
            ],
            permission("Owner feature cannot be removed from the client making the call."),
        ),
        (
            vec![("for_client_id", boss.as_str()), ("features", "[]")],
            permission("Owner feature can only be removed by Akamai."),
        ),
        (
            vec![
                ("for_client_id", x.as_str()),
                ("features", r#"["login_client","owner"]"#),
            ],
            reg_error(
                200,
                "invalid_argument",
                "Clients with the login_client feature cannot have any other features.",
                Some("features"),
            ),
        ),
        (
            vec![
                ("for_client_id", x.as_str()),
                ("features", r#"["metadata","owner"]"#),
            ],
            permission("The metadata feature can only be applied to a client by Akamai."),
        ),
        (vec![("for_client_id", x.as_str())], missing("features")),
        (
            vec![("for_client_id", x.as_str()), ("features", "{")],
            invalid("features", "not valid JSON"),
        ),
        (
            vec![("for_client_id", "nope"), ("features", "[]")],
            invalid("for_client_id", "for_client_id is not a valid id"),
        ),
    ] {
        assert_eq!(
            app.rpc(&owner, "/clients/set_features", &form).await,
            expected,
            "{form:?}"
        );
    }
    assert_eq!(
        app.audit_count(&owner.app_id, "client.update").await,
        updates_before
    );
    assert_eq!(
        config_client(&app, &owner, &boss).await.1["features"],
        json!(["owner"])
    );
    assert_eq!(
        config_client(&app, &owner, &x).await.1["features"],
        json!(["access_issuer", "owner"])
    );
}

#[tokio::test]
async fn set_and_clear_whitelist_apply_at_once() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let (fenced, secret) = add(&app, &owner, "fenced", r#"["owner"]"#).await;
    let as_fenced = By::Basic(&fenced, &secret);
    assert_eq!(
        call(&app, as_fenced, "/clients/list", &[]).await["stat"],
        "ok"
    );

    let body = app
        .rpc(
            &owner,
            "/clients/set_whitelist",
            &[
                ("for_client_id", &fenced),
                ("whitelist", r#"["10.0.0.0/8","2001:db8::/32"]"#),
            ],
        )
        .await;
    assert_eq!(body, ok(json!({})));
    assert_eq!(
        config_client(&app, &owner, &fenced).await.1["ipWhitelist"],
        json!(["10.0.0.0/8", "2001:db8::/32"])
    );
    assert_eq!(
        call(&app, as_fenced, "/clients/list", &[]).await,
        permission(NO_AUTHORIZATION),
        "allow list refusal"
    );

    let body = app
        .rpc(
            &owner,
            "/clients/clear_whitelist",
            &[("for_client_id", &fenced)],
        )
        .await;
    assert_eq!(body, ok(json!({})));
    assert_eq!(
        config_client(&app, &owner, &fenced).await.1["ipWhitelist"],
        json!(["0.0.0.0/0"])
    );
    assert_eq!(
        call(&app, as_fenced, "/clients/list", &[]).await["stat"],
        "ok"
    );

    for (form, expected) in [
        (
            vec![
                ("for_client_id", fenced.as_str()),
                ("whitelist", r#"["10.0.0.0/8","300.1.1.1/32"]"#),
            ],
            invalid("whitelist", "invalid cidr address: 300.1.1.1/32"),
        ),
        (
            vec![
                ("for_client_id", fenced.as_str()),
                ("whitelist", r#"["::1"]"#),
            ],
            invalid("whitelist", "invalid cidr address: ::1"),
        ),
        (
            vec![("for_client_id", fenced.as_str()), ("whitelist", r#"[10]"#)],
            invalid("whitelist", "Not a valid string."),
        ),
        (
            vec![("for_client_id", fenced.as_str())],
            missing("whitelist"),
        ),
    ] {
        assert_eq!(
            app.rpc(&owner, "/clients/set_whitelist", &form).await,
            expected,
            "{form:?}"
        );
    }
    assert_eq!(
        config_client(&app, &owner, &fenced).await.1["ipWhitelist"],
        json!(["0.0.0.0/0"])
    );
    assert_eq!(
        app.rpc(
            &owner,
            "/clients/clear_whitelist",
            &[("for_client_id", "x")]
        )
        .await,
        invalid("for_client_id", "for_client_id is not a valid id")
    );
    // Clearing an allow-all list changes nothing, so audits nothing.
    let updates = app.audit_count(&owner.app_id, "client.update").await;
    app.rpc(
        &owner,
        "/clients/clear_whitelist",
        &[("for_client_id", &fenced)],
    )
    .await;
    assert_eq!(
        app.audit_count(&owner.app_id, "client.update").await,
        updates
    );
}

#[tokio::test]
async fn set_description_renames() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let (x, _) = add(&app, &owner, "x", "[]").await;
    add(&app, &owner, "taken", "[]").await;
    let body = app
        .rpc(
            &owner,
            "/clients/set_description",
            &[("for_client_id", &x), ("description", "renamed ünïcødé")],
        )
        .await;
    assert_eq!(body, ok(json!({})));
    assert_eq!(
        config_client(&app, &owner, &x).await.1["name"],
        "renamed ünïcødé"
    );
    for (form, expected) in [
        (
            vec![("for_client_id", x.as_str()), ("description", "taken")],
            reg_error(
                361,
                "unique_violation",
                "API client taken already exists.",
                None,
            ),
        ),
        (
            vec![("for_client_id", x.as_str()), ("description", " ")],
            invalid("description", "Name not supplied"),
        ),
        (vec![("for_client_id", x.as_str())], missing("description")),
    ] {
        assert_eq!(
            app.rpc(&owner, "/clients/set_description", &form).await,
            expected,
            "{form:?}"
        );
    }
    assert_eq!(
        config_client(&app, &owner, &x).await.1["name"],
        "renamed ünïcødé"
    );
}

#[tokio::test]
async fn reset_secret_keeps_the_old_secret_for_the_grace_period_on_both_surfaces() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let (x, first) = add(&app, &owner, "x", r#"["owner"]"#).await;
    let config_list = format!("/config/{}/clients", owner.app_id);
    let works_reg = |secret: String| {
        let app = &app;
        let x = x.clone();
        async move { call(app, By::Basic(&x, &secret), "/clients/list", &[]).await["stat"] == "ok" }
    };
    let works_config = |secret: String| {
        let app = &app;
        let x = x.clone();
        let path = config_list.clone();
        async move { app.by_client(&x, &secret).get(&path).await.status == 200 }
    };
    assert!(works_reg(first.clone()).await, "warm the credential cache");

    // Registration reset with a grace period: old and new both work, on both surfaces.
    let body = app
        .rpc(
            &owner,
            "/clients/reset_secret",
            &[("for_client_id", &x), ("hours_to_live", "1")],
        )
        .await;
    let second = body["new_secret"].as_str().unwrap().to_owned();
    assert_eq!(body, ok(json!({"new_secret": second})));
    assert_eq!(second.len(), 32);
    for s in [&first, &second] {
        assert!(works_reg(s.clone()).await);
        assert!(works_config(s.clone()).await);
    }

    // Config reset with no grace: every earlier secret stops at once, on both surfaces.
    let res = app
        .by(&owner)
        .put(
            &format!("{config_list}/{x}/secret"),
            &json!({"hoursToLive": 0}),
        )
        .await;
    let third = res.body["_secret"].as_str().unwrap().to_owned();
    for s in [&first, &second] {
        assert!(!works_reg(s.clone()).await);
        assert!(!works_config(s.clone()).await);
    }
    assert!(works_reg(third.clone()).await);

    // A client resets its own secret (for_client_id defaults to the caller), no grace.
    let body = call(
        &app,
        By::Basic(&x, &third),
        "/clients/reset_secret",
        &[("hours_to_live", "0")],
    )
    .await;
    let fourth = body["new_secret"].as_str().unwrap().to_owned();
    assert!(!works_reg(third.clone()).await);
    assert!(works_config(fourth.clone()).await);

    let rotations_before = app.audit_count(&owner.app_id, "client.secret_rotate").await;
    assert_eq!(rotations_before, 3);
    for (form, expected) in [
        (
            vec![("for_client_id", x.as_str())],
            missing("hours_to_live"),
        ),
        (
            vec![("for_client_id", x.as_str()), ("hours_to_live", "abc")],
            invalid("hours_to_live", "Not a valid integer."),
        ),
        (
            vec![("for_client_id", x.as_str()), ("hours_to_live", "1.5")],
            invalid("hours_to_live", "Not a valid integer."),
        ),
        (
            vec![("for_client_id", x.as_str()), ("hours_to_live", "169")],
            invalid(
                "hours_to_live",
                "Must be greater than or equal to 0 and less than or equal to 168.",
            ),
        ),
        (
            vec![("for_client_id", x.as_str()), ("hours_to_live", "-1")],
            invalid(
                "hours_to_live",
                "Must be greater than or equal to 0 and less than or equal to 168.",
            ),
        ),
        (
            vec![("for_client_id", "nope"), ("hours_to_live", "0")],
            invalid("for_client_id", "for_client_id is not a valid id"),
        ),
    ] {
        assert_eq!(
            app.rpc(&owner, "/clients/reset_secret", &form).await,
            expected,
            "{form:?}"
        );
    }
    assert!(
        works_reg(fourth.clone()).await,
        "refused resets changed nothing"
    );
    assert_eq!(
        app.audit_count(&owner.app_id, "client.secret_rotate").await,
        rotations_before
    );
    let audit = serde_json::to_string(&app.audit_rows(&owner.app_id).await).unwrap();
    for s in [&first, &second, &third, &fourth] {
        assert!(!audit.contains(s.as_str()), "no secret in audit rows");
    }
}

#[tokio::test]
async fn wrong_missing_and_unknown_credentials_look_the_same() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let z = "z".repeat(32);
    let cases = [
        By::Nobody,
        By::Basic(&owner.client_id, "wrong"),
        By::Basic(&owner.client_id, ""),
        By::Basic(&z, &owner.secret),
        By::Basic("short", "x"),
        By::Params(&owner.client_id, "wrong"),
        By::Params(&z, &owner.secret),
    ];
    for by in cases {
        assert_eq!(
            call(&app, by, "/clients/list", &[]).await,
            bad_credentials()
        );
    }
    // Only half of the parameter pair, or a malformed Basic header.
    assert_eq!(
        call(
            &app,
            By::Nobody,
            "/clients/list",
            &[("client_id", &owner.client_id)]
        )
        .await,
        bad_credentials()
    );
    let malformed = send(
        app.request(Method::POST, "/clients/list")
            .header("Authorization", "Basic !!!")
            .form(&[("a", "b")]),
    )
    .await;
    assert_eq!(malformed, bad_credentials());
    // A header wins over parameters: a bad header is not rescued by good parameters.
    let both = send(
        app.request(Method::POST, "/clients/list")
            .header("Authorization", basic(&owner.client_id, "wrong"))
            .form(&[
                ("client_id", owner.client_id.as_str()),
                ("client_secret", owner.secret.as_str()),
            ]),
    )
    .await;
    assert_eq!(both, bad_credentials());
}

#[tokio::test]
async fn signed_requests_are_refused_with_205() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let signed = send(
        app.request(Method::POST, "/clients/list")
            .header(
                "Authorization",
                format!("Signature {}:rRSudiGtMM5hEHYcwP49kt18jNk=", owner.client_id),
            )
            .header("Date", "2016-02-26 19:08:44")
            .form(&[
                ("client_id", owner.client_id.as_str()),
                ("client_secret", owner.secret.as_str()),
            ]),
    )
    .await;
    assert_eq!(
        signed,
        reg_error(
            205,
            "invalid_auth_method",
            "signed requests are not enabled for this application: its client secrets are stored only as hashes, so a signature cannot be checked; use HTTP Basic authentication or the client_id and client_secret parameters",
            None
        )
    );
    let digest = send(
        app.request(Method::GET, "/clients/list")
            .header("Authorization", "Digest abc"),
    )
    .await;
    assert_eq!(
        digest,
        reg_error(
            205,
            "invalid_auth_method",
            "the Digest authorization scheme is not supported; use HTTP Basic authentication or the client_id and client_secret parameters",
            None
        )
    );
}

#[tokio::test]
async fn non_owners_and_outside_addresses_get_403() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let (plain, plain_secret) = add(&app, &owner, "plain", r#"["direct_access"]"#).await;
    let (fenced, fenced_secret) = add(&app, &owner, "fenced", r#"["owner"]"#).await;
    app.rpc(
        &owner,
        "/clients/set_whitelist",
        &[
            ("for_client_id", &fenced),
            ("whitelist", r#"["10.0.0.0/8"]"#),
        ],
    )
    .await;
    let clients_before = client_count(&app, &owner.app_id).await;
    for path in [
        "/clients/list",
        "/clients/add",
        "/clients/delete",
        "/clients/set_features",
        "/clients/reset_secret",
    ] {
        let form = [
            ("description", "x"),
            ("client_id_for_deletion", plain.as_str()),
            ("features", "[]"),
            ("hours_to_live", "0"),
        ];
        assert_eq!(
            call(&app, By::Basic(&plain, &plain_secret), path, &form).await,
            permission(NO_AUTHORIZATION),
            "{path}"
        );
        assert_eq!(
            call(&app, By::Basic(&fenced, &fenced_secret), path, &form).await,
            permission(NO_AUTHORIZATION),
            "{path}"
        );
    }
    assert_eq!(client_count(&app, &owner.app_id).await, clients_before);
    assert_eq!(
        config_client(&app, &owner, &plain).await.1["features"],
        json!(["direct_access"])
    );
}

#[tokio::test]
async fn application_id_must_be_the_callers_own_and_the_operator_must_name_one() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let other = app.create_app("other").await;
    let unknown = reg_error(
        221,
        "unknown_application",
        "application_id does not name an application of the caller",
        None,
    );
    assert_eq!(
        app.rpc(
            &owner,
            "/clients/list",
            &[("application_id", &owner.app_id)]
        )
        .await["stat"],
        "ok"
    );
    assert_eq!(
        app.rpc(
            &owner,
            "/clients/list",
            &[("application_id", &other.app_id)]
        )
        .await,
        unknown
    );
    assert_eq!(
        app.rpc(
            &owner,
            "/clients/add",
            &[("application_id", "nope"), ("description", "x")]
        )
        .await,
        unknown
    );
    assert_eq!(client_count(&app, &other.app_id).await, 1);

    // The operator (Bearer token) acts on the application it names.
    let op = |form: Vec<(&'static str, String)>, path: &'static str| {
        send(app.as_operator(Method::POST, path).form(&form))
    };
    let listed = op(
        vec![("application_id", other.app_id.clone())],
        "/clients/list",
    )
    .await;
    assert_eq!(listed["results"].as_array().unwrap().len(), 1);
    assert_eq!(op(vec![], "/clients/list").await, missing("application_id"));
    assert_eq!(
        op(vec![("application_id", "z".repeat(26))], "/clients/list").await,
        unknown
    );
    assert_eq!(
        op(
            vec![
                ("application_id", other.app_id.clone()),
                ("features", "[]".into())
            ],
            "/clients/set_features"
        )
        .await,
        missing("for_client_id"),
        "the operator has no client to default to"
    );
    let meta = op(
        vec![
            ("application_id", other.app_id.clone()),
            ("description", "meta".into()),
            ("features", r#"["metadata"]"#.into()),
        ],
        "/clients/add",
    )
    .await;
    assert_eq!(
        meta["features"],
        json!(["metadata"]),
        "the operator may add metadata"
    );
    let rows = app.audit_rows(&other.app_id).await;
    assert_eq!(rows.last().unwrap()["actor"], "operator");
    let wrong = send(
        app.request(Method::POST, "/clients/list")
            .header("Authorization", "Bearer not-the-token")
            .form(&[("application_id", other.app_id.as_str())]),
    )
    .await;
    assert_eq!(wrong, bad_credentials());
}

#[tokio::test]
async fn get_query_strings_post_bodies_and_malformed_requests() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let (x, _) = add(&app, &owner, "x", r#"["login_client"]"#).await;
    // GET with everything in the query string, credentials included.
    let url = format!(
        "/clients/list?has_features=%5B%22login_client%22%5D&client_id={}&client_secret={}",
        owner.client_id, owner.secret
    );
    let got = send(app.request(Method::GET, &url)).await;
    assert_eq!(got["results"][0]["client_id"], x);
    // POST with parameters split between the query string and the body.
    let split = send(
        app.request(
            Method::POST,
            &format!("/clients/set_description?for_client_id={x}"),
        )
        .header("Authorization", basic(&owner.client_id, &owner.secret))
        .form(&[("description", "split")]),
    )
    .await;
    assert_eq!(split, ok(json!({})));
    // The same name twice.
    let twice = send(
        app.request(
            Method::POST,
            &format!("/clients/set_description?for_client_id={x}"),
        )
        .header("Authorization", basic(&owner.client_id, &owner.secret))
        .form(&[("description", "a"), ("for_client_id", x.as_str())]),
    )
    .await;
    assert_eq!(
        twice,
        reg_error(
            201,
            "duplicate_argument",
            "for_client_id was given more than once",
            Some("for_client_id")
        )
    );
    // A JSON body is not a form.
    let json_body = send(
        app.request(Method::POST, "/clients/add")
            .header("Authorization", basic(&owner.client_id, &owner.secret))
            .json(&json!({"description": "j"})),
    )
    .await;
    assert_eq!(
        json_body,
        reg_error(
            200,
            "invalid_argument",
            "the request body must be application/x-www-form-urlencoded",
            None
        )
    );
    // Too large a body.
    let big = "x".repeat(70 * 1024);
    let too_big = send(
        app.request(Method::POST, "/clients/add")
            .header("Authorization", basic(&owner.client_id, &owner.secret))
            .form(&[("description", big.as_str())]),
    )
    .await;
    assert_eq!(
        too_big,
        reg_error(
            200,
            "invalid_argument",
            "the request body is larger than 65536 bytes",
            None
        )
    );
    // Neither GET nor POST: no call was made, so this one is an HTTP 405 (with the envelope).
    let res = app.by(&owner).call(Method::PUT, "/clients/list").await;
    assert_eq!(res.status, 405);
    let mut put: Value = res.body;
    put.as_object_mut().unwrap().remove("request_id");
    assert_eq!(
        put,
        reg_error(
            200,
            "invalid_argument",
            "use GET or POST for Registration API calls",
            None
        )
    );
    assert_eq!(config_client(&app, &owner, &x).await.1["name"], "split");
    assert_eq!(client_count(&app, &owner.app_id).await, 2);
}

#[tokio::test]
async fn a_change_on_one_surface_is_seen_on_the_other() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    // Config → Registration.
    let id = app
        .fenced_client(&owner, "via config", &["direct_access"], &["10.0.0.0/8"])
        .await
        .id;
    let listed = app
        .rpc(
            &owner,
            "/clients/list",
            &[("has_features", r#"["direct_access"]"#)],
        )
        .await;
    assert_eq!(
        listed,
        ok(
            json!({"results": [{"client_id": id, "description": "via config", "features": ["direct_access"], "whitelist": ["10.0.0.0/8"]}]})
        )
    );
    // Registration → Config, then Config → Registration again.
    app.rpc(
        &owner,
        "/clients/set_features",
        &[
            ("for_client_id", &id),
            ("features", r#"["direct_read_access"]"#),
        ],
    )
    .await;
    let (_, got) = config_client(&app, &owner, &id).await;
    assert_eq!(got["features"], json!(["direct_read_access"]));
    assert_eq!(
        got["ipWhitelist"],
        json!(["10.0.0.0/8"]),
        "a partial change keeps the other fields"
    );
    app.config(&owner)
        .put_client(&id, &json!({"name": "renamed in config"}))
        .await
        .status_is(200);
    let listed = app.rpc(&owner, "/clients/list", &[]).await;
    assert_eq!(
        listed["results"][1],
        json!({"client_id": id, "description": "renamed in config", "features": [], "whitelist": ["0.0.0.0/0"]})
    );
    // Registration delete → Config 404.
    app.rpc(
        &owner,
        "/clients/delete",
        &[("client_id_for_deletion", &id)],
    )
    .await;
    assert_eq!(config_client(&app, &owner, &id).await.0, 404);
}

#[tokio::test]
async fn the_same_change_is_audited_the_same_way_on_both_surfaces() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let via_config = app
        .fenced_client(&owner, "c", &["direct_access"], &["10.0.0.0/8"])
        .await
        .id;
    let (via_reg, _) = add(&app, &owner, "r", r#"["direct_access"]"#).await;
    app.rpc(
        &owner,
        "/clients/set_whitelist",
        &[
            ("for_client_id", &via_reg),
            ("whitelist", r#"["10.0.0.0/8"]"#),
        ],
    )
    .await;

    // Same feature change, one per surface.
    app.as_owner(
        &owner,
        Method::PUT,
        &format!("/config/{}/clients/{via_config}", owner.app_id),
    )
    .json(&json!({"name": "c", "features": ["direct_read_access"], "ipWhitelist": ["10.0.0.0/8"]}))
    .send()
    .await
    .unwrap();
    app.rpc(
        &owner,
        "/clients/set_features",
        &[
            ("for_client_id", &via_reg),
            ("features", r#"["direct_read_access"]"#),
        ],
    )
    .await;
    // Same rename, one per surface.
    app.as_owner(
        &owner,
        Method::PUT,
        &format!("/config/{}/clients/{via_config}", owner.app_id),
    )
    .json(&json!({"name": "c2", "features": ["direct_read_access"], "ipWhitelist": ["10.0.0.0/8"]}))
    .send()
    .await
    .unwrap();
    app.rpc(
        &owner,
        "/clients/set_description",
        &[("for_client_id", &via_reg), ("description", "r2")],
    )
    .await;

    let rows = app.audit_rows(&owner.app_id).await;
    let of = |id: &str| -> Vec<Value> {
        rows.iter()
            .filter(|r| r["target_client_id"] == id && r["action"] == "client.update")
            .map(|r| {
                json!([
                    r["action"],
                    r["actor"],
                    r["actor_ip"],
                    r["features_before"],
                    r["features_after"],
                    r["changes"]
                ])
            })
            .collect()
    };
    let config_rows = of(&via_config);
    let reg_rows = of(&via_reg);
    assert_eq!(config_rows.len(), 2);
    assert_eq!(reg_rows.len(), 3, "whitelist, features, rename");
    assert_eq!(reg_rows[1], config_rows[0]);
    assert_eq!(reg_rows[2][5], json!({"name": {"from": "r", "to": "r2"}}));
    assert_eq!(
        config_rows[1][5],
        json!({"name": {"from": "c", "to": "c2"}})
    );
    assert_eq!(
        reg_rows[2].as_array().unwrap()[..5],
        config_rows[1].as_array().unwrap()[..5]
    );
}

#[tokio::test]
async fn another_tenants_clients_cannot_be_reached() {
    let (app, a) = spawn_app_with_owner("a").await;
    let b = app.create_app("b").await;
    let victim = app.add_client(&b, "victim", &["direct_access"]).await;
    let not_valid = invalid("for_client_id", "for_client_id is not a valid id");
    for (path, form) in [
        (
            "/clients/set_features",
            vec![("for_client_id", victim.as_str()), ("features", "[]")],
        ),
        (
            "/clients/set_whitelist",
            vec![
                ("for_client_id", victim.as_str()),
                ("whitelist", r#"["10.0.0.0/8"]"#),
            ],
        ),
        (
            "/clients/clear_whitelist",
            vec![("for_client_id", victim.as_str())],
        ),
        (
            "/clients/set_description",
            vec![("for_client_id", victim.as_str()), ("description", "pwned")],
        ),
        (
            "/clients/reset_secret",
            vec![("for_client_id", victim.as_str()), ("hours_to_live", "0")],
        ),
    ] {
        assert_eq!(app.rpc(&a, path, &form).await, not_valid, "{path}");
    }
    let (_, got) = config_client(&app, &b, &victim).await;
    assert_eq!(
        (got["name"].clone(), got["features"].clone()),
        (json!("victim"), json!(["direct_access"]))
    );
    assert!(app
        .audit_rows(&b.app_id)
        .await
        .iter()
        .all(|r| r["actor"] != a.client_id));
}

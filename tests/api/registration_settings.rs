//! Registration API `settings/*`: fallback, result shapes, argument errors, permissions, audit,
//! consistency with the Config API's settings routes.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::registration_support::*;

fn result(v: Value) -> Value {
    ok(json!({ "result": v }))
}

async fn setting_rows(app: &TestApp, app_id: &str) -> i64 {
    app.scalar(
        "SELECT (SELECT count(*) FROM app_settings WHERE app_id = $1)
              + (SELECT count(*) FROM client_settings WHERE app_id = $1)",
        &[app_id],
    )
    .await
}

#[tokio::test]
async fn get_falls_back_from_the_client_value_to_the_default_to_null() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let (x, secret) = add(&app, &owner, "x", r#"["direct_access"]"#).await;
    let me = By::Basic(&x, &secret);
    let get = || call(&app, me, "/settings/get", &[("key", "login_attempts")]);

    assert_eq!(get().await, result(json!(null)), "set nowhere");
    assert_eq!(
        app.rpc(
            &owner,
            "/settings/set_default",
            &[("key", "login_attempts"), ("value", "5")]
        )
        .await,
        result(json!(false))
    );
    assert_eq!(get().await, result(json!("5")), "the default");
    assert_eq!(
        call(
            &app,
            me,
            "/settings/set",
            &[("key", "login_attempts"), ("value", "3")]
        )
        .await,
        result(json!(false))
    );
    assert_eq!(get().await, result(json!("3")), "the client value wins");
    assert_eq!(
        call(
            &app,
            me,
            "/settings/get_default",
            &[("key", "login_attempts")]
        )
        .await,
        result(json!("5"))
    );
    assert_eq!(
        call(
            &app,
            me,
            "/settings/set",
            &[("key", "login_attempts"), ("value", "4")]
        )
        .await,
        result(json!(true)),
        "existed"
    );
    assert_eq!(get().await, result(json!("4")));
    // The owner's own settings are separate.
    assert_eq!(
        app.rpc(&owner, "/settings/get", &[("key", "login_attempts")])
            .await,
        result(json!("5"))
    );

    assert_eq!(
        call(&app, me, "/settings/delete", &[("key", "login_attempts")]).await,
        result(json!(true))
    );
    assert_eq!(
        get().await,
        result(json!("5")),
        "deleting the client value leaves the default"
    );
    assert_eq!(
        call(&app, me, "/settings/delete", &[("key", "login_attempts")]).await,
        result(json!(false))
    );
    assert_eq!(
        app.rpc(
            &owner,
            "/settings/delete_default",
            &[("key", "login_attempts")]
        )
        .await,
        result(json!(true))
    );
    assert_eq!(
        app.rpc(
            &owner,
            "/settings/delete_default",
            &[("key", "login_attempts")]
        )
        .await,
        result(json!(false))
    );
    assert_eq!(get().await, result(json!(null)));
    assert_eq!(
        call(
            &app,
            me,
            "/settings/get_default",
            &[("key", "login_attempts")]
        )
        .await,
        result(json!(null))
    );
}

#[tokio::test]
async fn values_are_text_unless_json_arrays_or_objects_and_multi_calls_take_json() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let (a, o) = (&app, &owner);
    let set = move |k: &'static str, v: &'static str| async move {
        a.rpc(o, "/settings/set", &[("key", k), ("value", v)]).await
    };
    let get = move |k: &'static str| async move { a.rpc(o, "/settings/get", &[("key", k)]).await };
    set("text", "hello world").await;
    set("number_text", "5").await;
    set("empty", "").await;
    set("list", r#"["a", 1]"#).await;
    set("object", r#"{"x": {"y": null}}"#).await;
    assert_eq!(get("text").await, result(json!("hello world")));
    assert_eq!(get("number_text").await, result(json!("5")));
    assert_eq!(get("empty").await, result(json!("")));
    assert_eq!(get("list").await, result(json!(["a", 1])));
    assert_eq!(get("object").await, result(json!({"x": {"y": null}})));
    assert_eq!(
        set("bad", r#"{"x":"#).await,
        invalid("value", "not valid JSON")
    );

    let multi = app
        .rpc(
            &owner,
            "/settings/set_multi",
            &[(
                "items",
                r#"{"n": 5, "b": true, "z": null, "text": "hello world"}"#,
            )],
        )
        .await;
    assert_eq!(
        multi,
        result(json!({"b": false, "n": false, "text": true, "z": false}))
    );
    let got = app
        .rpc(
            &owner,
            "/settings/get_multi",
            &[("keys", r#"["n", "b", "z", "missing"]"#)],
        )
        .await;
    assert_eq!(
        got,
        result(json!({"n": 5, "b": true, "z": null, "missing": null}))
    );
    assert_eq!(
        app.rpc(&owner, "/settings/get_multi", &[("keys", "[]")])
            .await,
        result(json!({}))
    );
    assert_eq!(
        app.rpc(&owner, "/settings/set_multi", &[("items", "{}")])
            .await,
        result(json!({}))
    );
}

#[tokio::test]
async fn items_keys_defaults_and_get_all() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let (x, secret) = add(&app, &owner, "x", "[]").await;
    let (quiet, _) = add(&app, &owner, "quiet", "[]").await;
    let me = By::Basic(&x, &secret);
    let defaults = app
        .rpc(
            &owner,
            "/settings/set_default_multi",
            &[("items", r#"{"a": 1, "b": 2}"#)],
        )
        .await;
    assert_eq!(defaults, result(json!({"a": false, "b": false})));
    assert_eq!(
        app.rpc(
            &owner,
            "/settings/set_default_multi",
            &[("items", r#"{"b": 2, "d": [4]}"#)]
        )
        .await,
        result(json!({"b": true, "d": false}))
    );
    call(
        &app,
        me,
        "/settings/set_multi",
        &[("items", r#"{"b": "mine", "c": 3}"#)],
    )
    .await;

    assert_eq!(
        call(&app, me, "/settings/items", &[]).await,
        result(json!({"a": 1, "b": "mine", "c": 3, "d": [4]}))
    );
    assert_eq!(
        call(&app, me, "/settings/keys", &[]).await,
        result(json!(["a", "b", "c", "d"]))
    );
    assert_eq!(
        app.rpc(&owner, "/settings/items", &[("for_client_id", &quiet)])
            .await,
        result(json!({"a": 1, "b": 2, "d": [4]})),
        "a client without values sees the defaults"
    );
    assert_eq!(
        app.rpc(&owner, "/settings/keys", &[("for_client_id", &quiet)])
            .await,
        result(json!(["a", "b", "d"]))
    );

    app.rpc(
        &owner,
        "/settings/set",
        &[("key", "mine"), ("value", "owner's")],
    )
    .await;
    let all = app.rpc(&owner, "/settings/get_all", &[]).await;
    assert_eq!(
        all,
        ok(json!({
            "client_settings": {
                x.clone(): {"b": "mine", "c": 3},
                owner.client_id.clone(): {"mine": "owner's"},
            },
            "default_settings": {"a": 1, "b": 2, "d": [4]},
        }))
    );
}

#[tokio::test]
async fn argument_errors_name_the_argument_and_change_nothing() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let long_key = "k".repeat(256);
    let nul_value = "a\u{0}b";
    // 12,000 control characters: 36 KB on the wire, 72 KB of JSON (\u0001 each).
    let huge_value = "\u{1}".repeat(12_000);
    let whitespace = |arg: &str| {
        invalid(
            arg,
            "Setting key \"a b\" must not contain whitespace or control characters.",
        )
    };
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Value);
    let cases: Vec<Case> = vec![
        ("/settings/get", vec![], missing("key")),
        (
            "/settings/get",
            vec![("key", "")],
            invalid("key", "Setting keys must not be empty."),
        ),
        ("/settings/get", vec![("key", "a b")], whitespace("key")),
        (
            "/settings/get_default",
            vec![("key", "a b")],
            whitespace("key"),
        ),
        ("/settings/set", vec![("value", "v")], missing("key")),
        ("/settings/set", vec![("key", "k")], missing("value")),
        (
            "/settings/set",
            vec![("key", "a b"), ("value", "v")],
            whitespace("key"),
        ),
        (
            "/settings/set",
            vec![("key", long_key.as_str()), ("value", "v")],
            invalid("key", "Setting keys must be at most 255 bytes long."),
        ),
        (
            "/settings/set",
            vec![("key", "k"), ("value", nul_value)],
            // Refused where every parameter is read (docs/limits.md); a NUL inside JSON text
            // (`items` below) reaches the setting rules and gets their message.
            invalid("value", "value contains a NUL character"),
        ),
        (
            "/settings/set",
            vec![("key", "k"), ("value", huge_value.as_str())],
            invalid(
                "value",
                "Setting value of \"k\" is larger than 65536 bytes of JSON.",
            ),
        ),
        (
            "/settings/set",
            vec![("key", "k"), ("value", "[1,")],
            invalid("value", "not valid JSON"),
        ),
        (
            "/settings/set_default",
            vec![("key", "a\tb"), ("value", "v")],
            invalid(
                "key",
                "Setting key \"a\tb\" must not contain whitespace or control characters.",
            ),
        ),
        ("/settings/get_multi", vec![], missing("keys")),
        (
            "/settings/get_multi",
            vec![("keys", "k")],
            invalid("keys", "not valid JSON"),
        ),
        (
            "/settings/get_multi",
            vec![("keys", r#"{"k":1}"#)],
            invalid("keys", "Not a valid list."),
        ),
        (
            "/settings/get_multi",
            vec![("keys", r#"["ok", "a b"]"#)],
            whitespace("keys"),
        ),
        ("/settings/set_multi", vec![], missing("items")),
        (
            "/settings/set_multi",
            vec![("items", "[1]")],
            invalid("items", "Not a valid object."),
        ),
        (
            "/settings/set_multi",
            vec![("items", "{")],
            invalid("items", "not valid JSON"),
        ),
        (
            "/settings/set_multi",
            vec![("items", r#"{"ok": 1, "a b": 2}"#)],
            whitespace("items"),
        ),
        (
            "/settings/set_multi",
            vec![("items", r#"{"k": "\u0000"}"#)],
            invalid("items", "Setting value of \"k\" contains a NUL character."),
        ),
        (
            "/settings/set_default_multi",
            vec![("items", r#"{"": 1}"#)],
            invalid("items", "Setting keys must not be empty."),
        ),
        ("/settings/delete", vec![], missing("key")),
        (
            "/settings/delete_default",
            vec![("key", "")],
            invalid("key", "Setting keys must not be empty."),
        ),
        (
            "/settings/set",
            vec![("key", "k"), ("value", "v"), ("for_client_id", "nope")],
            invalid("for_client_id", "for_client_id is not a valid id"),
        ),
        (
            "/settings/items",
            vec![("for_client_id", "nope")],
            invalid("for_client_id", "for_client_id is not a valid id"),
        ),
    ];
    let audit_before = app.audit_rows(&owner.app_id).await.len();
    for (path, form, expected) in &cases {
        assert_eq!(
            &app.rpc(&owner, path, form).await,
            expected,
            "{path} {form:?}"
        );
    }
    assert_eq!(setting_rows(&app, &owner.app_id).await, 0);
    assert_eq!(app.audit_rows(&owner.app_id).await.len(), audit_before);
}

#[tokio::test]
async fn clients_manage_their_own_settings_and_owners_everyone_elses() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let (x, x_secret) = add(&app, &owner, "x", r#"["login_client"]"#).await;
    let (y, _) = add(&app, &owner, "y", "[]").await;
    let me = By::Basic(&x, &x_secret);
    app.rpc(
        &owner,
        "/settings/set_default",
        &[("key", "d"), ("value", "default")],
    )
    .await;
    app.rpc(
        &owner,
        "/settings/set",
        &[("for_client_id", &y), ("key", "k"), ("value", "y's")],
    )
    .await;

    // Own settings: read and write, for_client_id absent or naming itself.
    assert_eq!(
        call(&app, me, "/settings/set", &[("key", "k"), ("value", "x's")]).await,
        result(json!(false))
    );
    assert_eq!(
        call(
            &app,
            me,
            "/settings/set",
            &[("for_client_id", &x), ("key", "k2"), ("value", "v")]
        )
        .await,
        result(json!(false))
    );
    assert_eq!(
        call(&app, me, "/settings/items", &[]).await,
        result(json!({"d": "default", "k": "x's", "k2": "v"}))
    );
    assert_eq!(
        call(&app, me, "/settings/get_default", &[("key", "d")]).await,
        result(json!("default")),
        "defaults are readable"
    );

    // Another client's settings, the defaults' writes, and everything at once: owner only.
    let refused = permission(NO_AUTHORIZATION);
    for (path, form) in [
        (
            "/settings/get",
            vec![("for_client_id", y.as_str()), ("key", "k")],
        ),
        ("/settings/items", vec![("for_client_id", y.as_str())]),
        ("/settings/keys", vec![("for_client_id", y.as_str())]),
        (
            "/settings/get_multi",
            vec![("for_client_id", y.as_str()), ("keys", r#"["k"]"#)],
        ),
        (
            "/settings/set",
            vec![
                ("for_client_id", y.as_str()),
                ("key", "k"),
                ("value", "pwned"),
            ],
        ),
        (
            "/settings/set_multi",
            vec![
                ("for_client_id", y.as_str()),
                ("items", r#"{"k": "pwned"}"#),
            ],
        ),
        (
            "/settings/delete",
            vec![("for_client_id", y.as_str()), ("key", "k")],
        ),
        (
            "/settings/get",
            vec![("for_client_id", "no-such-client"), ("key", "k")],
        ),
        (
            "/settings/set_default",
            vec![("key", "d"), ("value", "pwned")],
        ),
        (
            "/settings/set_default_multi",
            vec![("items", r#"{"d": "pwned"}"#)],
        ),
        ("/settings/delete_default", vec![("key", "d")]),
        ("/settings/get_all", vec![]),
    ] {
        assert_eq!(
            call(&app, me, path, &form).await,
            refused,
            "{path} {form:?}"
        );
    }
    assert_eq!(
        app.rpc(
            &owner,
            "/settings/get",
            &[("for_client_id", &y), ("key", "k")]
        )
        .await,
        result(json!("y's"))
    );
    assert_eq!(
        app.rpc(&owner, "/settings/get_default", &[("key", "d")])
            .await,
        result(json!("default"))
    );
    // The owner may change any client's settings.
    assert_eq!(
        app.rpc(
            &owner,
            "/settings/delete",
            &[("for_client_id", &x), ("key", "k2")]
        )
        .await,
        result(json!(true))
    );

    // A client outside its allow list reaches nothing, not even its own settings.
    app.rpc(
        &owner,
        "/clients/set_whitelist",
        &[("for_client_id", &x), ("whitelist", r#"["10.0.0.0/8"]"#)],
    )
    .await;
    assert_eq!(call(&app, me, "/settings/items", &[]).await, refused);
}

#[tokio::test]
async fn every_settings_change_is_audited_and_no_ops_are_not() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let (x, _) = add(&app, &owner, "x", "[]").await;
    let for_x = |extra: &[(&'static str, &'static str)]| {
        let mut form = vec![("for_client_id", x.clone())];
        form.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        form
    };
    let send_as_owner = |path: &'static str, form: Vec<(&'static str, String)>| {
        send(app.as_owner(&owner, Method::POST, path).form(&form))
    };
    send_as_owner("/settings/set", for_x(&[("key", "k"), ("value", "1")])).await;
    send_as_owner("/settings/set", for_x(&[("key", "k"), ("value", "1")])).await; // no change
    send_as_owner(
        "/settings/set_multi",
        for_x(&[("items", r#"{"k": "1", "j": [true]}"#)]),
    )
    .await;
    send_as_owner("/settings/set", for_x(&[("key", "k"), ("value", "2")])).await;
    send_as_owner("/settings/delete", for_x(&[("key", "k")])).await;
    send_as_owner("/settings/delete", for_x(&[("key", "k")])).await; // nothing to delete
    send_as_owner(
        "/settings/set_default",
        vec![("key", "d".into()), ("value", r#"{"a":1}"#.into())],
    )
    .await;
    send_as_owner("/settings/delete_default", vec![("key", "d".into())]).await;

    let rows: Vec<Value> = app
        .audit_rows(&owner.app_id)
        .await
        .into_iter()
        .filter(|r| r["action"].as_str().unwrap().starts_with("settings."))
        .map(|r| {
            json!([
                r["action"],
                r["actor"],
                r["target_client_id"],
                r["features_before"],
                r["changes"]
            ])
        })
        .collect();
    let by = &owner.client_id;
    assert_eq!(
        rows,
        vec![
            json!(["settings.set", by, x, null, {"k": {"to": "1"}}]),
            json!(["settings.set", by, x, null, {"j": {"to": [true]}}]),
            json!(["settings.set", by, x, null, {"k": {"from": "1", "to": "2"}}]),
            json!(["settings.delete", by, x, null, {"k": {"from": "2"}}]),
            json!(["settings.set", by, null, null, {"d": {"to": {"a": 1}}}]),
            json!(["settings.delete", by, null, null, {"d": {"from": {"a": 1}}}]),
        ]
    );
}

#[tokio::test]
async fn settings_are_one_store_for_both_surfaces() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let (x, _) = add(&app, &owner, "x", "[]").await;
    let client_path = format!("/config/{}/clients/{x}/settings", owner.app_id);
    let defaults_path = format!("/config/{}/settings", owner.app_id);

    // Registration → Config.
    app.rpc(
        &owner,
        "/settings/set_multi",
        &[("for_client_id", &x), ("items", r#"{"a": 1, "b": "two"}"#)],
    )
    .await;
    app.rpc(
        &owner,
        "/settings/set_default",
        &[("key", "a"), ("value", "default a")],
    )
    .await;
    assert_eq!(
        config_get(&app, &owner, &client_path).await,
        json!({"a": 1, "b": "two"})
    );
    assert_eq!(
        config_get(&app, &owner, &defaults_path).await,
        json!({"a": "default a"})
    );

    // Config → Registration: a PUT replaces the set; the dropped key falls back to the default.
    let res = app
        .by(&owner)
        .put(&client_path, &json!({"b": 2, "c": null}))
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        app.rpc(
            &owner,
            "/settings/get_multi",
            &[("for_client_id", &x), ("keys", r#"["a", "b", "c"]"#)]
        )
        .await,
        result(json!({"a": "default a", "b": 2, "c": null}))
    );
    assert_eq!(
        app.rpc(&owner, "/settings/keys", &[("for_client_id", &x)])
            .await,
        result(json!(["a", "b", "c"]))
    );
    let res = app.by(&owner).put(&defaults_path, &json!({})).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        app.rpc(
            &owner,
            "/settings/get",
            &[("for_client_id", &x), ("key", "a")]
        )
        .await,
        result(json!(null))
    );
}

#[tokio::test]
async fn settings_go_with_their_client_and_stay_in_their_tenant() {
    let (app, a) = spawn_app_with_owner("a").await;
    let b = app.create_app("b").await;
    let (x, _) = add(&app, &a, "x", "[]").await;
    let (bx, bx_secret) = add(&app, &b, "bx", "[]").await;
    app.rpc(
        &a,
        "/settings/set",
        &[("for_client_id", &x), ("key", "k"), ("value", "v")],
    )
    .await;
    app.rpc(
        &a,
        "/settings/set_default",
        &[("key", "shared"), ("value", "a's")],
    )
    .await;

    // B's clients do not see A's defaults; A's owner cannot reach B's client.
    assert_eq!(
        call(
            &app,
            By::Basic(&bx, &bx_secret),
            "/settings/get",
            &[("key", "shared")]
        )
        .await,
        result(json!(null))
    );
    assert_eq!(
        app.rpc(&b, "/settings/get_all", &[]).await,
        ok(json!({"client_settings": {}, "default_settings": {}}))
    );
    assert_eq!(
        app.rpc(
            &a,
            "/settings/set",
            &[("for_client_id", &bx), ("key", "k"), ("value", "pwned")]
        )
        .await,
        invalid("for_client_id", "for_client_id is not a valid id")
    );
    assert_eq!(setting_rows(&app, &b.app_id).await, 0);

    // Deleting a client deletes its settings with it.
    app.rpc(&a, "/clients/delete", &[("client_id_for_deletion", &x)])
        .await;
    assert_eq!(
        app.rpc(&a, "/settings/get_all", &[]).await,
        ok(json!({"client_settings": {}, "default_settings": {"shared": "a's"}}))
    );
}

#[tokio::test]
async fn the_operator_manages_settings_of_the_application_it_names() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let op = |path: &'static str, form: Vec<(&'static str, String)>| {
        send(app.as_operator(Method::POST, path).form(&form))
    };
    let app_id = owner.app_id.clone();
    assert_eq!(
        op(
            "/settings/set_default",
            vec![
                ("application_id", app_id.clone()),
                ("key", "k".into()),
                ("value", "v".into())
            ]
        )
        .await,
        result(json!(false))
    );
    assert_eq!(
        op(
            "/settings/set",
            vec![
                ("application_id", app_id.clone()),
                ("key", "k".into()),
                ("value", "v".into())
            ]
        )
        .await,
        missing("for_client_id")
    );
    assert_eq!(
        op(
            "/settings/set",
            vec![
                ("application_id", app_id.clone()),
                ("for_client_id", owner.client_id.clone()),
                ("key", "k".into()),
                ("value", "o".into())
            ]
        )
        .await,
        result(json!(false))
    );
    assert_eq!(
        app.rpc(&owner, "/settings/get", &[("key", "k")]).await,
        result(json!("o"))
    );
    let rows = app.audit_rows(&owner.app_id).await;
    assert_eq!(rows.last().unwrap()["actor"], "operator");
}

#[tokio::test]
async fn concurrent_sets_of_one_new_key_report_exactly_one_creation() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let values: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    for path in ["/settings/set", "/settings/set_default"] {
        let tasks: Vec<_> = values
            .iter()
            .map(|v| {
                send(
                    app.as_owner(&owner, Method::POST, path)
                        .form(&[("key", "race"), ("value", v.as_str())]),
                )
            })
            .collect();
        let answers = futures_util::future::join_all(tasks).await;
        let created = answers
            .iter()
            .filter(|a| **a == result(json!(false)))
            .count();
        let replaced = answers
            .iter()
            .filter(|a| **a == result(json!(true)))
            .count();
        assert_eq!((created, replaced), (1, 19), "{path}: {answers:?}");
    }
    // Every write changed the value, so every one was audited, in a gap-free chain.
    assert_eq!(app.audit_count(&owner.app_id, "settings.set").await, 40);
}

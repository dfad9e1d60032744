//! `janrain-signed` requests, sealed secrets and show_secrets (issue #11). The real vendor
//! libraries are driven by tests/vendor_libs/run.sh; these tests pin each rule.

use chrono::{Duration, Utc};
use latchkey::auth::sealing::KeyRing;
use latchkey::auth::signature::{authorization, string_to_sign};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::registration_support::*;

const DATE: &str = "%Y-%m-%d %H:%M:%S";

/// Creates an application with the given options as the operator; its owner.
async fn create_app_with(app: &TestApp, name: &str, options: Value) -> Owner {
    let mut body = json!({ "name": name, "region": "us" });
    for (k, v) in options.as_object().unwrap() {
        body[k] = v.clone();
    }
    let res = app.operator().post("/apps", &body).await;
    let (status, body) = res.pair();
    assert_eq!(status, 201, "{body}");
    Owner {
        app_id: body["app_id"].as_str().unwrap().to_owned(),
        client_id: body["owner"]["_id"].as_str().unwrap().to_owned(),
        secret: body["owner"]["_secret"].as_str().unwrap().to_owned(),
    }
}

async fn signed_app(app: &TestApp, name: &str) -> Owner {
    create_app_with(app, name, json!({"signed_requests": true})).await
}

/// A signed POST as the vendor's library makes it, with the Date `offset_secs` from now.
fn signed_request(
    app: &TestApp,
    id: &str,
    secret: &str,
    path: &str,
    params: &[(&str, &str)],
    offset_secs: i64,
) -> reqwest::RequestBuilder {
    let date = (Utc::now() + Duration::seconds(offset_secs))
        .format(DATE)
        .to_string();
    let auth = authorization(
        id,
        secret,
        &string_to_sign(path, &date, params.iter().copied()),
    )
    .unwrap();
    app.request(Method::POST, path)
        .header("Authorization", auth)
        .header("Date", date)
        .form(params)
}

async fn signed(
    app: &TestApp,
    id: &str,
    secret: &str,
    path: &str,
    params: &[(&str, &str)],
) -> Value {
    send(signed_request(app, id, secret, path, params, 0)).await
}

/// Sends `method url` with a signature of `message` (already built) and its Date.
async fn send_signed(
    app: &TestApp,
    owner: &Owner,
    method: Method,
    url: &str,
    date: &str,
    message: &str,
) -> Value {
    send(
        app.request(method, url)
            .header(
                "Authorization",
                authorization(&owner.client_id, &owner.secret, message).unwrap(),
            )
            .header("Date", date),
    )
    .await
}

/// `PATCH /apps/{appId}` as the operator.
async fn patch_app(app: &TestApp, app_id: &str, body: Value) -> (u16, Value) {
    app.operator()
        .patch(&format!("/apps/{app_id}"), &body)
        .await
        .pair()
}

/// Secrets of an application that have a sealed copy.
async fn sealed_count(app: &TestApp, app_id: &str) -> i64 {
    app.scalar(
        "SELECT count(*) FROM client_secrets WHERE app_id = $1 AND sealed IS NOT NULL",
        &[app_id],
    )
    .await
}

fn credentials_error(description: &str) -> Value {
    reg_error(402, "invalid_client_credentials", description, None)
}

const UNSEALED: &str = "this client's secret was created before signed requests were enabled for its application, so it cannot be checked yet: make one call with HTTP Basic authentication or the client_id and client_secret parameters (or reset the secret), then sign requests";

const REPLAYED: &str =
    "this signature was already used: a signed request cannot be replayed; sign each request anew";

#[tokio::test]
async fn a_signed_request_of_a_signed_requests_app_is_served() {
    let app = spawn_app().await;
    let owner = signed_app(&app, "shop").await;
    let added = signed(
        &app,
        &owner.client_id,
        &owner.secret,
        "/clients/add",
        &[
            ("description", "mailer"),
            ("features", r#"["direct_read_access", "access_issuer"]"#),
        ],
    )
    .await;
    assert_eq!(added["stat"], "ok", "{added}");
    assert_eq!(
        added["features"],
        json!(["access_issuer", "direct_read_access"])
    );
    let (id, secret) = (
        added["client_id"].as_str().unwrap(),
        added["client_secret"].as_str().unwrap(),
    );
    // The new client's secret was sealed when it was minted: it signs at once.
    let got = signed(&app, id, secret, "/settings/get", &[("key", "nothing")]).await;
    assert_eq!(got, ok(json!({"result": null})));
    // No parameters: `path\ndate\n` (the library) and `path\ndate\n\n` (the docs' snippet).
    let listed = signed(&app, &owner.client_id, &owner.secret, "/clients/list", &[]).await;
    assert_eq!(listed["results"].as_array().unwrap().len(), 2, "{listed}");
    let date = Utc::now().format(DATE).to_string();
    let doc_form = format!("/clients/list\n{date}\n\n");
    let res = send_signed(
        &app,
        &owner,
        Method::POST,
        "/clients/list",
        &date,
        &doc_form,
    )
    .await;
    assert_eq!(res["stat"], "ok", "{res}");
    // GET with the parameters in the query string is signed the same way.
    let s = string_to_sign("/settings/get", &date, [("key", "a/b")]);
    let url = "/settings/get?key=a%2Fb";
    let res = send_signed(&app, &owner, Method::GET, url, &date, &s).await;
    assert_eq!(res, ok(json!({"result": null})));
    // Basic and parameters keep working for the same application.
    let basic = app.rpc(&owner, "/settings/get", &[("key", "x")]).await;
    assert_eq!(basic, ok(json!({"result": null})));
}

#[tokio::test]
async fn stale_future_missing_and_malformed_dates_are_refused() {
    let app = spawn_app().await;
    let owner = signed_app(&app, "shop").await;
    let (id, secret) = (owner.client_id.as_str(), owner.secret.as_str());
    let list_at = |offset| {
        send(signed_request(
            &app,
            id,
            secret,
            "/clients/list",
            &[],
            offset,
        ))
    };
    for offset in [-303, 303, -3600] {
        let res = list_at(offset).await;
        let skew = res["error_description"]
            .as_str()
            .unwrap()
            .split(' ')
            .nth(4)
            .unwrap()
            .parse::<i64>()
            .unwrap();
        assert!((skew + offset).abs() <= 2, "{res}");
        assert_eq!(
            res,
            credentials_error(&format!("the Date header is {skew} seconds from the server's clock (UTC); signed requests must be within 300 seconds"))
        );
    }
    // Inside the window (either side) is fine.
    for offset in [-250, 250] {
        let res = list_at(offset).await;
        assert_eq!(res["stat"], "ok", "{offset}: {res}");
    }
    let bad_date = credentials_error(
        "a signed request needs a Date header of the form YYYY-MM-DD HH:MM:SS (UTC)",
    );
    let date = Utc::now().format(DATE).to_string();
    let auth = authorization(id, secret, &string_to_sign("/clients/list", &date, [])).unwrap();
    let missing = send(
        app.request(Method::POST, "/clients/list")
            .header("Authorization", &auth),
    )
    .await;
    assert_eq!(missing, bad_date);
    let http_date = Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let malformed = send(
        app.request(Method::POST, "/clients/list")
            .header("Authorization", &auth)
            .header("Date", http_date),
    )
    .await;
    assert_eq!(malformed, bad_date);
}

#[tokio::test]
async fn the_window_is_configurable() {
    let app = spawn_app_with(|s| s.auth.signature_window_secs = 10).await;
    let owner = signed_app(&app, "shop").await;
    let res = send(signed_request(
        &app,
        &owner.client_id,
        &owner.secret,
        "/clients/list",
        &[],
        -60,
    ))
    .await;
    assert!(
        res["error_description"]
            .as_str()
            .unwrap()
            .ends_with("signed requests must be within 10 seconds"),
        "{res}"
    );
}

#[tokio::test]
async fn a_replayed_signature_is_refused_on_every_server() {
    let app = spawn_app().await;
    let owner = signed_app(&app, "shop").await;
    let date = Utc::now().format(DATE).to_string();
    let params = [("description", "once")];
    let auth = authorization(
        &owner.client_id,
        &owner.secret,
        &string_to_sign("/clients/add", &date, params),
    )
    .unwrap();
    let request = || {
        app.request(Method::POST, "/clients/add")
            .header("Authorization", &auth)
            .header("Date", &date)
            .form(&params)
    };
    let first = send(request()).await;
    assert_eq!(first["stat"], "ok", "{first}");
    let again = send(request()).await;
    assert_eq!(again, credentials_error(REPLAYED));
    // The record is in PostgreSQL (so another server refuses it too), keyed by a digest.
    let stored: Vec<(Vec<u8>, chrono::DateTime<Utc>)> = sqlx::query_as(
        "SELECT signature_hash, expires_at FROM signed_request_replays WHERE app_id = $1",
    )
    .bind(&owner.app_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0.len(), 32);
    let expected_expiry = chrono::NaiveDateTime::parse_from_str(&date, DATE)
        .unwrap()
        .and_utc()
        + Duration::seconds(300);
    assert_eq!(stored[0].1, expected_expiry);
    // One client was added, not two.
    let listed = app.rpc(&owner, "/clients/list", &[]).await;
    assert_eq!(listed["results"].as_array().unwrap().len(), 2);
    // A second server on the same database refuses it as well: the replay state is shared.
    let second = latchkey::startup::Application::build(
        &{
            let mut s = test_settings();
            s.http.listen = "127.0.0.1:0".parse().unwrap();
            s
        },
        app.pool.clone(),
    )
    .unwrap();
    let port = second.port();
    tokio::spawn(second.run_until_stopped());
    let other = send(
        app.http
            .post(format!("http://127.0.0.1:{port}/clients/add"))
            .header("Authorization", &auth)
            .header("Date", &date)
            .form(&params),
    )
    .await;
    assert_eq!(other, credentials_error(REPLAYED));
}

/// The parameters that make each read of the route table answer something (not an error).
fn read_params(path: &str) -> Vec<(&'static str, &'static str)> {
    match path {
        "/settings/get" | "/settings/get_default" => vec![("key", "site_name")],
        "/settings/get_multi" => vec![("keys", r#"["site_name", "other"]"#)],
        "/entityType" => vec![("type_name", "user")],
        "/entityType.getAccessSchema" => vec![("type_name", "user"), ("access_type", "read")],
        _ => vec![],
    }
}

/// Sends the same signed request (same Date, same signature) `times` times; the raw answers.
async fn same_signed_request(
    app: &TestApp,
    owner: &Owner,
    path: &str,
    params: &[(&str, &str)],
    times: usize,
) -> Vec<String> {
    let date = Utc::now().format(DATE).to_string();
    let auth = authorization(
        &owner.client_id,
        &owner.secret,
        &string_to_sign(path, &date, params.iter().copied()),
    )
    .unwrap();
    let mut answers = Vec::new();
    for _ in 0..times {
        let res = app
            .request(Method::POST, path)
            .header("Authorization", &auth)
            .header("Date", &date)
            .form(params)
            .fetch()
            .await;
        assert_eq!(res.status, 200);
        answers.push(res.text);
    }
    answers
}

#[tokio::test]
async fn an_identical_signed_read_is_answered_again_and_an_identical_write_is_not() {
    let app = spawn_app().await;
    let owner = signed_app(&app, "shop").await;
    let defs = r#"[{"name":"email","type":"string"},{"name":"givenName","type":"string"}]"#;
    let setup: [(&str, Vec<(&str, &str)>); 3] = [
        (
            "/entityType.create",
            vec![("type_name", "user"), ("attr_defs", defs)],
        ),
        (
            "/settings/set",
            vec![("key", "site_name"), ("value", "Shop")],
        ),
        (
            "/settings/set_default",
            vec![("key", "site_name"), ("value", "Default")],
        ),
    ];
    for (path, params) in setup {
        let res = app.rpc(&owner, path, &params).await;
        assert_eq!(res["stat"], "ok", "{path}: {res}");
    }
    // Every Registration API read of the route table: the same signed request three times
    // inside its window gets the same answer, byte for byte, and is never called a replay.
    let reads: Vec<&str> = latchkey::http::routes::table()
        .into_iter()
        .filter(|r| r.surface == latchkey::http::routes::Surface::Registration && !r.mutating())
        .map(|r| r.path)
        .collect();
    assert_eq!(
        reads,
        [
            "/clients/list",
            "/settings/get",
            "/settings/get_multi",
            "/settings/items",
            "/settings/keys",
            "/settings/get_default",
            "/settings/get_all",
            "/entityType",
            "/entityType.list",
            "/entityType.getAccessSchema",
        ],
        "the reads docs/signed-requests.md lists"
    );
    for path in &reads {
        let answers = same_signed_request(&app, &owner, path, &read_params(path), 3).await;
        let first: Value = serde_json::from_str(&answers[0]).unwrap();
        assert_eq!(first["stat"], "ok", "{path}: {first}");
        assert_eq!(answers[1], answers[0], "{path}");
        assert_eq!(answers[2], answers[0], "{path}");
    }
    let listed = same_signed_request(&app, &owner, "/clients/list", &[], 2).await;
    let expected = format!(
        r#"{{"results":[{{"client_id":"{}","description":"owner","features":["owner"],"whitelist":["0.0.0.0/0"]}}],"stat":"ok"}}"#,
        owner.client_id
    );
    assert_eq!(listed, [expected.clone(), expected]);
    // Reads leave no replay record: repeating them costs no write.
    let records: i64 = app
        .scalar(
            "SELECT count(*) FROM signed_request_replays WHERE app_id = $1",
            &[&owner.app_id],
        )
        .await;
    assert_eq!(records, 0);

    // A write: the first is served, the identical second refused with the replay message.
    let params = [("description", "renamed")];
    let answers = same_signed_request(&app, &owner, "/clients/set_description", &params, 2).await;
    assert_eq!(answers[0], r#"{"stat":"ok"}"#);
    let mut again: Value = serde_json::from_str(&answers[1]).unwrap();
    assert_eq!(again["request_id"].as_str().unwrap().len(), 16);
    again.as_object_mut().unwrap().remove("request_id");
    assert_eq!(again, credentials_error(REPLAYED));
    // A failed signature on a read is still a failed signature (and not remembered).
    let wrong = Owner {
        secret: "x".repeat(32),
        ..owner.clone()
    };
    for answer in same_signed_request(&app, &wrong, "/clients/list", &[], 2).await {
        let mut body: Value = serde_json::from_str(&answer).unwrap();
        body.as_object_mut().unwrap().remove("request_id");
        assert_eq!(
            body,
            credentials_error("client_id and client_secret are missing or not valid")
        );
    }
}

#[tokio::test]
async fn tampered_wrong_unknown_and_rotated_out_signatures_look_the_same() {
    let app = spawn_app().await;
    let owner = signed_app(&app, "shop").await;
    let (id, secret) = (owner.client_id.as_str(), owner.secret.as_str());
    let date = Utc::now().format(DATE).to_string();
    let good = authorization(
        id,
        secret,
        &string_to_sign("/settings/get", &date, [("key", "a")]),
    )
    .unwrap();
    // Tampered: other parameters, another path, a flipped bit of the MAC.
    let other_params = send(
        app.request(Method::POST, "/settings/get")
            .header("Authorization", &good)
            .header("Date", &date)
            .form(&[("key", "b")]),
    )
    .await;
    let other_path = send(
        app.request(Method::POST, "/settings/keys")
            .header("Authorization", &good)
            .header("Date", &date)
            .form(&[("key", "a")]),
    )
    .await;
    let mac = good.rsplit(':').next().unwrap();
    let flipped = format!(
        "Signature {id}:{}{}",
        if mac.starts_with('A') { "B" } else { "A" },
        &mac[1..]
    );
    let flipped = send(
        app.request(Method::POST, "/settings/get")
            .header("Authorization", flipped)
            .header("Date", &date)
            .form(&[("key", "a")]),
    )
    .await;
    let wrong_secret = signed(&app, id, "not-the-secret", "/settings/get", &[("key", "c")]).await;
    let unknown = signed(
        &app,
        &"z".repeat(32),
        secret,
        "/settings/get",
        &[("key", "d")],
    )
    .await;
    let malformed = send(
        app.request(Method::POST, "/settings/get")
            .header("Authorization", "Signature no-colon-here")
            .header("Date", &date),
    )
    .await;
    for res in [
        other_params,
        other_path,
        flipped,
        wrong_secret,
        unknown,
        malformed,
    ] {
        assert_eq!(res, bad_credentials());
    }

    // Rotation: during the grace period both secrets sign; after it only the new one.
    let rotated = app
        .rpc(&owner, "/clients/reset_secret", &[("hours_to_live", "1")])
        .await;
    let new_secret = rotated["new_secret"].as_str().unwrap().to_owned();
    for s in [secret, new_secret.as_str()] {
        let res = signed(&app, id, s, "/settings/get", &[("key", s)]).await;
        assert_eq!(res["stat"], "ok", "{res}");
    }
    let rotated = call(
        &app,
        By::Basic(id, &new_secret),
        "/clients/reset_secret",
        &[("hours_to_live", "0")],
    )
    .await;
    let newest = rotated["new_secret"].as_str().unwrap().to_owned();
    for s in [secret, new_secret.as_str()] {
        let res = signed(&app, id, s, "/settings/get", &[("key", "x")]).await;
        assert_eq!(res, bad_credentials(), "rotated out");
    }
    let res = signed(&app, id, &newest, "/settings/get", &[("key", "y")]).await;
    assert_eq!(res["stat"], "ok", "{res}");
}

#[tokio::test]
async fn failed_signatures_count_in_the_failure_limit() {
    let app = spawn_app_with(|s| s.auth.failure_limit = 3).await;
    let owner = signed_app(&app, "shop").await;
    for i in 0..3 {
        let key = i.to_string();
        let res = signed(
            &app,
            &owner.client_id,
            "wrong",
            "/settings/get",
            &[("key", &key)],
        )
        .await;
        assert_eq!(res, bad_credentials());
    }
    let blocked = signed(
        &app,
        &owner.client_id,
        &owner.secret,
        "/settings/get",
        &[("key", "k")],
    )
    .await;
    assert_eq!(blocked["code"], 510, "{blocked}");
    assert_eq!(blocked["error"], "api_limit_error");
    // Basic is blocked for that client id too: one limit for both schemes.
    let basic = app.rpc(&owner, "/settings/get", &[("key", "k")]).await;
    assert_eq!(basic["code"], 510);
}

#[tokio::test]
async fn allow_lists_apply_to_signed_requests() {
    let app = spawn_app().await;
    let owner = signed_app(&app, "shop").await;
    let added = app
        .rpc(
            &owner,
            "/clients/add",
            &[
                ("description", "remote"),
                ("whitelist", r#"["10.0.0.0/8"]"#),
            ],
        )
        .await;
    let res = signed(
        &app,
        added["client_id"].as_str().unwrap(),
        added["client_secret"].as_str().unwrap(),
        "/settings/get",
        &[("key", "k")],
    )
    .await;
    assert_eq!(res, permission(NO_AUTHORIZATION));
}

#[tokio::test]
async fn an_app_without_signed_requests_keeps_answering_205() {
    let (app, owner) = spawn_app_with_owner("plain").await;
    let res = signed(&app, &owner.client_id, &owner.secret, "/clients/list", &[]).await;
    assert_eq!(
        res,
        reg_error(
            205,
            "invalid_auth_method",
            "signed requests are not enabled for this application: its client secrets are stored only as hashes, so a signature cannot be checked; use HTTP Basic authentication or the client_id and client_secret parameters",
            None
        )
    );
    // Nothing sealed for it.
    assert_eq!(sealed_count(&app, &owner.app_id).await, 0);
}

#[tokio::test]
async fn secrets_from_before_the_switch_are_sealed_on_use_or_rotation() {
    let (app, owner) = spawn_app_with_owner("older").await;
    let (other, other_secret) = app
        .make_client(&owner, "other", &["direct_access"])
        .await
        .credentials();
    let (status, body) = patch_app(&app, &owner.app_id, json!({"signed_requests": true})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["signed_requests"], true);
    assert_eq!(body["show_secrets"], false);
    // Not sealed yet: a clear message.
    let res = signed(&app, &owner.client_id, &owner.secret, "/clients/list", &[]).await;
    assert_eq!(res, credentials_error(UNSEALED));
    // One successful Basic call seals it; from then on it signs.
    let basic = app.rpc(&owner, "/settings/get", &[("key", "k")]).await;
    assert_eq!(basic["stat"], "ok");
    let res = signed(&app, &owner.client_id, &owner.secret, "/clients/list", &[]).await;
    assert_eq!(res["stat"], "ok", "{res}");
    // Parameters seal too.
    let res = signed(&app, &other, &other_secret, "/settings/keys", &[]).await;
    assert_eq!(res, credentials_error(UNSEALED));
    let params = call(
        &app,
        By::Params(&other, &other_secret),
        "/settings/keys",
        &[],
    )
    .await;
    assert_eq!(params["stat"], "ok");
    let res = signed(&app, &other, &other_secret, "/settings/items", &[]).await;
    assert_eq!(res["stat"], "ok", "{res}");
    // A rotation mints a sealed secret.
    let third = app.add_client(&owner, "third", &[]).await;
    let rotated = app
        .rpc(
            &owner,
            "/clients/reset_secret",
            &[("for_client_id", &third), ("hours_to_live", "0")],
        )
        .await;
    let res = signed(
        &app,
        &third,
        rotated["new_secret"].as_str().unwrap(),
        "/settings/keys",
        &[],
    )
    .await;
    assert_eq!(res["stat"], "ok", "{res}");
}

#[tokio::test]
async fn options_are_operator_only_audited_and_need_the_key() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let path = format!("/apps/{}", owner.app_id);
    // A client, even an owner, is not the operator.
    app.by(&owner)
        .patch(&path, &json!({"signed_requests": true}))
        .await
        .is(401, errors("Authentication required."));
    let (status, body) = patch_app(&app, &owner.app_id, json!({"signed_requests": "yes"})).await;
    assert_eq!((status, body), (400, errors("Not a valid boolean.")));
    let (status, body) = patch_app(&app, &"x".repeat(26), json!({"signed_requests": true})).await;
    assert_eq!((status, body), (404, errors("Application not found.")));
    for (options, expected) in [
        (
            json!({"signed_requests": true, "show_secrets": true}),
            (true, true),
        ),
        (json!({"show_secrets": false}), (true, false)),
        // No change: no event.
        (json!({}), (true, false)),
        (json!({"signed_requests": false}), (false, false)),
    ] {
        let (status, body) = patch_app(&app, &owner.app_id, options).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (
                body["signed_requests"].clone(),
                body["show_secrets"].clone()
            ),
            (json!(expected.0), json!(expected.1))
        );
    }
    let rows = app.audit_rows(&owner.app_id).await;
    let updates: Vec<&Value> = rows
        .iter()
        .filter(|r| r["action"] == "app.update")
        .map(|r| &r["changes"])
        .collect();
    assert_eq!(
        updates,
        [
            &json!({"signed_requests": {"from": false, "to": true}, "show_secrets": {"from": false, "to": true}}),
            &json!({"show_secrets": {"from": true, "to": false}}),
            &json!({"signed_requests": {"from": true, "to": false}, "sealedSecretsDropped": 0}),
        ]
    );
    let actor = rows.iter().find(|r| r["action"] == "app.update").unwrap();
    assert_eq!(actor["actor"], "operator");

    // Without a sealing key the options cannot be switched on, nor an application created so.
    let keyless = spawn_app_with(|s| s.sealing.key = None).await;
    let plain = keyless.create_app("plain").await;
    let message = "Signed requests and show_secrets need a sealing key: set LATCHKEY_SEALING_KEY or LATCHKEY_SEALING_KEY_FILE.";
    keyless
        .operator()
        .patch(
            &format!("/apps/{}", plain.app_id),
            &json!({"show_secrets": true}),
        )
        .await
        .is(400, errors(message));
    keyless
        .operator()
        .post("/apps", &json!({"name": "signed", "signed_requests": true}))
        .await
        .is(400, errors(message));
}

#[tokio::test]
async fn switching_both_options_off_drops_the_sealed_copies() {
    let app = spawn_app().await;
    let owner = create_app_with(
        &app,
        "both",
        json!({"signed_requests": true, "show_secrets": true}),
    )
    .await;
    app.make_client(&owner, "c", &[]).await;
    assert_eq!(sealed_count(&app, &owner.app_id).await, 2);
    let off = json!({"signed_requests": false, "show_secrets": false});
    let (status, body) = patch_app(&app, &owner.app_id, off).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sealed_count(&app, &owner.app_id).await, 0);
    let rows = app.audit_rows(&owner.app_id).await;
    assert_eq!(
        rows.last().unwrap()["changes"],
        json!({"signed_requests": {"from": true, "to": false}, "show_secrets": {"from": true, "to": false}, "sealedSecretsDropped": 2})
    );
}

#[tokio::test]
async fn show_secrets_answers_like_the_vendor_to_owners_and_audits_each_read() {
    let app = spawn_app().await;
    let owner = create_app_with(&app, "shown", json!({"show_secrets": true})).await;
    let Made { id, secret, .. } = app.make_client(&owner, "x", &["direct_access"]).await;
    let base = format!("/config/{}/clients", owner.app_id);
    // Seed 004's example: the PUT answers with `_secret`.
    let body = app
        .by(&owner)
        .put(
            &format!("{base}/{id}"),
            &json!({"name": "Documentation Login Client", "features": ["login_client"]}),
        )
        .await
        .status_is(200);
    assert_eq!(
        body,
        json!({
            "_id": id,
            "_secret": secret,
            "_self": format!("{base}/{id}"),
            "_settings": format!("{base}/{id}/settings"),
            "name": "Documentation Login Client",
            "features": ["login_client"],
            "ipWhitelist": ["0.0.0.0/0"],
        })
    );
    let one = config_get(&app, &owner, &format!("{base}/{id}")).await;
    assert_eq!(one["_secret"], secret);
    let all = config_get(&app, &owner, &base).await;
    assert_eq!(all[0]["_secret"], owner.secret);
    assert_eq!(all[1]["_secret"], secret);
    let listed = app.rpc(&owner, "/clients/list", &[]).await;
    assert_eq!(
        listed["results"][1],
        json!({
            "client_id": id,
            "client_secret": secret,
            "description": "Documentation Login Client",
            "features": ["login_client"],
            "whitelist": ["0.0.0.0/0"],
        })
    );
    // Every read of a secret is audited: PUT, GET one, GET all (2), clients/list (2).
    assert_eq!(
        app.audit_count(&owner.app_id, "client.secret_read").await,
        6
    );
    let rows = app.audit_rows(&owner.app_id).await;
    let read = rows
        .iter()
        .find(|r| r["action"] == "client.secret_read")
        .unwrap();
    assert_eq!(read["target_client_id"], id);
    assert_eq!(read["actor"], owner.client_id);
    assert_eq!(read["changes"], json!({}));
    // After a rotation the new secret is shown.
    let (_, rotated) = app
        .by(&owner)
        .put(&format!("{base}/{id}/secret"), &json!({"hoursToLive": 1}))
        .await
        .pair();
    let one = config_get(&app, &owner, &format!("{base}/{id}")).await;
    assert_eq!(one["_secret"], rotated["_secret"]);
    assert_ne!(one["_secret"], secret);

    // Without the option nothing changes: no `_secret`, no event.
    let plain = app.create_app("plain").await;
    let pid = app.add_client(&plain, "p", &[]).await;
    let one = config_get(
        &app,
        &plain,
        &format!("/config/{}/clients/{pid}", plain.app_id),
    )
    .await;
    assert!(one.get("_secret").is_none(), "{one}");
    let listed = app.rpc(&plain, "/clients/list", &[]).await;
    assert!(listed["results"][0].get("client_secret").is_none());
    assert_eq!(
        app.audit_count(&plain.app_id, "client.secret_read").await,
        0
    );
}

#[tokio::test]
async fn show_secrets_leaves_out_secrets_from_before_the_switch() {
    let (app, owner) = spawn_app_with_owner("later").await;
    patch_app(&app, &owner.app_id, json!({"show_secrets": true})).await;
    let path = format!("/config/{}/clients/{}", owner.app_id, owner.client_id);
    // This very call seals the owner's secret (Basic, successful) before it is read.
    let one = config_get(&app, &owner, &path).await;
    assert_eq!(one["_secret"], owner.secret);
    let other = app.add_client(&owner, "o", &[]).await;
    let listed = config_get(&app, &owner, &format!("/config/{}/clients", owner.app_id)).await;
    assert_eq!(listed[1]["_id"], other);
    assert!(
        listed[1].get("_secret").is_some(),
        "minted after the switch"
    );
}

#[tokio::test]
async fn no_secret_is_in_clear_text_in_the_database() {
    let app = spawn_app().await;
    let mut secrets = Vec::new();
    let signed_owner = signed_app(&app, "signed").await;
    let shown = create_app_with(&app, "shown", json!({"show_secrets": true})).await;
    let plain = app.create_app("plain").await;
    for owner in [&signed_owner, &shown, &plain] {
        secrets.push(owner.secret.clone());
        let Made { id, secret, .. } = app.make_client(owner, "c", &[]).await;
        secrets.push(secret);
        let rotated = app
            .rpc(
                owner,
                "/clients/reset_secret",
                &[("for_client_id", &id), ("hours_to_live", "1")],
            )
            .await;
        secrets.push(rotated["new_secret"].as_str().unwrap().to_owned());
        // Reads and signed calls leave their traces too (audit, replay records).
        app.rpc(owner, "/clients/list", &[]).await;
    }
    signed(
        &app,
        &signed_owner.client_id,
        &signed_owner.secret,
        "/clients/list",
        &[],
    )
    .await;
    // pg_dump takes no sqlx connection options: the URL without its query.
    let url = app.database_url();
    let url = url.split('?').next().unwrap();
    let dump = std::process::Command::new("pg_dump")
        .args(["--data-only", "--no-owner", url])
        .output()
        .expect("pg_dump");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8(dump.stdout).unwrap();
    assert!(
        dump.contains("signed_request_replays"),
        "the dump has the data"
    );
    assert!(dump.contains(&signed_owner.client_id));
    let hex = |s: &str| hex::encode(s.as_bytes());
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    for s in &secrets {
        assert!(!dump.contains(s.as_str()), "a secret in clear text");
        assert!(!dump.contains(&hex(s)), "a secret as hex");
        assert!(!dump.contains(&b64(s)[..40]), "a secret as base64");
    }
}

#[tokio::test]
async fn keys_rotate_reseals_under_the_new_key() {
    let app = spawn_app().await;
    let owner = signed_app(&app, "shop").await;
    app.create_app("plain").await;
    let new_key = latchkey::auth::sealing::generate_key();
    let rotate = |current: &str, previous: &str| {
        app.cli(&["keys", "rotate"])
            .env("LATCHKEY_SEALING_KEY", current)
            .env("LATCHKEY_SEALING_PREVIOUS_KEYS", previous)
            .run()
    };
    let out = rotate(&new_key, TEST_SEALING_KEY).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let new_ring = KeyRing::from_base64(&new_key, &[]).unwrap();
    let report: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(
        report,
        json!({"current_key_id": new_ring.current_id(), "resealed": 1, "unopenable": [],
               "stores": {"client_secrets": 1, "oauth_signing_keys": 0,
                          "audit_signing_keys": 0, "sinks": 0}})
    );
    let (key_id, blob): (String, Vec<u8>) =
        sqlx::query_as("SELECT sealing_key_id, sealed FROM client_secrets WHERE app_id = $1")
            .bind(&owner.app_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(key_id, new_ring.current_id());
    let sealed = latchkey::auth::sealing::Sealed { key_id, blob };
    assert_eq!(
        new_ring
            .open(&owner.app_id, &owner.client_id, &sealed)
            .unwrap()
            .as_str(),
        owner.secret
    );
    // Running it again finds nothing to do; with only the old key nothing opens.
    let again = rotate(&new_key, "").await;
    assert!(again.status.success());
    assert_eq!(
        serde_json::from_str::<Value>(stdout(&again).trim()).unwrap()["resealed"],
        0
    );
    let old_only = rotate(TEST_SEALING_KEY, "").await;
    exited(
        &old_only,
        1,
        "latchkey: 1 sealed secret(s) open with no configured key",
    );
    let generated = app.cli(&["keys", "generate"]).run().await;
    assert!(latchkey::auth::sealing::parse_key(stdout(&generated).trim()).is_ok());
}

#[tokio::test]
async fn the_cli_creates_and_switches_signed_requests_apps() {
    let app = spawn_app().await;
    // Without a key (DATABASE_URL mode, nothing configured): a clear error.
    let out = app
        .cli(&["apps", "create", "--name", "s", "--signed-requests"])
        .run()
        .await;
    exited(
        &out,
        1,
        "latchkey: Signed requests and show_secrets need a sealing key: set LATCHKEY_SEALING_KEY or LATCHKEY_SEALING_KEY_FILE.",
    );
    let with_key = |args: &[&str]| app.cli(args).sealed().run();
    let out = with_key(&["apps", "create", "--name", "s", "--signed-requests"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let created: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(created["signed_requests"], true);
    assert_eq!(created["show_secrets"], false);
    let res = signed(
        &app,
        created["owner"]["_id"].as_str().unwrap(),
        created["owner"]["_secret"].as_str().unwrap(),
        "/clients/list",
        &[],
    )
    .await;
    assert_eq!(res["stat"], "ok", "{res}");
    let app_id = created["app_id"].as_str().unwrap();
    let out = with_key(&["apps", "set", "--app-id", app_id, "--show-secrets", "true"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let changed: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(
        (
            changed["signed_requests"].clone(),
            changed["show_secrets"].clone()
        ),
        (json!(true), json!(true))
    );
    assert_eq!(app.audit_count(app_id, "app.update").await, 1);
    // A server without the key refuses to start over a database that needs one.
    let serve = app
        .cli(&["serve"])
        .env("LATCHKEY_LISTEN", "127.0.0.1:0")
        .run()
        .await;
    exited(
        &serve,
        1,
        "latchkey: Signed requests and show_secrets need a sealing key: set LATCHKEY_SEALING_KEY or LATCHKEY_SEALING_KEY_FILE.",
    );
}

/// The embedded-database mode creates its sealing key under the data directory (mode 0600) on
/// first use, and uses it: an application with signed requests can be created at once.
#[tokio::test]
async fn the_embedded_mode_creates_its_key_file() {
    let dir = std::env::temp_dir().join(format!("lk-emb-key-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Cli::bare(&["apps", "create", "--name", "e", "--signed-requests"])
        .env("LATCHKEY_DATA_DIR", &dir)
        .run()
        .await;
    let err = stderr(&out);
    if err.contains("DATABASE_URL=") {
        eprintln!("skipped: {err}");
        return;
    }
    assert!(out.status.success(), "{err}");
    let created: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(created["signed_requests"], true);
    let key_file = dir.join("sealing.key");
    let text = std::fs::read_to_string(&key_file).unwrap();
    assert!(latchkey::auth::sealing::parse_key(text.trim()).is_ok());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let _ = std::fs::remove_dir_all(&dir);
}

//! The access decision for identity backends: `POST /config/{appId}/access/check`. The full
//! features × access × record × schema × source matrix is unit-tested in `domain::access`; here
//! a smaller matrix runs end to end, plus credentials, validation, permissions, and the seed's
//! three-client example.

use reqwest::Method;
use serde_json::{json, Value};

use crate::access_schemas::put_schema;
use crate::entity_types::create_user_type;
use crate::helpers::*;

fn check_path(o: &Owner) -> String {
    format!("/config/{}/access/check", o.app_id)
}

async fn check(app: &TestApp, o: &Owner, body: Value) -> (u16, Value) {
    let answer = app.by(o).post(&check_path(o), &body).await.pair();
    without_revision(app, &o.app_id, answer).await
}

/// A decision carries the revision it was made at: here, with no concurrent change, the
/// application's latest. Checked, then taken out so the decision can be compared whole.
pub async fn without_revision(
    app: &TestApp,
    app_id: &str,
    (status, mut body): (u16, Value),
) -> (u16, Value) {
    if status == 200 {
        let latest: i64 = app
            .scalar("SELECT seq FROM audit_heads WHERE app_id = $1", &[app_id])
            .await;
        let revision = body.as_object_mut().unwrap().remove("revision");
        assert_eq!(
            revision,
            Some(json!(latest.to_string())),
            "revision of {body}"
        );
    }
    (status, body)
}

/// A question about `client` reading or writing `attributes` of any record.
fn question(client: &str, access: &str, record: &str, attributes: &[&str]) -> Value {
    json!({"clientId": client, "entityType": "user", "access": access, "record": record, "attributes": attributes})
}

fn decision(
    allowed: bool,
    reason: &str,
    permitted: &[&str],
    denied: &[&str],
    updates: bool,
) -> Value {
    json!({"allowed": allowed, "reason": reason, "permitted": permitted, "denied": denied, "updatesLastUpdated": updates})
}

fn allowed(attributes: &[&str]) -> Value {
    decision(true, "ok", attributes, &[], true)
}

fn refused(reason: &str, attributes: &[&str]) -> Value {
    decision(false, reason, &[], attributes, true)
}

#[tokio::test]
async fn the_seeds_three_clients_end_to_end() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    create_user_type(&app, &owner).await;
    // The seed: the e-mail service provider sees e-mail, names and opt-ins; the ad server birthday
    // and gender; the recommendation engine interests.
    let (esp, esp_secret) = app
        .make_client(&owner, "Email Service Provider", &["direct_access"])
        .await
        .credentials();
    let (ads, ads_secret) = app
        .make_client(&owner, "Ad Server", &["direct_read_access"])
        .await
        .credentials();
    let (reco, reco_secret) = app
        .make_client(&owner, "Recommendation Engine", &["direct_read_access"])
        .await
        .credentials();
    for (client, access, attributes) in [
        (
            &esp,
            "read",
            json!(["email", "givenName", "familyName", "optIns"]),
        ),
        // The provider records unsubscribes, and nothing else.
        (
            &esp,
            "write",
            json!(["/optIns/newsletter", "/optIns/partnerOffers"]),
        ),
        (&ads, "read", json!(["birthday", "gender"])),
        (&reco, "read", json!(["interests"])),
    ] {
        let (status, body) = put_schema(&app, &owner, client, access, attributes).await;
        assert_eq!(status, 200, "{body}");
    }

    let ask = |client: &str, secret: &str, access: &str, attributes: &[&str]| {
        let mut q = question(client, access, "any", attributes);
        q["clientSecret"] = json!(secret);
        q
    };
    let cases = [
        // E-mail provider.
        (
            ask(
                &esp,
                &esp_secret,
                "read",
                &[
                    "email",
                    "givenName",
                    "familyName",
                    "optIns.newsletter",
                    "uuid",
                ],
            ),
            allowed(&[
                "email",
                "givenName",
                "familyName",
                "optIns.newsletter",
                "uuid",
            ]),
        ),
        (
            ask(
                &esp,
                &esp_secret,
                "read",
                &["email", "birthday", "interests"],
            ),
            decision(
                false,
                "attribute_not_permitted",
                &["email"],
                &["birthday", "interests"],
                true,
            ),
        ),
        (
            ask(&esp, &esp_secret, "write", &["optIns.newsletter"]),
            allowed(&["optIns.newsletter"]),
        ),
        (
            ask(&esp, &esp_secret, "write", &["email"]),
            decision(false, "attribute_not_permitted", &[], &["email"], true),
        ),
        // Ad server: read only, birthday and gender.
        (
            ask(&ads, &ads_secret, "read", &["birthday", "gender"]),
            allowed(&["birthday", "gender"]),
        ),
        (
            ask(&ads, &ads_secret, "read", &["email"]),
            decision(false, "attribute_not_permitted", &[], &["email"], true),
        ),
        (
            ask(&ads, &ads_secret, "write", &["gender"]),
            refused("no_feature", &["gender"]),
        ),
        // Recommendation engine: interests and everything in them.
        (
            ask(
                &reco,
                &reco_secret,
                "read",
                &["interests", "/interests/name", "interests.weight"],
            ),
            allowed(&["interests", "/interests/name", "interests.weight"]),
        ),
        (
            ask(&reco, &reco_secret, "read", &["givenName"]),
            decision(false, "attribute_not_permitted", &[], &["givenName"], true),
        ),
    ];
    for (q, expected) in cases {
        assert_eq!(check(&app, &owner, q.clone()).await, (200, expected), "{q}");
    }

    // Each client reads its own restricted schema through the Registration API.
    for (client, secret, names) in [
        (
            &esp,
            &esp_secret,
            vec![
                "id",
                "uuid",
                "created",
                "lastUpdated",
                "email",
                "givenName",
                "familyName",
                "optIns",
            ],
        ),
        (
            &ads,
            &ads_secret,
            vec!["id", "uuid", "created", "lastUpdated", "birthday", "gender"],
        ),
        (
            &reco,
            &reco_secret,
            vec!["id", "uuid", "created", "lastUpdated", "interests"],
        ),
    ] {
        let res = app
            .as_client(client, secret, Method::POST, "/entityType.getAccessSchema")
            .form(&[("type_name", "user"), ("access_type", "read")])
            .fetch()
            .await;
        let body: Value = res.body;
        assert_eq!(body["stat"], "ok", "{body}");
        let got: Vec<&str> = body["schema"]["attr_defs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert_eq!(got, names);
    }
}

/// Each feature set × read/write × any/self, without and with a read schema, through HTTP.
#[tokio::test]
async fn decision_matrix_over_http() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    create_user_type(&app, &owner).await;
    let mut clients = Vec::new();
    for (i, features) in [
        json!(["owner"]),
        json!(["direct_access"]),
        json!(["direct_read_access"]),
        json!(["login_client"]),
        json!(["access_issuer"]),
        json!([]),
    ]
    .into_iter()
    .enumerate()
    {
        let id = app
            .create_client(
                &owner,
                json!({"name": format!("c{i}"), "features": features.clone()}),
            )
            .await
            .id;
        clients.push((id, features));
    }
    let (meta, _) = app
        .create_client_as_operator(
            &owner.app_id,
            json!({"name": "meta", "features": ["metadata", "direct_access"]}),
        )
        .await;
    clients.push((meta, json!(["metadata", "direct_access"])));

    for with_schema in [false, true] {
        for (id, features) in &clients {
            if with_schema {
                let (status, _) = put_schema(&app, &owner, id, "read", json!(["email"])).await;
                assert_eq!(status, 200);
                let (status, _) = put_schema(&app, &owner, id, "write", json!(["email"])).await;
                assert_eq!(status, 200);
            }
            let has = |f: &str| features.as_array().unwrap().iter().any(|x| x == f);
            let updates = !has("metadata");
            for access in ["read", "write"] {
                for record in ["any", "self"] {
                    let writes_any = has("owner") || has("direct_access");
                    let reads_any = writes_any || has("direct_read_access");
                    let any_ok = if access == "read" {
                        reads_any
                    } else {
                        writes_any
                    };
                    let base = match record {
                        _ if any_ok => "ok",
                        "self" if has("login_client") => "ok",
                        "any" if has("login_client") => "self_only",
                        _ => "no_feature",
                    };
                    let attrs = ["email", "gender"];
                    let expected = match (base, with_schema) {
                        ("ok", false) => decision(true, "ok", &attrs, &[], updates),
                        ("ok", true) => decision(
                            false,
                            "attribute_not_permitted",
                            &["email"],
                            &["gender"],
                            updates,
                        ),
                        (reason, _) => decision(false, reason, &[], &attrs, updates),
                    };
                    let got = check(&app, &owner, question(id, access, record, &attrs)).await;
                    assert_eq!(
                        got,
                        (200, expected),
                        "{features} {access} {record} schema={with_schema}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn credentials_are_verified_when_a_secret_is_given() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    create_user_type(&app, &owner).await;
    let Made { id, secret, .. } = app.make_client(&owner, "backend", &["direct_access"]).await;
    let with = |client: &str, secret: Option<&str>| {
        let mut q = question(client, "read", "any", &["email"]);
        if let Some(s) = secret {
            q["clientSecret"] = json!(s);
        }
        q
    };
    // Right secret (twice: the second is served from the verification cache), no secret.
    for _ in 0..2 {
        assert_eq!(
            check(&app, &owner, with(&id, Some(&secret))).await,
            (200, allowed(&["email"]))
        );
    }
    assert_eq!(
        check(&app, &owner, with(&id, None)).await,
        (200, allowed(&["email"]))
    );
    let mut null_secret = with(&id, None);
    null_secret["clientSecret"] = Value::Null;
    assert_eq!(
        check(&app, &owner, null_secret).await,
        (200, allowed(&["email"]))
    );
    // Wrong secret, unknown client, malformed id, another application's client: one answer.
    let other = app.create_app("other").await;
    let (foreign, foreign_secret) = app
        .make_client(&other, "x", &["direct_access"])
        .await
        .credentials();
    for q in [
        with(&id, Some("wrong")),
        with(&id, Some("")),
        with(&"z".repeat(32), Some(&secret)),
        with(&"z".repeat(32), None),
        with("short", None),
        with(&foreign, Some(&foreign_secret)),
        with(&foreign, None),
    ] {
        assert_eq!(
            check(&app, &owner, q.clone()).await,
            (200, refused("bad_credentials", &["email"])),
            "{q}"
        );
    }
    // A rotated secret keeps working during its grace period, as for requests.
    let new_secret = app.config(&owner).new_secret(&id, 1).await;
    assert_eq!(
        check(&app, &owner, with(&id, Some(&secret))).await,
        (200, allowed(&["email"]))
    );
    assert_eq!(
        check(&app, &owner, with(&id, Some(&new_secret))).await,
        (200, allowed(&["email"]))
    );
    // And stops at once with hoursToLive 0.
    let newest = app.config(&owner).new_secret(&id, 0).await;
    assert_eq!(
        check(&app, &owner, with(&id, Some(&new_secret))).await,
        (200, refused("bad_credentials", &["email"]))
    );
    assert_eq!(
        check(&app, &owner, with(&id, Some(&newest))).await,
        (200, allowed(&["email"]))
    );
    // Checking changes nothing and writes no audit event; secrets appear nowhere.
    let audit = serde_json::to_string(&app.audit_rows(&owner.app_id).await).unwrap();
    assert!(!audit.contains(&secret) && !audit.contains(&newest));
    assert!(!audit.contains("access.check"));
}

#[tokio::test]
async fn the_allow_list_is_applied_to_the_source_address() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    create_user_type(&app, &owner).await;
    let Made { id, secret, .. } = app
        .fenced_client(
            &owner,
            "fenced",
            &["direct_read_access"],
            &["10.0.0.0/8", "2001:db8::/32"],
        )
        .await;
    let from = |ip: Option<&str>| {
        let mut q = question(&id, "read", "any", &["email"]);
        q["clientSecret"] = json!(secret);
        if let Some(ip) = ip {
            q["sourceIp"] = json!(ip);
        }
        q
    };
    for ip in [
        None,
        Some("10.20.30.40"),
        Some("2001:db8::1"),
        Some("::ffff:10.0.0.9"),
    ] {
        assert_eq!(
            check(&app, &owner, from(ip)).await,
            (200, allowed(&["email"])),
            "{ip:?}"
        );
    }
    for ip in ["192.168.0.1", "127.0.0.1", "::1", "2001:db9::1"] {
        assert_eq!(
            check(&app, &owner, from(Some(ip))).await,
            (200, refused("ip_not_allowed", &["email"])),
            "{ip}"
        );
    }
    // Credentials come first: a wrong secret from a refused address is bad_credentials.
    let mut q = from(Some("192.168.0.1"));
    q["clientSecret"] = json!("wrong");
    assert_eq!(
        check(&app, &owner, q).await,
        (200, refused("bad_credentials", &["email"]))
    );
}

#[tokio::test]
async fn unknown_types_and_attributes() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    create_user_type(&app, &owner).await;
    let id = app.add_client(&owner, "backend", &["direct_access"]).await;
    let mut q = question(&id, "read", "any", &["email"]);
    q["entityType"] = json!("device");
    assert_eq!(
        check(&app, &owner, q).await,
        (200, refused("unknown_entity_type", &["email"]))
    );
    let got = check(
        &app,
        &owner,
        question(
            &id,
            "write",
            "any",
            &[
                "email",
                "shoeSize",
                "/primaryAddress/zip",
                "primaryAddress..zip",
            ],
        ),
    )
    .await;
    assert_eq!(
        got,
        (
            200,
            decision(
                false,
                "unknown_attribute",
                &["email", "/primaryAddress/zip"],
                &["shoeSize", "primaryAddress..zip"],
                true
            )
        )
    );
    // No attributes: the answer is about the record alone.
    assert_eq!(
        check(&app, &owner, question(&id, "write", "self", &[])).await,
        (200, allowed(&[]))
    );
}

#[tokio::test]
async fn a_schema_change_shows_in_the_next_decision() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    create_user_type(&app, &owner).await;
    let id = app.add_client(&owner, "backend", &["direct_access"]).await;
    let q = question(&id, "read", "any", &["birthday"]);
    assert_eq!(
        check(&app, &owner, q.clone()).await,
        (200, allowed(&["birthday"]))
    );
    put_schema(&app, &owner, &id, "read", json!(["email"])).await;
    assert_eq!(
        check(&app, &owner, q.clone()).await,
        (
            200,
            decision(false, "attribute_not_permitted", &[], &["birthday"], true)
        )
    );
    app.config(&owner)
        .delete(&format!("/clients/{id}/accessSchemas/user/read"))
        .await
        .status_is(204);
    assert_eq!(check(&app, &owner, q).await, (200, allowed(&["birthday"])));
}

#[tokio::test]
async fn malformed_questions_are_400s() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let id = "a".repeat(32);
    let base = question(&id, "read", "any", &["email"]);
    let with = |field: &str, value: Value| {
        let mut q = base.clone();
        if value.is_null() {
            q.as_object_mut().unwrap().remove(field);
        } else {
            q[field] = value;
        }
        q
    };
    for (q, message) in [
        (
            with("clientId", Value::Null),
            "Missing data for required field.",
        ),
        (with("clientId", json!(7)), "Not a valid string."),
        (with("clientSecret", json!(7)), "Not a valid string."),
        (
            with("sourceIp", json!("10.0.0.0/8")),
            "Not a valid IP address.",
        ),
        (
            with("sourceIp", json!("localhost")),
            "Not a valid IP address.",
        ),
        (with("sourceIp", json!(["10.0.0.1"])), "Not a valid string."),
        (
            with("entityType", Value::Null),
            "Missing data for required field.",
        ),
        (
            with("access", Value::Null),
            "Missing data for required field.",
        ),
        (with("access", json!("delete")), "Not a valid access type."),
        (
            with("attributes", Value::Null),
            "Missing data for required field.",
        ),
        (with("attributes", json!("email")), "Not a valid list."),
        (with("attributes", json!([1])), "Not a valid string."),
        (
            with("record", Value::Null),
            "Missing data for required field.",
        ),
        (with("record", json!("mine")), "Not a valid record scope."),
    ] {
        assert_eq!(
            check(&app, &owner, q.clone()).await,
            (400, errors(message)),
            "{q}"
        );
    }
    let res = app
        .as_owner(&owner, Method::POST, &check_path(&owner))
        .header("Content-Type", "text/plain")
        .body(base.to_string())
        .fetch()
        .await;
    assert_eq!(res.pair(), (400, errors("Invalid JSON body.")));
}

#[tokio::test]
async fn who_may_ask() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    create_user_type(&app, &owner).await;
    let Made { id, secret, .. } = app.make_client(&owner, "backend", &["direct_access"]).await;
    let q = question(&id, "read", "any", &["email"]);
    // The operator and any owner client of the application.
    let got = app.operator().post(&check_path(&owner), &q).await.pair();
    let got = without_revision(&app, &owner.app_id, got).await;
    assert_eq!(got, (200, allowed(&["email"])));
    let (owner2, owner2_secret) = app
        .make_client(&owner, "second owner", &["owner"])
        .await
        .credentials();
    let got = app
        .by_client(&owner2, &owner2_secret)
        .post(&check_path(&owner), &q)
        .await
        .pair();
    let got = without_revision(&app, &owner.app_id, got).await;
    assert_eq!(got, (200, allowed(&["email"])));
    // Not the client itself, nor any other non-owner.
    let got = app
        .by_client(&id, &secret)
        .post(&check_path(&owner), &q)
        .await
        .pair();
    assert_eq!(got, (403, errors("Forbidden")));
    let got = app
        .request(Method::POST, &check_path(&owner))
        .json(&q)
        .fetch()
        .await
        .pair();
    assert_eq!(got, (401, errors("Authentication required.")));
    // Another application's owner.
    let other = app.create_app("other").await;
    let got = app.by(&other).post(&check_path(&owner), &q).await.pair();
    assert_eq!(got, (401, errors("Authentication required.")));
    let got = app
        .operator()
        .post(&format!("/config/{}/access/check", "q".repeat(26)), &q)
        .await
        .pair();
    assert_eq!(got, (404, errors("Application not found.")));
    let got = app.by(&owner).get(&check_path(&owner)).await.pair();
    assert_eq!(got, (405, errors("Method not allowed.")));
}

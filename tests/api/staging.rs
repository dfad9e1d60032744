//! The staging toolkit (issue #13): pinned application ids, fixtures (apply, export), snapshots
//! and the import from the vendor's Configuration API.

use std::collections::BTreeMap;
use std::process::Output;

use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::helpers::*;

/// A fresh id of `len` characters of `[a-z0-9]`.
pub(crate) fn token(len: usize) -> String {
    let mut s = String::new();
    while s.len() < len {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    s[..len].to_owned()
}

async fn apply(app: &TestApp, app_id: &str, query: &str, doc: &Value) -> (u16, Value) {
    app.operator()
        .post(&format!("/apps/{app_id}/apply{query}"), doc)
        .await
        .pair()
}

async fn export(app: &TestApp, app_id: &str, query: &str) -> (u16, Value) {
    app.operator()
        .get(&format!("/apps/{app_id}/export{query}"))
        .await
        .pair()
}

async fn get_client(app: &TestApp, app_id: &str, id: &str, secret: &str, target: &str) -> u16 {
    app.as_client(
        id,
        secret,
        Method::GET,
        &format!("/config/{app_id}/clients/{target}"),
    )
    .send()
    .await
    .unwrap()
    .status()
    .as_u16()
}

fn actions(report: &Value) -> Vec<(String, Option<String>)> {
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap().to_owned(),
                c["client"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn owned(list: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    list.iter()
        .map(|(a, c)| (a.to_string(), c.map(str::to_owned)))
        .collect()
}

/// A fixture with pinned credentials, settings, an entity type and an access schema.
fn team_fixture(owner_id: &str, owner_secret: &str, mailer_id: &str, mailer_secret: &str) -> Value {
    json!({
        "settings": {"login_attempts": 5},
        "entityTypes": [{"name": "user", "attr_defs": [
            {"name": "email", "type": "string"}, {"name": "nick", "type": "string"}]}],
        "clients": [
            {"_id": owner_id, "_secret": owner_secret, "name": "ci-owner", "features": ["owner"]},
            {"_id": mailer_id, "_secret": mailer_secret, "name": "mailer",
             "features": ["direct_read_access"], "ipWhitelist": ["10.0.0.0/8", "127.0.0.0/8"],
             "settings": {"theme": "dark"},
             "accessSchemas": [{"entityType": "user", "accessType": "read", "attributes": ["email"]}]}
        ]
    })
}

#[tokio::test]
async fn applications_can_have_pinned_ids() {
    let app = spawn_app().await;
    let pinned = token(26);
    let (status, body) = app
        .operator()
        .post(
            "/apps",
            &json!({"name": "shop", "region": "eu", "app_id": pinned}),
        )
        .await
        .pair();
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["app_id"], json!(pinned));
    assert_eq!(body["region"], json!("eu"));
    // Taken, malformed or not a string: a clear error, nothing created.
    let taken = format!("Application ID {pinned} already exists.");
    let malformed = "Not a valid application id (26 characters of a-z and 0-9).";
    for (app_id, status, message) in [
        (json!(pinned), 409, taken.as_str()),
        (json!("short"), 400, malformed),
        (json!("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), 400, malformed),
        (json!(7), 400, "Not a valid string."),
    ] {
        app.operator()
            .post("/apps", &json!({"name": "other", "app_id": app_id}))
            .await
            .case_is(status, errors(message), &app_id);
    }
    // The command line.
    let cli_id = token(26);
    let out = json_out(
        &app.cli(&["apps", "create", "--name", "cli", "--app-id", &cli_id])
            .sealed()
            .run()
            .await,
    );
    assert_eq!(out["app_id"], json!(cli_id));
    let again = app
        .cli(&["apps", "create", "--name", "cli2", "--app-id", &cli_id])
        .sealed()
        .run()
        .await;
    exited_saying(
        &again,
        1,
        &format!("Application ID {cli_id} already exists."),
    );
}

#[tokio::test]
async fn apply_pins_credentials_and_a_second_apply_changes_nothing() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let app_id = owner.app_id.clone();
    let (owner_id, owner_secret, mailer_id, mailer_secret) =
        (token(32), token(32), token(32), token(32));
    let doc = team_fixture(&owner_id, &owner_secret, &mailer_id, &mailer_secret);
    let events_before = app.audit_rows(&app_id).await.len();

    // Clients cannot apply, only the operator.
    app.by(&owner)
        .post(&format!("/apps/{app_id}/apply"), &doc)
        .await
        .status_is(401);

    let (status, report) = apply(&app, &app_id, "", &doc).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["dryRun"], json!(false));
    assert_eq!(report["secrets"], json!({}), "every secret was pinned");
    assert_eq!(
        actions(&report),
        owned(&[
            ("entity_type.create", None),
            ("client.create", Some(&owner_id)),
            ("client.create", Some(&mailer_id)),
            ("settings.replace", None),
            ("settings.replace", Some(&mailer_id)),
            ("access_schema.set", Some(&mailer_id)),
        ])
    );
    assert_eq!(
        report["changes"][2]["changes"],
        json!({"name": {"from": null, "to": "mailer"},
               "ipWhitelist": {"from": null, "to": ["10.0.0.0/8", "127.0.0.0/8"]}})
    );
    assert_eq!(
        report["changes"][5]["changes"],
        json!({"entityType": "user", "accessType": "read",
               "attributes": {"from": null, "to": ["id", "uuid", "created", "lastUpdated", "email"]}})
    );
    // One event per change, by the operator.
    let rows = app.audit_rows(&app_id).await;
    assert_eq!(rows.len(), events_before + 6);
    assert!(rows[events_before..]
        .iter()
        .all(|r| r["actor"] == "operator"));

    // The team's credentials work as they are.
    assert_eq!(
        get_client(&app, &app_id, &owner_id, &owner_secret, &mailer_id).await,
        200
    );
    app.by_client(&owner_id, &owner_secret)
        .get(&format!("/config/{app_id}/clients/{mailer_id}/settings"))
        .await
        .is(200, json!({"theme": "dark"}));
    assert_eq!(
        get_client(&app, &app_id, &owner_id, &token(32), &mailer_id).await,
        401
    );

    // Idempotent: nothing changes, no event.
    let (status, report) = apply(&app, &app_id, "", &doc).await;
    assert_eq!(
        (status, report),
        (200, json!({"dryRun": false, "changes": [], "secrets": {}}))
    );
    assert_eq!(app.audit_rows(&app_id).await.len(), events_before + 6);

    // A pinned secret that changed replaces the old one, which stops working.
    let new_secret = token(32);
    let mut changed = doc.clone();
    changed["clients"][1]["_secret"] = json!(new_secret);
    let (status, report) = apply(&app, &app_id, "", &changed).await;
    assert_eq!(status, 200);
    assert_eq!(
        actions(&report),
        owned(&[("client.secret_rotate", Some(&mailer_id))])
    );
    let (status, _) = app
        .by_client(&mailer_id, &new_secret)
        .get(&format!("/config/{app_id}/settings"))
        .await
        .pair();
    assert_eq!(status, 200, "the new pinned secret works");
    let (status, _) = app
        .by_client(&mailer_id, &mailer_secret)
        .get(&format!("/config/{app_id}/settings"))
        .await
        .pair();
    assert_eq!(status, 401, "the old one does not");
}

#[tokio::test]
async fn a_bad_document_is_refused_whole_naming_the_bad_value() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let app_id = owner.app_id.clone();
    let before_rows = app.audit_rows(&app_id).await.len();
    let (_, before_export) = export(&app, &app_id, "").await;
    let good = |name: &str| json!({"name": name, "features": ["direct_access"]});
    let cases = [
        (
            json!({"clients": [good("a"), good("b"), {"name": "c", "features": ["bogus"]}]}),
            "clients[2].features[0]: Not a valid feature name.",
        ),
        (
            json!({"clients": [good("a"), {"name": "c", "ipWhitelist": ["10.0.0.1"]}]}),
            "clients[1].ipWhitelist[0]: Not a valid CIDR address.",
        ),
        (
            json!({"clients": [good("a"), {"name": "c", "_secret": "too-short"}]}),
            "clients[1]._secret: Not a valid client secret (32 characters of a-z and 0-9).",
        ),
        (
            json!({"clients": [{"name": "c", "_id": token(31)}]}),
            "clients[0]._id: Not a valid client id (32 characters of a-z and 0-9).",
        ),
        (
            json!({"settings": {"ok": 1, "": 2}}),
            "settings.: Setting keys must not be empty.",
        ),
        (
            json!({"entityTypes": [{"name": "user", "attr_defs": [{"name": "email", "type": "string"}]}],
                   "clients": [{"name": "c", "accessSchemas": [
                       {"entityType": "user", "accessType": "read", "attributes": ["phone"]}]}]}),
            "clients[0].accessSchemas[0].attributes: Attribute does not exist: phone",
        ),
        (
            json!({"clients": [{"name": "c", "accessSchemas": [
                       {"entityType": "nothing", "accessType": "read", "attributes": []}]}]}),
            "clients[0].accessSchemas[0].entityType: Entity type not found.",
        ),
        (
            json!({"clients": [good("a"), {"name": "owner", "_id": token(32)}]}),
            "clients[1].name: API client owner already exists.",
        ),
    ];
    for (doc, message) in cases {
        let (status, body) = apply(&app, &app_id, "", &doc).await;
        assert_eq!((status, body), (400, errors(message)), "{doc}");
    }
    // A YAML body that does not parse.
    let body = app
        .as_operator(Method::POST, &format!("/apps/{app_id}/apply"))
        .header("Content-Type", "application/yaml")
        .body("clients: [")
        .fetch()
        .await
        .status_is(400);
    assert!(
        body["errors"].as_str().unwrap().starts_with("(document): "),
        "{body}"
    );
    // A client id that another application holds.
    let other = app.create_app("other").await;
    let (status, body) = apply(
        &app,
        &app_id,
        "",
        &json!({"clients": [{"name": "copy", "_id": other.client_id}]}),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            errors("clients[0]._id: Client ID is used by another application.")
        )
    );
    // Nothing was written.
    assert_eq!(app.audit_rows(&app_id).await.len(), before_rows);
    assert_eq!(export(&app, &app_id, "").await.1, before_export);
    // The command line says the same, exit status 1.
    let out = app
        .cli(&["apply", "--app", &app_id, "-f", "-"])
        .sealed()
        .stdin("clients:\n  - name: a\n  - name: b\n  - name: c\n    features: [bogus]\n")
        .run()
        .await;
    exited(
        &out,
        1,
        "latchkey: clients[2].features[0]: Not a valid feature name.",
    );
}

#[tokio::test]
async fn dry_run_and_prune() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let app_id = owner.app_id.clone();
    let extra = app.add_client(&owner, "extra", &[]).await;
    let doc = json!({"clients": [
        {"name": "owner", "features": ["owner"]},
        {"name": "new one", "features": ["login_client"]}
    ]});
    let rows = app.audit_rows(&app_id).await.len();
    let (status, report) = apply(&app, &app_id, "?dryRun=true&prune=true", &doc).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["dryRun"], json!(true));
    let created = report["changes"][1]["client"].as_str().unwrap().to_owned();
    assert_eq!(
        actions(&report),
        owned(&[
            ("client.delete", Some(&extra)),
            ("client.create", Some(&created))
        ])
    );
    assert_eq!(
        app.audit_rows(&app_id).await.len(),
        rows,
        "dry: nothing written"
    );
    assert_eq!(
        get_client(&app, &app_id, &owner.client_id, &owner.secret, &extra).await,
        200
    );

    // Without prune the extra client stays; the new one gets a secret, shown once.
    let (status, report) = apply(&app, &app_id, "", &doc).await;
    assert_eq!(status, 200);
    let created = report["changes"][0]["client"].as_str().unwrap().to_owned();
    assert_eq!(
        actions(&report),
        owned(&[("client.create", Some(&created))])
    );
    let secret = report["secrets"][&created].as_str().unwrap().to_owned();
    let (status, _) = app
        .by_client(&created, &secret)
        .get(&format!("/config/{app_id}/settings"))
        .await
        .pair();
    assert_eq!(status, 200, "the minted secret works");
    // With prune it goes.
    let (status, report) = apply(&app, &app_id, "?prune=true", &doc).await;
    assert_eq!(status, 200);
    assert_eq!(actions(&report), owned(&[("client.delete", Some(&extra))]));
    assert_eq!(
        get_client(&app, &app_id, &owner.client_id, &owner.secret, &extra).await,
        404
    );
    let (status, body) = apply(&app, &app_id, "?prune=maybe", &doc).await;
    assert_eq!((status, body), (400, errors("prune: Not a valid boolean.")));
}

#[tokio::test]
async fn export_then_apply_reproduces_an_application_without_secrets() {
    let (app, source) = spawn_app_with_owner("source").await;
    // Clients created in one transaction are listed by id: ci-owner first.
    let mut ids = [token(32), token(32)];
    ids.sort();
    let doc = team_fixture(&ids[0], &token(32), &ids[1], &token(32));
    assert_eq!(apply(&app, &source.app_id, "", &doc).await.0, 200);
    let (status, exported) = export(&app, &source.app_id, "").await;
    assert_eq!(status, 200);
    let text = exported.to_string();
    assert!(!text.contains("_secret"), "{text}");
    for secret in [
        &source.secret,
        doc["clients"][0]["_secret"].as_str().unwrap(),
        doc["clients"][1]["_secret"].as_str().unwrap(),
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert_eq!(exported["settings"], json!({"login_attempts": 5}));
    assert_eq!(exported["clients"].as_array().unwrap().len(), 3);
    assert_eq!(
        exported["clients"][2],
        json!({"_id": doc["clients"][1]["_id"], "name": "mailer", "features": ["direct_read_access"],
               "ipWhitelist": ["10.0.0.0/8", "127.0.0.0/8"], "settings": {"theme": "dark"},
               "accessSchemas": [{"entityType": "user", "accessType": "read",
                                  "attributes": ["id", "uuid", "created", "lastUpdated", "email"]}]})
    );
    // Applying an export to the application it came from changes nothing.
    let (_, report) = apply(&app, &source.app_id, "", &exported).await;
    assert_eq!(report["changes"], json!([]));

    // Into another application (client ids are unique across applications: without them).
    let target = app.create_app("target").await;
    let (status, portable) = export(&app, &source.app_id, "?ids=false").await;
    assert_eq!(status, 200);
    assert!(portable["clients"][0].get("_id").is_none());
    let (status, report) = apply(&app, &target.app_id, "", &portable).await;
    assert_eq!(status, 200, "{report}");
    // (Clients created in one transaction are listed by id: compare them by name.)
    let by_name = |mut doc: Value| {
        doc["clients"]
            .as_array_mut()
            .unwrap()
            .sort_by_key(|c| c["name"].as_str().unwrap().to_owned());
        doc
    };
    assert_eq!(
        by_name(export(&app, &target.app_id, "?ids=false").await.1),
        by_name(portable)
    );

    // YAML, from the command line, reads back to the same document.
    let out = app
        .cli(&["export", "--app", &source.app_id, "--format", "yaml"])
        .sealed()
        .run()
        .await;
    succeeded(&out);
    let yaml = stdout(&out);
    assert!(yaml.contains("name: mailer"), "{yaml}");
    let out = app
        .cli(&["apply", "--app", &source.app_id, "-f", "-", "--dry-run"])
        .sealed()
        .stdin(&yaml)
        .run()
        .await;
    assert_eq!(
        json_out(&out),
        json!({"dryRun": true, "changes": [], "secrets": {}})
    );
    app.operator()
        .get(&format!("/apps/{}/export?format=yaml", source.app_id))
        .await
        .is(200, Value::String(yaml));
}

/// Rebuilds clients, settings, entity types and access schemas from the audit log alone.
fn replay(events: &[Value]) -> Value {
    let mut clients: BTreeMap<String, Value> = BTreeMap::new();
    let mut settings: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut types: BTreeMap<String, Value> = BTreeMap::new();
    let mut schemas: BTreeMap<String, Value> = BTreeMap::new();
    for e in events {
        let target = e["target_client_id"].as_str().unwrap_or("").to_owned();
        let ch = &e["changes"];
        match e["action"].as_str().unwrap() {
            "client.create" | "client.update" => {
                let c = clients.entry(target.clone()).or_insert(json!({}));
                for field in ["name", "ipWhitelist"] {
                    if let Some(to) = ch[field].get("to") {
                        c[field] = to.clone();
                    }
                }
                c["features"] = e["features_after"].clone();
            }
            "client.delete" => {
                clients.remove(&target);
                settings.remove(&target);
                schemas.retain(|k, _| !k.starts_with(&format!("{target}/")));
            }
            "settings.set" | "settings.replace" | "settings.delete" => {
                let scope = settings.entry(target).or_default();
                for (key, entry) in ch.as_object().unwrap() {
                    match entry.get("to") {
                        Some(to) => scope.insert(key.clone(), to.clone()),
                        None => scope.remove(key),
                    };
                }
            }
            a if a.starts_with("entity_type.") => {
                let name = ch["entityType"].as_str().unwrap().to_owned();
                match &ch["attr_defs"]["to"] {
                    Value::Null => types.remove(&name),
                    to => types.insert(name, to.clone()),
                };
            }
            a if a.starts_with("access_schema.") => {
                let key = format!(
                    "{target}/{}/{}",
                    ch["entityType"].as_str().unwrap(),
                    ch["accessType"].as_str().unwrap()
                );
                match &ch["attributes"]["to"] {
                    Value::Null => schemas.remove(&key),
                    to => schemas.insert(key, to.clone()),
                };
            }
            _ => {}
        }
    }
    settings.retain(|_, m| !m.is_empty());
    json!({"clients": clients, "settings": settings, "types": types, "schemas": schemas})
}

/// The same picture read from the tables.
pub(crate) async fn tables(app: &TestApp, app_id: &str) -> Value {
    let q = |sql: &'static str| {
        let pool = app.pool.clone();
        let app_id = app_id.to_owned();
        async move {
            sqlx::query_scalar::<_, Value>(sql)
                .bind(app_id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    json!({
        "clients": q("SELECT COALESCE(jsonb_object_agg(client_id, jsonb_build_object('name', name,
                        'ipWhitelist', to_jsonb(ip_whitelist::text[]), 'features', to_jsonb(features))), '{}')
                      FROM clients WHERE app_id = $1").await,
        "settings": q("SELECT COALESCE(jsonb_object_agg(s, v), '{}') FROM (
                         SELECT COALESCE(client_id, '') AS s, jsonb_object_agg(key, value) AS v FROM (
                           SELECT NULL AS client_id, key, value FROM app_settings WHERE app_id = $1
                           UNION ALL SELECT client_id, key, value FROM client_settings WHERE app_id = $1) x
                         GROUP BY client_id) y").await,
        "types": q("SELECT COALESCE(jsonb_object_agg(name, attr_defs), '{}') FROM entity_types WHERE app_id = $1").await,
        "schemas": q("SELECT COALESCE(jsonb_object_agg(client_id || '/' || type_name || '/' || access_type,
                        to_jsonb(attributes)), '{}') FROM access_schemas WHERE app_id = $1").await,
    })
}

#[tokio::test]
async fn restore_brings_back_exactly_the_saved_state_and_rotated_out_secrets() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let app_id = owner.app_id.clone();
    // Clients created in one transaction have one creation time and are listed by id: ci-owner
    // first.
    let mut ids = [token(32), token(32)];
    ids.sort();
    let [owner_id, mailer_id] = ids;
    let (owner_secret, mailer_secret) = (token(32), token(32));
    let doc = team_fixture(&owner_id, &owner_secret, &mailer_id, &mailer_secret);
    assert_eq!(apply(&app, &app_id, "", &doc).await.0, 200);
    let (status, saved) = app
        .operator()
        .call(Method::PUT, &format!("/apps/{app_id}/snapshots/baseline"))
        .await
        .pair();
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["name"], json!("baseline"));
    assert_eq!(saved["clients"], json!(3));
    let baseline = tables(&app, &app_id).await;

    // A test run changes things: the secret is rotated out at once, a client added, another
    // renamed, settings and schemas changed.
    let (status, rotated) = app
        .by_client(&owner_id, &owner_secret)
        .put(
            &format!("/config/{app_id}/clients/{mailer_id}/secret"),
            &json!({"hoursToLive": 0}),
        )
        .await
        .pair();
    assert_eq!(status, 200);
    let new_secret = rotated["_secret"].as_str().unwrap().to_owned();
    let ci_owner = Owner {
        app_id: app_id.clone(),
        client_id: owner_id.clone(),
        secret: owner_secret.clone(),
    };
    let (added, added_secret) = app.make_client(&ci_owner, "added", &[]).await.credentials();
    for (method, path, body) in [
        (
            Method::PUT,
            format!("/config/{app_id}/clients/{owner_id}"),
            json!({"name": "renamed", "features": ["owner"]}),
        ),
        (
            Method::PUT,
            format!("/config/{app_id}/settings"),
            json!({"login_attempts": 3, "new": true}),
        ),
        (
            Method::PUT,
            format!("/config/{app_id}/clients/{mailer_id}/accessSchemas/user/read"),
            json!({"attributes": ["nick"]}),
        ),
        (
            Method::DELETE,
            format!("/config/{app_id}/clients/{}", owner.client_id),
            json!(null),
        ),
    ] {
        let req = app.as_operator(method, &path);
        let req = if body.is_null() { req } else { req.json(&body) };
        let (status, body) = req.fetch().await.pair();
        assert!((200..300).contains(&status), "{path}: {status} {body}");
    }
    assert_eq!(
        get_client(&app, &app_id, &mailer_id, &mailer_secret, &mailer_id).await,
        401
    );
    assert_ne!(tables(&app, &app_id).await, baseline);

    let events_before = app.audit_rows(&app_id).await.len();
    let restore = format!("/apps/{app_id}/snapshots/baseline/restore");
    let report = app
        .operator()
        .call(Method::POST, &restore)
        .await
        .status_is(200);
    assert_eq!(report["snapshot"], json!("baseline"));
    assert_eq!(
        actions(&report),
        owned(&[
            ("app.restore", None),
            ("client.delete", Some(&added)),
            ("client.create", Some(&owner.client_id)),
            ("client.update", Some(&owner_id)),
            ("client.secret_restore", Some(&mailer_id)),
            ("settings.replace", None),
            ("access_schema.set", Some(&mailer_id)),
        ])
    );
    assert_eq!(
        report["changes"][0]["changes"],
        json!({"snapshot": "baseline", "changes": 6})
    );
    let rows = app.audit_rows(&app_id).await;
    assert_eq!(rows.len(), events_before + 7);

    // Exactly the saved state, and exactly the credentials that worked then.
    assert_eq!(tables(&app, &app_id).await, baseline);
    assert_eq!(
        get_client(&app, &app_id, &mailer_id, &mailer_secret, &mailer_id).await,
        403,
        "old secret works again (403: mailer is no owner)"
    );
    assert_eq!(
        get_client(&app, &app_id, &mailer_id, &new_secret, &mailer_id).await,
        401
    );
    assert_eq!(
        get_client(&app, &app_id, &owner.client_id, &owner.secret, &mailer_id).await,
        200
    );
    assert_eq!(
        get_client(&app, &app_id, &added, &added_secret, &added).await,
        401
    );
    assert_eq!(
        get_client(&app, &app_id, &owner_id, &owner_secret, &mailer_id).await,
        200
    );

    // The log still rebuilds the tables, and its chain is intact.
    assert_eq!(replay(&rows), tables(&app, &app_id).await);
    let (status, verdict) = app
        .operator()
        .get(&format!("/config/{app_id}/audit/verify"))
        .await
        .pair();
    assert_eq!(status, 200);
    assert_eq!(verdict["status"], json!("intact"), "{verdict}");
    let out = app
        .cli(&["audit", "verify", "--app", &app_id])
        .sealed()
        .run()
        .await;
    assert_eq!(json_out(&out)["status"], json!("intact"));

    // Restoring again changes nothing but says so.
    let (_, report) = app.operator().call(Method::POST, &restore).await.pair();
    assert_eq!(actions(&report), owned(&[("app.restore", None)]));
}

/// A setting whose value is JSON `null` survives a snapshot and its restore (it used to come
/// back as SQL NULL and the restore failed with a 500; found by schemathesis' stateful phase).
#[tokio::test]
async fn settings_set_to_null_are_restored_as_null() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let app_id = owner.app_id.clone();
    for path in [
        format!("/config/{app_id}/settings"),
        format!("/config/{app_id}/clients/{}/settings", owner.client_id),
    ] {
        let (status, body) = app
            .operator()
            .put(&path, &json!({"nothing": null, "one": 1}))
            .await
            .pair();
        assert_eq!(status, 200, "{path}: {body}");
    }
    let saved = tables(&app, &app_id).await;
    let (status, body) = app
        .operator()
        .call(Method::PUT, &format!("/apps/{app_id}/snapshots/n"))
        .await
        .pair();
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .operator()
        .call(Method::POST, &format!("/apps/{app_id}/snapshots/n/restore"))
        .await
        .pair();
    assert_eq!(status, 200, "{body}");
    assert_eq!(tables(&app, &app_id).await, saved);
}

#[tokio::test]
async fn snapshots_are_listed_deleted_and_checked() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let app_id = owner.app_id.clone();
    let out = json_out(
        &app.cli(&["snapshot", "save", "--app", &app_id, "--name", "one"])
            .sealed()
            .run()
            .await,
    );
    assert_eq!(out["name"], json!("one"));
    assert_eq!(out["clients"], json!(1));
    let (status, list) = app
        .operator()
        .get(&format!("/apps/{app_id}/snapshots"))
        .await
        .pair();
    assert_eq!(status, 200);
    assert_eq!(list, json!([out]));
    let listed = json_out(
        &app.cli(&["snapshot", "list", "--app", &app_id])
            .sealed()
            .run()
            .await,
    );
    assert_eq!(listed, list);
    assert_eq!(app.audit_count(&app_id, "snapshot.save").await, 1);

    // The owner of the application is not the operator.
    let status = app
        .by(&owner)
        .get(&format!("/apps/{app_id}/snapshots"))
        .await
        .status;
    assert_eq!(status, 401);
    app.operator()
        .call(
            Method::POST,
            &format!("/apps/{app_id}/snapshots/nothing/restore"),
        )
        .await
        .is(404, errors("Snapshot not found."));
    app.operator()
        .call(Method::PUT, &format!("/apps/{app_id}/snapshots/a%20b"))
        .await
        .error_is(
            400,
            "Not a valid snapshot name (1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-').",
        );
    let (status, body) = app
        .operator()
        .get(&format!("/apps/{}/snapshots", token(26)))
        .await
        .pair();
    assert_eq!((status, body), (404, errors("Application not found.")));

    let res = app
        .operator()
        .delete(&format!("/apps/{app_id}/snapshots/one"))
        .await;
    assert_eq!(res.status, 204);
    assert_eq!(app.audit_count(&app_id, "snapshot.delete").await, 1);
    let out = app
        .cli(&["snapshot", "delete", "--app", &app_id, "--name", "one"])
        .sealed()
        .run()
        .await;
    exited(&out, 1, "latchkey: Snapshot not found.");
    let out = json_out(
        &app.cli(&["snapshot", "list", "--app", &app_id])
            .sealed()
            .run()
            .await,
    );
    assert_eq!(out, json!([]));
}

/// The vendor's Configuration API for one application, as its documentation shows it (seed
/// 004, vendor-notes §1a): Basic auth, a JSON array of client objects carrying `_secret`, and
/// settings objects with a `_self` link. No entity types.
async fn vendor_stand_in(
    app_id: &str,
    owner_id: &str,
    owner_secret: &str,
    clients: Value,
) -> String {
    vendor_stand_in_with(StandIn::new(app_id, owner_id, owner_secret, clients))
        .await
        .0
}

/// What the stand-in vendor holds and how it misbehaves.
#[derive(Clone)]
pub(crate) struct StandIn {
    pub app_id: String,
    pub owner_id: String,
    pub owner_secret: String,
    /// The Config API's client list (objects as the vendor shows them).
    pub clients: Value,
    /// Entity type name → its `attr_defs` (reserved ones are added to answers).
    pub types: Value,
    /// `"{client}/{type}/{access}"` → the `attr_defs` that client sees (default: the whole type).
    pub views: Value,
    /// A path answered with text that is not JSON.
    pub malformed: Option<&'static str>,
}

impl StandIn {
    pub fn new(app_id: &str, owner_id: &str, owner_secret: &str, clients: Value) -> Self {
        Self {
            app_id: app_id.into(),
            owner_id: owner_id.into(),
            owner_secret: owner_secret.into(),
            clients,
            types: json!({}),
            views: json!({}),
            malformed: None,
        }
    }
}

/// The state a running stand-in answers from, and what it saw.
pub(crate) struct StandInState {
    pub data: std::sync::Mutex<StandIn>,
    /// The scheme of each Registration API call's `Authorization` (`Signature` or `Basic`).
    pub schemes: std::sync::Mutex<Vec<String>>,
    /// While set, every call gets 503.
    pub down: std::sync::atomic::AtomicBool,
}

fn reg_ok(mut fields: Value) -> Value {
    fields["stat"] = json!("ok");
    fields
}

fn reg_refused(code: u16, error: &str, description: &str) -> Value {
    json!({"stat": "error", "code": code, "error": error, "error_description": description})
}

/// One Registration API call of the stand-in: the owner's credentials, signed (checked as the
/// vendor documents the scheme) or Basic.
fn registration_answer(
    data: &StandIn,
    path: &str,
    authorization: &str,
    date: &str,
    params: &[(String, String)],
) -> Value {
    let pairs = params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let signed = latchkey::auth::signature::authorization(
        &data.owner_id,
        &data.owner_secret,
        &latchkey::auth::signature::string_to_sign(path, date, pairs),
    )
    .unwrap();
    if authorization != signed && authorization != basic(&data.owner_id, &data.owner_secret) {
        return reg_refused(
            402,
            "invalid_client_credentials",
            "client_id and client_secret are missing or not valid",
        );
    }
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let reserved =
        serde_json::to_value(latchkey::domain::entity_type::reserved_attr_defs()).unwrap();
    let whole = |name: &str| -> Option<Value> {
        let mut defs = reserved.as_array().unwrap().clone();
        defs.extend(data.types.get(name)?.as_array()?.iter().cloned());
        Some(Value::Array(defs))
    };
    match path {
        "/entityType.list" => {
            reg_ok(json!({"results": data.types.as_object().unwrap().keys().collect::<Vec<_>>()}))
        }
        "/entityType" => match whole(&param("type_name")) {
            Some(defs) => {
                reg_ok(json!({"schema": {"attr_defs": defs, "name": param("type_name")}}))
            }
            None => reg_refused(222, "unknown_entity_type", "no such type"),
        },
        "/entityType.getAccessSchema" => {
            let (client, name) = (param("for_client_id"), param("type_name"));
            let key = format!("{client}/{name}/{}", param("access_type"));
            match data.views.get(&key).cloned().or_else(|| whole(&name)) {
                Some(defs) => reg_ok(json!({"schema": {"attr_defs": defs, "name": name}})),
                None => reg_refused(222, "unknown_entity_type", "no such type"),
            }
        }
        _ => reg_refused(404, "not_found", "not a call of this stand-in"),
    }
}

/// The vendor's two APIs for one application: its Configuration API under `/config/{appId}`
/// (Basic) and its Registration API at the root (`entityType.list`, `entityType`,
/// `entityType.getAccessSchema`; signed or Basic), answering like the vendor's documentation.
/// Returns the Config API base and the state (to change the vendor while a test runs).
pub(crate) async fn vendor_stand_in_with(
    data: StandIn,
) -> (String, actix_web::web::Data<StandInState>) {
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    let app_id = data.app_id.clone();
    let state = web::Data::new(StandInState {
        data: std::sync::Mutex::new(data),
        schemes: std::sync::Mutex::new(Vec::new()),
        down: std::sync::atomic::AtomicBool::new(false),
    });
    let shared = state.clone();
    let server = HttpServer::new(move || {
        App::new().app_data(shared.clone()).default_service(web::to(
            move |req: HttpRequest, body: web::Bytes, state: web::Data<StandInState>| async move {
                if state.down.load(std::sync::atomic::Ordering::SeqCst) {
                    return HttpResponse::ServiceUnavailable().body("down for maintenance");
                }
                let data = state.data.lock().unwrap().clone();
                let base = format!("/config/{}", data.app_id);
                let path = req.path().to_owned();
                if data.malformed == Some(path.as_str()) {
                    return HttpResponse::Ok().body("<html>maintenance</html>");
                }
                let header = |name: &str| {
                    req.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
                let auth = header("Authorization");
                if !path.starts_with(&base) {
                    let mut params: Vec<(String, String)> =
                        serde_urlencoded::from_str(req.query_string()).unwrap();
                    params.extend(
                        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body).unwrap(),
                    );
                    state
                        .schemes
                        .lock()
                        .unwrap()
                        .push(auth.split(' ').next().unwrap_or("").to_owned());
                    let answer = registration_answer(&data, &path, &auth, &header("Date"), &params);
                    return HttpResponse::Ok().json(answer);
                }
                if auth != basic(&data.owner_id, &data.owner_secret) {
                    return HttpResponse::Unauthorized()
                        .json(json!({"errors": "Authentication required."}));
                }
                let rest = path.strip_prefix(&base).unwrap_or("");
                match rest.split('/').collect::<Vec<_>>()[..] {
                    ["", "clients"] => HttpResponse::Ok().json(&data.clients),
                    ["", "clients", id, "settings"] => HttpResponse::Ok().json(json!({
                        "_self": format!("{base}/clients/{id}/settings"),
                        "default_flow_name": format!("flow of {id}"),
                    })),
                    ["", "settings"] => HttpResponse::Ok().json(json!({
                    "_self": format!("{base}/settings"), "email_method": "ses_sync"})),
                    _ => HttpResponse::NotFound().json(json!({"errors": "Not found."})),
                }
            },
        ))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    (format!("http://127.0.0.1:{port}/config/{app_id}"), state)
}

/// `latchkey import` of the application at `from` with these vendor credentials.
async fn import(app: &TestApp, app_id: &str, from: &str, id: &str, secret: &str) -> Output {
    let args = [
        "import",
        "--app",
        app_id,
        "--from",
        from,
        "--client-id",
        id,
        "--client-secret",
        secret,
    ];
    app.cli(&args).sealed().run().await
}

#[tokio::test]
async fn import_reads_the_vendors_clients_keeping_ids_and_secrets() {
    let (app, owner) = spawn_app_with_owner("replica").await;
    let vendor_app = token(26);
    let (vendor_owner, vendor_owner_secret, login, login_secret) =
        (token(32), token(32), token(32), token(32));
    let link = |id: &str| format!("/config/{vendor_app}/clients/{id}");
    let from = vendor_stand_in(
        &vendor_app,
        &vendor_owner,
        &vendor_owner_secret,
        json!([
            {"_id": vendor_owner, "_secret": vendor_owner_secret, "_self": link(&vendor_owner),
             "_settings": format!("{}/settings", link(&vendor_owner)),
             "name": "this is a test client", "features": ["owner"], "ipWhitelist": ["0.0.0.0/0"]},
            {"_id": login, "_secret": login_secret, "_self": link(&login),
             "_settings": format!("{}/settings", link(&login)),
             "name": "Documentation Login Client", "features": ["login_client"], "ipWhitelist": ["0.0.0.0/0"]}
        ]),
    )
    .await;
    // Wrong vendor credentials: a clear error, nothing imported.
    let out = import(&app, &owner.app_id, &from, &vendor_owner, &token(32)).await;
    exited_saying(&out, 1, "the vendor answered 401 Unauthorized");

    let out = import(
        &app,
        &owner.app_id,
        &from,
        &vendor_owner,
        &vendor_owner_secret,
    )
    .await;
    let report = json_out(&out);
    assert_eq!(
        actions(&report),
        owned(&[
            ("app.import", None),
            ("client.create", Some(&vendor_owner)),
            ("client.create", Some(&login)),
            ("settings.replace", None),
            ("settings.replace", Some(&vendor_owner)),
            ("settings.replace", Some(&login)),
        ])
    );
    // The vendor's credentials work against the replica.
    let body = app
        .by_client(&vendor_owner, &vendor_owner_secret)
        .get(&format!("/config/{}/clients/{login}", owner.app_id))
        .await
        .status_is(200);
    assert_eq!(body["name"], json!("Documentation Login Client"));
    assert_eq!(body["features"], json!(["login_client"]));
    app.by_client(&login, &login_secret)
        .get(&format!(
            "/config/{}/clients/{login}/settings",
            owner.app_id
        ))
        .await
        .is(
            200,
            json!({"default_flow_name": format!("flow of {login}")}),
        );
    let (_, defaults) = app
        .operator()
        .get(&format!("/config/{}/settings", owner.app_id))
        .await
        .pair();
    assert_eq!(defaults, json!({"email_method": "ses_sync"}));
    // Importing again changes nothing.
    let out = import(
        &app,
        &owner.app_id,
        &from,
        &vendor_owner,
        &vendor_owner_secret,
    )
    .await;
    assert_eq!(actions(&json_out(&out)), owned(&[("app.import", None)]));
}

/// Pinned secrets of a signed-requests application are sealed like any other, and a snapshot
/// carries the sealed copies (a column another migration added) back with the hashes.
#[tokio::test]
async fn pinned_secrets_are_sealed_and_snapshots_carry_the_sealed_copies() {
    let app = spawn_app().await;
    let (status, body) = app
        .operator()
        .post("/apps", &json!({"name": "signed", "signed_requests": true}))
        .await
        .pair();
    assert_eq!(status, 201, "{body}");
    let app_id = body["app_id"].as_str().unwrap().to_owned();
    let (id, secret) = (token(32), token(32));
    let doc =
        json!({"clients": [{"_id": id, "_secret": secret, "name": "ci", "features": ["owner"]}]});
    assert_eq!(apply(&app, &app_id, "", &doc).await.0, 200);
    let sealed = |pool: sqlx::PgPool, app_id: String, id: String| async move {
        sqlx::query_scalar::<_, Option<Vec<u8>>>(
            "SELECT sealed FROM client_secrets WHERE app_id = $1 AND client_id = $2",
        )
        .bind(app_id)
        .bind(id)
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let before = sealed(app.pool.clone(), app_id.clone(), id.clone()).await;
    assert_eq!(before.len(), 1);
    assert!(before[0].is_some(), "the pinned secret is sealed");
    let res = app
        .operator()
        .call(Method::PUT, &format!("/apps/{app_id}/snapshots/s"))
        .await;
    assert_eq!(res.status, 200);
    let res = app
        .by_client(&id, &secret)
        .put(
            &format!("/config/{app_id}/clients/{id}/secret"),
            &json!({"hoursToLive": 0}),
        )
        .await;
    assert_eq!(res.status, 200);
    assert_ne!(
        sealed(app.pool.clone(), app_id.clone(), id.clone()).await,
        before
    );
    let res = app
        .operator()
        .call(Method::POST, &format!("/apps/{app_id}/snapshots/s/restore"))
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        sealed(app.pool.clone(), app_id.clone(), id.clone()).await,
        before
    );
    assert_eq!(get_client(&app, &app_id, &id, &secret, &id).await, 200);
}

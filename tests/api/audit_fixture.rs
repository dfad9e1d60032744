//! Chains written before a change of the audit code still verify: `tests/fixtures/
//! audit_chain_v1.ndjson` is an export (`latchkey audit export`) of two applications' chains
//! written by the code as it was before audit actions were typed (#17). It holds every action
//! the service wrote then, changes with numbers, Unicode and nested values, and a pruned chain
//! that starts at a checkpoint. The test loads the rows as they were stored and asks the server
//! (API and CLI) to verify them and to export them again, byte for byte.
//!
//! The fixture was made once with `cargo test --test api audit_fixture::generate -- --ignored`
//! (which rewrites it); never regenerate it to make the test pass.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/audit_chain_v1.ndjson"
);

async fn send(req: reqwest::RequestBuilder, want: u16) -> Value {
    let body = req.fetch().await.status_is(want);
    body
}

#[tokio::test]
#[ignore = "writes the fixture; run by hand only (see the module documentation)"]
async fn generate() {
    let app = spawn_app().await;
    let op = |m, p: &str| app.as_operator(m, p);
    // app.create with options, client.create, client.update, client.secret_rotate,
    // client.secret_read (a show_secrets application), client.delete.
    let created = send(
        op(Method::POST, "/apps").json(&json!({"name": "Fixture shop ✓", "region": "eu",
            "show_secrets": true})),
        201,
    )
    .await;
    let owner = Owner {
        app_id: created["app_id"].as_str().unwrap().to_owned(),
        client_id: created["owner"]["_id"].as_str().unwrap().to_owned(),
        secret: created["owner"]["_secret"].as_str().unwrap().to_owned(),
    };
    let a = owner.app_id.clone();
    let reader = app
        .fenced_client(
            &owner,
            "reader «ü»",
            &["direct_read_access"],
            &["10.0.0.0/8", "2001:db8::/32"],
        )
        .await
        .id;
    let gone = app.add_client(&owner, "temporary", &[]).await;
    send(
        app.as_owner(
            &owner,
            Method::PUT,
            &format!("/config/{a}/clients/{reader}"),
        )
        .json(&json!({"name": "reader", "features": ["direct_access"]})),
        200,
    )
    .await;
    send(
        app.as_owner(
            &owner,
            Method::PUT,
            &format!("/config/{a}/clients/{reader}/secret"),
        )
        .json(&json!({"hoursToLive": 12})),
        200,
    )
    .await;
    send(
        app.as_owner(
            &owner,
            Method::GET,
            &format!("/config/{a}/clients/{reader}"),
        ),
        200,
    )
    .await;
    send(
        app.as_owner(
            &owner,
            Method::DELETE,
            &format!("/config/{a}/clients/{gone}"),
        ),
        204,
    )
    .await;
    // settings.set, settings.delete (Registration API), settings.replace (Config API).
    app.rpc_ok(
        &owner,
        "/settings/set_default",
        &[
            ("key", "ttl"),
            ("value", "[1.5, 1e21, -0.0, 12345678901234567890]"),
        ],
    )
    .await;
    app.rpc_ok(
        &owner,
        "/settings/set",
        &[
            ("for_client_id", &reader),
            ("key", "lang"),
            ("value", "fr-CA"),
        ],
    )
    .await;
    app.rpc_ok(
        &owner,
        "/settings/delete",
        &[("for_client_id", &reader), ("key", "lang")],
    )
    .await;
    send(
        app.as_owner(&owner, Method::PUT, &format!("/config/{a}/settings"))
            .json(&json!({"greeting": "ﬁ \u{1f600} \"quoted\" \\ \u{1}", "nested": {"b": [true, null], "a": 0.1}})),
        200,
    )
    .await;
    // entity_type.create, .update, .attribute_add, .attribute_remove, .delete.
    send(
        app.as_owner(&owner, Method::POST, &format!("/config/{a}/entityTypes"))
            .json(&json!({"name": "user", "attr_defs": [{"name": "email", "type": "string"},
                {"name": "address", "type": "object", "attr_defs": [{"name": "city", "type": "string"}]}]})),
        201,
    )
    .await;
    send(
        app.as_owner(&owner, Method::PUT, &format!("/config/{a}/entityTypes/user"))
            .json(&json!({"attr_defs": [{"name": "email", "type": "string"}, {"name": "birthday", "type": "date"},
                {"name": "address", "type": "object", "attr_defs": [{"name": "city", "type": "string"}]}]})),
        200,
    )
    .await;
    app.rpc_ok(
        &owner,
        "/entityType.addAttribute",
        &[
            ("type_name", "user"),
            ("attr_def", r#"{"name":"score","type":"decimal"}"#),
        ],
    )
    .await;
    app.rpc_ok(
        &owner,
        "/entityType.removeAttribute",
        &[("type_name", "user"), ("attribute_name", "score")],
    )
    .await;
    send(
        app.as_owner(&owner, Method::POST, &format!("/config/{a}/entityTypes"))
            .json(&json!({"name": "device", "attr_defs": [{"name": "serial", "type": "string"}]})),
        201,
    )
    .await;
    send(
        app.as_owner(
            &owner,
            Method::DELETE,
            &format!("/config/{a}/entityTypes/device"),
        ),
        204,
    )
    .await;
    // access_schema.set, access_schema.delete.
    let schema = format!("/config/{a}/clients/{reader}/accessSchemas/user");
    send(
        app.as_owner(&owner, Method::PUT, &format!("{schema}/read"))
            .json(&json!({"attributes": ["email", "address.city"]})),
        200,
    )
    .await;
    send(
        app.as_owner(&owner, Method::PUT, &format!("{schema}/write"))
            .json(&json!({"attributes": ["email"]})),
        200,
    )
    .await;
    send(
        app.as_owner(&owner, Method::DELETE, &format!("{schema}/write")),
        204,
    )
    .await;
    // app.update; snapshot.save, app.restore with client.update and client.secret_restore,
    // snapshot.delete; the fixture apply (client.create, settings.replace, ...).
    send(
        op(Method::PATCH, &format!("/apps/{a}")).json(&json!({"signed_requests": true})),
        200,
    )
    .await;
    send(op(Method::PUT, &format!("/apps/{a}/snapshots/before")), 200).await;
    send(
        app.as_owner(
            &owner,
            Method::PUT,
            &format!("/config/{a}/clients/{reader}/secret"),
        )
        .json(&json!({"hoursToLive": 0})),
        200,
    )
    .await;
    send(
        app.as_owner(
            &owner,
            Method::PUT,
            &format!("/config/{a}/clients/{reader}"),
        )
        .json(&json!({"name": "renamed"})),
        200,
    )
    .await;
    send(
        op(Method::POST, &format!("/apps/{a}/snapshots/before/restore")),
        200,
    )
    .await;
    send(
        op(Method::DELETE, &format!("/apps/{a}/snapshots/before")),
        204,
    )
    .await;
    send(
        op(Method::POST, &format!("/apps/{a}/apply")).json(&json!({
            "clients": [{"name": "from fixture", "features": ["login_client"]}],
            "settings": {"defaults": {"ttl": 30}},
        })),
        200,
    )
    .await;
    // audit.retention_set here; audit.prune on a second application (its chain then starts at
    // the checkpoint).
    let out = app
        .cli(&["audit", "retention", "--app", &a, "--keep-days", "3650"])
        .run()
        .await;
    succeeded(&out);
    let pruned = app.create_app("pruned").await;
    app.make_client(&pruned, "old", &[]).await;
    let p = pruned.app_id.clone();
    let out = app
        .cli(&["audit", "retention", "--app", &p, "--keep-days", "1"])
        .run()
        .await;
    succeeded(&out);
    // Two days later (the service called with a later "now", as the prune tests do).
    let service = latchkey::startup::service(&test_settings(), app.pool.clone()).unwrap();
    let _pruned = service
        .audit()
        .prune(
            &latchkey::service::RequestContext::command_line(),
            &latchkey::domain::ids::Named::parse(&p),
            chrono::Utc::now() + chrono::Duration::days(2),
            false,
        )
        .await
        .unwrap();
    let mut text = String::new();
    for app_id in [&a, &pruned.app_id] {
        let out = app.cli(&["audit", "export", "--app", app_id]).run().await;
        succeeded(&out);
        text.push_str(&stdout(&out));
    }
    std::fs::write(FIXTURE, text).unwrap();
}

/// Stores the fixture's events as they were written (an application row and its chain head
/// for each), with the append-only trigger in place: plain INSERTs.
async fn load_fixture(app: &TestApp) -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(FIXTURE).unwrap();
    let mut chains: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        let app_id = e["app_id"].as_str().unwrap().to_owned();
        match chains.last_mut() {
            Some((a, lines)) if *a == app_id => lines.push(line.to_owned()),
            _ => chains.push((app_id, vec![line.to_owned()])),
        }
    }
    for (i, (app_id, lines)) in chains.iter().enumerate() {
        sqlx::query("INSERT INTO apps (app_id, name, region) VALUES ($1, $2, 'us')")
            .bind(app_id)
            .bind(format!("fixture {i}"))
            .execute(&app.pool)
            .await
            .unwrap();
        let rows: Vec<Value> = lines
            .iter()
            .map(|l| {
                let mut e: Value = serde_json::from_str(l).unwrap();
                for h in ["prev_hash", "hash"] {
                    e[h] = format!("\\x{}", e[h].as_str().unwrap()).into();
                }
                e
            })
            .collect();
        sqlx::query(
            "INSERT INTO audit_events SELECT * FROM jsonb_populate_recordset(NULL::audit_events, $1)",
        )
        .bind(Value::Array(rows.clone()))
        .execute(&app.pool)
        .await
        .unwrap();
        let last = rows.last().unwrap();
        sqlx::query(
            "INSERT INTO audit_heads (app_id, seq, hash, occurred_at)
             VALUES ($1, $2, decode($3, 'hex'), $4::timestamptz)",
        )
        .bind(app_id)
        .bind(last["seq"].as_i64().unwrap())
        .bind(&last["hash"].as_str().unwrap()[2..])
        .bind(last["occurred_at"].as_str().unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    }
    chains
}

#[tokio::test]
async fn a_chain_written_before_typed_actions_still_verifies_and_exports_the_same() {
    let app = spawn_app().await;
    let chains = load_fixture(&app).await;
    assert_eq!(chains.len(), 2);
    for (app_id, lines) in &chains {
        let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
        let (status, body) = app
            .operator()
            .get(&format!("/config/{app_id}/audit/verify"))
            .await
            .pair();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "intact", "{app_id}: {body}");
        assert_eq!(body["head_seq"], last["seq"], "{body}");
        assert_eq!(body["head_hash"], last["hash"], "{body}");
        let out = app.cli(&["audit", "verify", "--app", app_id]).run().await;
        succeeded(&out);
        // Read back and written out again: the very records (canonical form and hashes).
        let out = app.cli(&["audit", "export", "--app", app_id]).run().await;
        succeeded(&out);
        assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), *lines);
    }
    // Every action of the first chain, as the query API filters them.
    let (app_id, lines) = &chains[0];
    let actions: std::collections::BTreeSet<String> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(actions.len(), 22, "{actions:?}");
    for action in &actions {
        let page = app
            .operator()
            .get(&format!("/config/{app_id}/audit?action={action}"))
            .await
            .status_is(200);
        assert!(!page["events"].as_array().unwrap().is_empty(), "{action}");
    }
}

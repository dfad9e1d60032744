//! Snapshots saved by earlier releases still restore after later migrations (#17). Each
//! `tests/fixtures/app_snapshot_*.json` is a saved snapshot (`app_snapshots.state`) as a
//! release stored it, made once with `tests/fixtures/app_snapshot.sh` and that release's binary:
//!
//! * `app_snapshot_unversioned.json`: before snapshots had a format number (`to_jsonb` of
//!   whole rows, `app_id` in every row);
//! * `app_snapshot_v1.json`: format 1 (`store::app_snapshots::FORMAT`).
//!
//! Never regenerate a fixture to make a test pass: they stand for snapshots users hold. A new
//! format gets a new fixture beside these.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;
use latchkey::store::app_snapshots::{decode, FORMAT, TABLES};

const APP: &str = "snapfixture00000000000000a";
const OWNER: (&str, &str) = (
    "snapowner0000000000000000000000a",
    "ownersecret00000000000000000000a",
);
const LOGIN: (&str, &str) = (
    "snaplogin0000000000000000000000b",
    "loginsecret000000000000000000new",
);

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

async fn send(req: reqwest::RequestBuilder, want: u16) -> Value {
    req.fetch().await.status_is(want)
}

/// What a later migration may do to the snapshot tables: add columns with defaults, NOT NULL
/// ones included (before #17 such a column made older snapshots fail to restore).
async fn a_later_migration(app: &TestApp) {
    for sql in [
        "ALTER TABLE clients ADD COLUMN later_note text NOT NULL DEFAULT 'from the default'",
        "ALTER TABLE client_secrets ADD COLUMN later_flag boolean NOT NULL DEFAULT true",
        "ALTER TABLE app_settings ADD COLUMN later_count integer NOT NULL DEFAULT 7",
    ] {
        sqlx::query(sql).execute(&app.pool).await.unwrap();
    }
}

/// Puts the fixture into a fresh application with the fixture's id (the application row is
/// not part of a snapshot), restores it, and checks what came back.
async fn restore_fixture(name: &str) {
    let app = spawn_app().await;
    a_later_migration(&app).await;
    send(
        app.as_operator(Method::POST, "/apps").json(
            &json!({"name": "restored", "region": "us", "app_id": APP, "signed_requests": true}),
        ),
        201,
    )
    .await;
    let state = fixture(name);
    sqlx::query("INSERT INTO app_snapshots (app_id, name, state) VALUES ($1, 'fixture', $2)")
        .bind(APP)
        .bind(&state)
        .execute(&app.pool)
        .await
        .unwrap();
    let listed = send(
        app.as_operator(Method::GET, &format!("/apps/{APP}/snapshots")),
        200,
    )
    .await;
    assert_eq!(listed[0]["clients"], 3, "{listed}");
    let report = send(
        app.as_operator(
            Method::POST,
            &format!("/apps/{APP}/snapshots/fixture/restore"),
        ),
        200,
    )
    .await;
    let actions: Vec<&str> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "app.restore",
            // The owner POST /apps made is not in the snapshot.
            "client.delete",
            "entity_type.create",
            "client.create",
            "client.create",
            "client.create",
            "settings.replace",
            "settings.replace",
            "access_schema.set",
            "access_schema.set",
        ],
        "{report}"
    );

    // The rows are the saved ones, exactly (hashes, sealed copies, times, versions).
    let saved = decode(state).unwrap();
    let now = latchkey::store::app_snapshots::capture(&app.pool, APP)
        .await
        .unwrap();
    assert_eq!(now, saved);
    // The columns the later migration added took their defaults.
    let defaults: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM clients WHERE app_id = $1 AND later_note = 'from the default'),
                (SELECT count(*) FROM client_secrets WHERE app_id = $1 AND later_flag),
                (SELECT count(*) FROM app_settings WHERE app_id = $1 AND later_count = 7)",
    )
    .bind(APP)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(defaults, (3, 3, 3));

    // The saved credentials work again; the replaced secret does not.
    let owner = Owner {
        app_id: APP.into(),
        client_id: OWNER.0.into(),
        secret: OWNER.1.into(),
    };
    let login = send(
        app.as_owner(
            &owner,
            Method::GET,
            &format!("/config/{APP}/clients/{}", LOGIN.0),
        ),
        200,
    )
    .await;
    assert_eq!(
        (&login["name"], &login["features"], &login["ipWhitelist"]),
        (
            &json!("fixture login"),
            &json!(["login_client"]),
            &json!(["10.0.0.0/8", "2001:db8::/32", "127.0.0.1/32"])
        ),
        "{login}"
    );
    // The login client's own settings (Registration API, the restored hash checked).
    let items = |secret: &str| app.as_client(LOGIN.0, secret, Method::POST, "/settings/items");
    let settings = send(items(LOGIN.1), 200).await;
    assert_eq!(
        settings,
        json!({"stat": "ok", "result": {"cleared": null, "flow": "standard", "greeting": "hi ✓",
               "nested": {"a": [1.5, true]}, "nothing": null}})
    );
    let mut refused = send(items("loginsecret000000000000000000old"), 200).await;
    refused.as_object_mut().unwrap().remove("request_id");
    assert_eq!(
        refused,
        json!({"stat": "error", "code": 402, "error": "invalid_client_credentials",
               "error_description": "client_id and client_secret are missing or not valid"})
    );
    let verify = send(
        app.as_operator(Method::GET, &format!("/config/{APP}/audit/verify")),
        200,
    )
    .await;
    assert_eq!(verify["status"], "intact", "{verify}");
}

#[tokio::test]
async fn a_snapshot_saved_before_format_numbers_restores_after_a_later_migration() {
    restore_fixture("app_snapshot_unversioned.json").await;
}

#[tokio::test]
async fn a_format_1_snapshot_restores_after_a_later_migration() {
    assert_eq!(fixture("app_snapshot_v1.json")["format"], 1);
    restore_fixture("app_snapshot_v1.json").await;
}

/// The current format is the last fixture's: a change of format comes with its fixture.
#[test]
fn the_current_format_has_a_fixture() {
    assert_eq!(
        FORMAT, 1,
        "add tests/fixtures/app_snapshot_v{FORMAT}.json and its test"
    );
}

/// `TABLES` names every column of its tables: a migration that adds a column to one of them
/// fails here until the row struct (and its SELECT and INSERT) carry it.
#[tokio::test]
async fn the_snapshot_tables_match_the_schema() {
    let app = spawn_app().await;
    for (table, columns) in TABLES {
        let in_schema: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name = $1 AND column_name <> 'app_id'
             ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&app.pool)
        .await
        .unwrap();
        assert_eq!(in_schema, columns, "{table}");
    }
}

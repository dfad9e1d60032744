//! `latchkey audit export` (csv, ndjson, json; filters; constant memory by construction) and
//! `latchkey audit report`, and the offline verifier `docs/audit_verify.py` on an export.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::Method;
use serde_json::{json, Value};

use crate::audit_util::*;
use crate::helpers::*;

async fn http_stream(app: &TestApp, owner: &Owner, query: &str) -> String {
    let res = app.config(owner).get(&format!("/audit?{query}")).await;
    assert_eq!(res.status, 200);
    res.text
}

async fn some_history(app: &TestApp) -> (Owner, String) {
    let owner = app.create_app("shop").await;
    let a = app
        .make_client(&owner, "a, \"quoted\"\nname", &["direct_access"])
        .await
        .id;
    set_features(app, &owner, &a, "a", &["direct_access", "access_issuer"]).await;
    app.make_client(&owner, "b", &["login_client"]).await;
    (owner, a)
}

#[tokio::test]
async fn export_writes_what_the_api_streams() {
    let app = spawn_app().await;
    let (owner, a) = some_history(&app).await;
    let out = app
        .cli(&["audit", "export", "--app", &owner.app_id])
        .run()
        .await;
    succeeded(&out);
    let ndjson = stdout(&out);
    assert_eq!(ndjson.lines().count(), 5);
    assert_eq!(
        ndjson,
        http_stream(&app, &owner, "format=ndjson").await,
        "byte for byte"
    );

    let out = app
        .cli(&["audit", "export", "--app", &owner.app_id, "--format", "csv"])
        .run()
        .await;
    assert_eq!(stdout(&out), http_stream(&app, &owner, "format=csv").await);
    assert_eq!(parse_csv(&stdout(&out)).len(), 6);

    let out = app
        .cli(&[
            "audit",
            "export",
            "--app",
            &owner.app_id,
            "--format",
            "json",
            "--order",
            "newest",
        ])
        .run()
        .await;
    let array: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let (_, page) = audit_get(&app, &owner, "").await;
    assert_eq!(array, page["events"]);

    // Filters, as the API's.
    let out = app
        .cli(&[
            "audit",
            "export",
            "--app",
            &owner.app_id,
            "--client",
            &a,
            "--feature",
            "access_issuer",
        ])
        .run()
        .await;
    let lines = parse_ndjson(&stdout(&out));
    assert_eq!(event_seqs(&lines), [4]);
    let rows = app.audit_rows(&owner.app_id).await;
    let t4 = rows[3]["occurred_at"].as_str().unwrap();
    let out = app
        .cli(&[
            "audit",
            "export",
            "--app",
            &owner.app_id,
            "--since",
            t4,
            "--actor",
            &owner.client_id,
            "--action",
            "client.create",
        ])
        .run()
        .await;
    let lines = parse_ndjson(&stdout(&out));
    assert_eq!(event_seqs(&lines), [5]);
    // Nothing matches: valid, empty output.
    let out = app
        .cli(&[
            "audit",
            "export",
            "--app",
            &owner.app_id,
            "--format",
            "json",
            "--action",
            "none",
        ])
        .run()
        .await;
    assert_eq!(stdout(&out), "[]\n");
}

#[tokio::test]
async fn export_refuses_bad_input_clearly() {
    let app = spawn_app().await;
    let (owner, _) = some_history(&app).await;
    let out = app
        .cli(&["audit", "export", "--app", &owner.app_id, "--since", "soon"])
        .run()
        .await;
    exited(
        &out,
        1,
        "latchkey: Invalid since: expected an RFC 3339 time such as 2024-05-01T00:00:00Z.",
    );
    let out = app
        .cli(&[
            "audit",
            "export",
            "--app",
            &owner.app_id,
            "--feature",
            "root",
        ])
        .run()
        .await;
    assert_eq!(stderr(&out).trim(), "latchkey: Not a valid feature name.");
    let out = app
        .cli(&[
            "audit",
            "export",
            "--app",
            &owner.app_id,
            "--since",
            "2024-02-01",
            "--until",
            "2024-01-01",
        ])
        .run()
        .await;
    assert_eq!(
        stderr(&out).trim(),
        "latchkey: since must be earlier than until."
    );
    let out = app
        .cli(&["audit", "export", "--app", &owner.app_id, "--format", "xml"])
        .run()
        .await;
    assert_eq!(out.status.code(), Some(2), "clap refuses unknown values");
    assert!(
        stderr(&out).contains("invalid value 'xml'"),
        "{}",
        stderr(&out)
    );
    let out = app.cli(&["audit", "export", "--app", "nope"]).run().await;
    assert_eq!(stderr(&out).trim(), "latchkey: Application not found.");
}

#[tokio::test]
async fn an_export_verifies_offline_with_the_documented_script() {
    let app = spawn_app().await;
    let (owner, a) = some_history(&app).await;
    // A settings-like value: floats, integers past 2^53, keys outside the BMP and control
    // characters. jsonb stores its numbers differently (1e16 as 10000000000000000, -0.0 as 0);
    // the canonical form must not notice.
    let mut event = latchkey::domain::audit::AuditEvent {
        app_id: owner.app_id.clone(),
        seq: 0,
        event_id: uuid::Uuid::now_v7(),
        occurred_at: latchkey::service::clock::now_micros(),
        actor: owner.client_id.clone(),
        actor_ip: Some("::ffff:10.1.2.3".into()),
        request_id: "r".repeat(16),
        action: latchkey::domain::audit::AuditAction::SettingsSet,
        target_client_id: Some(a.clone()),
        features_before: None,
        features_after: None,
        changes: Value::Null,
        changes_text: None,
    };
    event.changes = json!({"value": {"from": 1e16, "to": 0.1}, "x": 1.0, "y": -0.0, "z": 12345678901234567890u64,
        "\u{fb01}": "ligature", "\u{1f600}": [1e300, 1.5e-7, -2.5e-5], "ctl": "\u{1}\u{7f}\"\\", "n": null, "b": true});
    let mut tx = latchkey::store::WriteTx::begin(&app.pool).await.unwrap();
    latchkey::store::audit::append(&mut tx, event)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(verify_http(&app, &owner, "").await.1["status"], "intact");
    let out = app
        .cli(&["audit", "export", "--app", &owner.app_id])
        .run()
        .await;
    let export = stdout(&out);
    let run = |input: &str| {
        let mut child = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/audit_verify.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the documented verifier");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        )
    };
    let (_, head) = head_hash(&app, &owner.app_id).await;
    assert_eq!(
        run(&export),
        (
            Some(0),
            json!({"status": "intact", "count": 6, "first_seq": 1, "head_seq": 6, "head_hash": head})
        )
    );
    // An edited line, a dropped line and swapped lines are all caught.
    let lines: Vec<&str> = export.lines().collect();
    let edited = export.replacen(
        &format!("\"target_client_id\":\"{a}\""),
        "\"target_client_id\":\"someone\"",
        1,
    );
    assert_eq!(run(&edited).1["seq"], 3);
    let dropped = [lines[0], lines[1], lines[3], lines[4], lines[5]].join("\n");
    assert_eq!(
        run(&dropped).1,
        json!({"status": "broken", "seq": 3, "message": "missing"})
    );
    let swapped = [lines[0], lines[2], lines[1], lines[3], lines[4], lines[5]].join("\n");
    assert_eq!(run(&swapped).0, Some(2));
}

#[tokio::test]
async fn report_shows_features_at_both_ends_and_each_change_between() {
    let clock = TestClock::an_hour_ago();
    let app = spawn_app_with_clock(&clock).await;
    let owner = app.create_app("shop").await;
    let o = &owner;
    let pause = || clock.advance(chrono::Duration::seconds(1));
    // Before the period.
    let mailer = app.add_client(o, "mailer", &["direct_read_access"]).await;
    let kept = app.add_client(o, "kept", &["login_client"]).await;
    let gone = app.add_client(o, "gone before", &["direct_access"]).await;
    app.as_owner(
        o,
        Method::DELETE,
        &format!("/config/{}/clients/{gone}", o.app_id),
    )
    .send()
    .await
    .unwrap();
    pause();
    let since = clock.now();
    pause();
    // In the period.
    set_features(
        &app,
        o,
        &mailer,
        "mailer",
        &["direct_access", "direct_read_access"],
    )
    .await;
    app.config_as_operator(&o.app_id)
        .put_client(
            &mailer,
            &json!({"name": "mailer", "features": ["direct_access"]}),
        )
        .await
        .status_is(200);
    let temp = app.add_client(o, "temp", &["access_issuer"]).await;
    app.as_owner(
        o,
        Method::DELETE,
        &format!("/config/{}/clients/{temp}", o.app_id),
    )
    .send()
    .await
    .unwrap();
    let new = app.add_client(o, "new", &["direct_access"]).await;
    set_features(&app, o, &kept, "kept, renamed", &["login_client"]).await;
    pause();
    let until = clock.now();
    pause();
    // After the period.
    set_features(
        &app,
        o,
        &mailer,
        "mailer",
        &["access_issuer", "direct_access"],
    )
    .await;
    app.as_owner(
        o,
        Method::DELETE,
        &format!("/config/{}/clients/{new}", o.app_id),
    )
    .send()
    .await
    .unwrap();
    let late = app.add_client(o, "late", &[]).await;
    let _ = late;

    let fmt =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let out = app
        .cli(&[
            "audit",
            "report",
            "--app",
            &o.app_id,
            "--since",
            &fmt(since),
            "--until",
            &fmt(until),
            "--format",
            "json",
        ])
        .run()
        .await;
    succeeded(&out);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    // The whole report, each id and time shown by the name of what it is (which client stood
    // where, and when, is part of the answer).
    let in_period = fmt(since + chrono::Duration::seconds(1));
    let mut names: Vec<(String, String)> = [
        (&o.app_id, "app"),
        (&o.client_id, "owner"),
        (&mailer, "mailer"),
        (&kept, "kept"),
        (&temp, "temp"),
        (&new, "new"),
        (&fmt(since), "since"),
        (&fmt(until), "until"),
        (&in_period, "since + 1 s"),
    ]
    .map(|(value, name)| (value.clone(), name.to_owned()))
    .into();
    for client in report["clients"].as_array().unwrap() {
        for change in client["changes"].as_array().unwrap() {
            let request_id = change["request_id"].as_str().unwrap();
            assert_eq!(request_id.len(), 16, "{change}");
            names.push((
                request_id.to_owned(),
                format!("request of seq {}", change["seq"]),
            ));
        }
    }
    insta::assert_json_snapshot!("report_json", named_json(&report, &names));

    let out = app
        .cli(&[
            "audit",
            "report",
            "--app",
            &o.app_id,
            "--since",
            &fmt(since),
            "--until",
            &fmt(until),
        ])
        .run()
        .await;
    succeeded(&out);
    insta::assert_snapshot!("report_text", named(&stdout(&out), &names));

    let out = app
        .cli(&[
            "audit",
            "report",
            "--app",
            &o.app_id,
            "--since",
            &fmt(until),
            "--until",
            &fmt(since),
        ])
        .run()
        .await;
    assert_eq!(
        (out.status.code(), stderr(&out).trim().to_owned()),
        (
            Some(1),
            "latchkey: since must be earlier than until.".to_owned()
        )
    );
}

//! Retention and pruning: `latchkey audit retention` and `latchkey audit prune`. Pruning removes
//! only an expired prefix, behind a checkpoint event, and the rest of the chain still verifies
//! (online, with the CLI, and offline). Time is moved forward by calling the service with a
//! later "now".

use std::io::Write;
use std::process::{Command, Stdio};

use chrono::{DateTime, Duration, Utc};
use latchkey::service::{Latchkey, RequestContext};
use serde_json::{json, Value};

use crate::audit_util::*;
use crate::helpers::*;

fn service(app: &TestApp) -> Latchkey {
    latchkey::startup::service(&test_settings(), app.pool.clone()).unwrap()
}

fn operator() -> RequestContext {
    RequestContext::command_line()
}

#[tokio::test]
async fn retention_defaults_to_forever_and_changes_are_audited() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let a = owner.app_id.as_str();
    assert_eq!(
        json_out(&app.cli(&["audit", "retention", "--app", a]).run().await),
        json!({"app_id": a, "keep_days": null})
    );
    assert_eq!(
        json_out(
            &app.cli(&["audit", "retention", "--app", a, "--keep-days", "400"])
                .run()
                .await
        ),
        json!({"app_id": a, "keep_days": 400})
    );
    assert_eq!(
        json_out(&app.cli(&["audit", "retention", "--app", a]).run().await),
        json!({"app_id": a, "keep_days": 400})
    );
    // Setting the same value again changes nothing and writes nothing.
    json_out(
        &app.cli(&["audit", "retention", "--app", a, "--keep-days", "400"])
            .run()
            .await,
    );
    json_out(
        &app.cli(&["audit", "retention", "--app", a, "--keep-days", "30"])
            .run()
            .await,
    );
    assert_eq!(
        json_out(
            &app.cli(&["audit", "retention", "--app", a, "--forever"])
                .run()
                .await
        ),
        json!({"app_id": a, "keep_days": null})
    );
    let rows = app.audit_rows(a).await;
    let changes: Vec<Value> = rows
        .iter()
        .filter(|r| r["action"] == "audit.retention_set")
        .map(|r| r["changes"].clone())
        .collect();
    assert_eq!(
        changes,
        vec![
            json!({"keepDays": {"from": null, "to": 400}}),
            json!({"keepDays": {"from": 400, "to": 30}}),
            json!({"keepDays": {"from": 30, "to": null}}),
        ]
    );
    assert!(rows
        .iter()
        .filter(|r| r["action"] == "audit.retention_set")
        .all(|r| r["actor"] == "operator"));
    // Bad values: a clear message, nothing changed.
    for bad in ["0", "36501", "-3"] {
        let out = app
            .cli(&[
                "audit",
                "retention",
                "--app",
                a,
                &format!("--keep-days={bad}"),
            ])
            .run()
            .await;
        assert_eq!(out.status.code(), Some(1), "{bad}");
        assert_eq!(
            stderr(&out).trim(),
            "latchkey: Invalid retention: expected a number of days from 1 to 36500."
        );
    }
    assert_eq!(app.audit_rows(a).await.len(), rows.len());
    let out = app
        .cli(&[
            "audit",
            "retention",
            "--app",
            a,
            "--keep-days",
            "3",
            "--forever",
        ])
        .run()
        .await;
    assert_eq!(out.status.code(), Some(2), "clap refuses both at once");
    // Only the operator sets it (the CLI is the operator; a client caller is refused).
    let client_ctx = RequestContext {
        request_id: "r".repeat(16),
        source_ip: None,
        caller: latchkey::service::Caller::Client {
            app_id: latchkey::domain::ids::AppId::from_trusted(a.to_owned()),
            client_id: latchkey::domain::ids::ClientId::from_trusted(owner.client_id.clone()),
            features: latchkey::domain::FeatureSet::of(&[latchkey::domain::Feature::Owner]),
        },
        read_at_least: None,
        clock: latchkey::service::Clock::system(),
    };
    let err = service(&app)
        .audit()
        .set_retention(
            &client_ctx,
            &latchkey::domain::ids::Named::parse(a),
            Some(1),
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Forbidden");
    let err = service(&app)
        .audit()
        .prune(
            &client_ctx,
            &latchkey::domain::ids::Named::parse(a),
            Utc::now(),
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Forbidden");
}

/// An application whose first events are "old": returns the owner and the time between the old
/// events and the recent ones.
async fn old_and_new(app: &TestApp, clock: &TestClock) -> (Owner, DateTime<Utc>, Vec<String>) {
    let owner = app.create_app("shop").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = app
            .create_client(
                &owner,
                json!({"name": format!("old {i}"), "features": ["direct_access"]}),
            )
            .await
            .id;
        ids.push(id);
    }
    clock.advance(Duration::seconds(1));
    let middle = clock.now();
    clock.advance(Duration::seconds(1));
    set_features(app, &owner, &ids[0], "old 0", &["direct_read_access"]).await;
    app.make_client(&owner, "recent", &[]).await;
    (owner, middle, ids)
}

#[tokio::test]
async fn prune_removes_the_expired_prefix_behind_a_checkpoint_and_the_rest_verifies() {
    let clock = TestClock::an_hour_ago();
    let app = spawn_app_with_clock(&clock).await;
    let (owner, middle, ids) = old_and_new(&app, &clock).await;
    let a = owner.app_id.as_str();
    // seqs: 1 app, 2 owner, 3-5 old clients | 6 update, 7 recent.
    json_out(
        &app.cli(&["audit", "retention", "--app", a, "--keep-days", "2"])
            .run()
            .await,
    );
    // seq 8: the retention change. Two days after `middle`, events 1..5 have expired.
    let (pre_seq, pre_hash) = {
        let rows: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, hash FROM audit_events WHERE app_id = $1 AND seq = 5")
                .bind(a)
                .fetch_all(&app.pool)
                .await
                .unwrap();
        (rows[0].0, hex::encode(&rows[0].1))
    };
    let now = middle + Duration::days(2);
    let svc = service(&app);
    let dry = svc
        .audit()
        .prune(
            &operator(),
            &latchkey::domain::ids::Named::parse(a),
            now,
            true,
        )
        .await
        .unwrap()
        .value;
    assert_eq!(
        (dry.pruned, dry.through_seq, dry.checkpoint_seq),
        (5, Some(5), None)
    );
    assert_eq!(
        app.audit_rows(a).await.len(),
        8,
        "a dry run changes nothing"
    );
    let done = svc
        .audit()
        .prune(
            &operator(),
            &latchkey::domain::ids::Named::parse(a),
            now,
            false,
        )
        .await
        .unwrap()
        .value;
    assert_eq!(
        serde_json::to_value(latchkey::http::wire::audit::PruneBody::new(done)).unwrap(),
        json!({"app_id": a, "keep_days": 2, "pruned": 5, "pruned_through_seq": 5, "checkpoint_seq": 9})
    );

    let rows = app.audit_rows(a).await;
    assert_eq!(event_seqs(&rows), [6, 7, 8, 9]);
    let cp = &rows[3];
    assert_eq!(
        (cp["action"].clone(), cp["actor"].clone()),
        (json!("audit.prune"), json!("operator"))
    );
    assert_eq!(cp["changes"]["prunedThroughSeq"], pre_seq);
    assert_eq!(cp["changes"]["prunedThroughHash"], pre_hash);
    assert_eq!(cp["changes"]["prunedFromSeq"], 1);
    assert_eq!(cp["changes"]["prunedEvents"], 5);
    assert_eq!(cp["changes"]["keepDays"], 2);
    assert_eq!(
        cp["changes"]["cutoff"],
        middle.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    );

    // The rest verifies: online, with the CLI, and offline from an export.
    let (_, head) = head_hash(&app, a).await;
    let expected = json!({"app_id": a, "status": "intact", "count": 4, "first_seq": 6, "head_seq": 9,
        "head_hash": head, "pruned_through_seq": 5, "anchors": []});
    assert_eq!(verify_http(&app, &owner, "").await, (200, expected.clone()));
    assert_eq!(
        json_out(&app.cli(&["audit", "verify", "--app", a]).run().await),
        expected
    );
    let export = stdout(&app.cli(&["audit", "export", "--app", a]).run().await);
    let mut child = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/audit_verify.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(export.as_bytes())
        .unwrap();
    let offline: Value = serde_json::from_slice(&child.wait_with_output().unwrap().stdout).unwrap();
    assert_eq!(
        offline,
        json!({"status": "intact", "count": 4, "first_seq": 6, "head_seq": 9, "head_hash": head})
    );
    // An anchor from before the prune at its boundary still checks against the checkpoint.
    let (status, body) = verify_http(
        &app,
        &owner,
        &format!("anchor=5:{pre_hash}&anchor=3:{}", "1".repeat(64)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["anchors"],
        json!([
            {"seq": 5, "hash": pre_hash, "status": "matched"},
            {"seq": 3, "hash": "1".repeat(64), "status": "pruned"},
        ])
    );

    // New events chain on; a second prune finds nothing and writes nothing.
    set_features(&app, &owner, &ids[1], "old 1", &[]).await;
    let again = svc
        .audit()
        .prune(
            &operator(),
            &latchkey::domain::ids::Named::parse(a),
            now,
            false,
        )
        .await
        .unwrap()
        .value;
    assert_eq!((again.pruned, again.checkpoint_seq), (0, None));
    assert_eq!(verify_http(&app, &owner, "").await.1["count"], 5);

    // Deleting past the checkpoint's range is caught.
    tamper(
        &app,
        &format!("DELETE FROM audit_events WHERE app_id = '{a}' AND seq = 6"),
    )
    .await;
    let (_, body) = verify_http(&app, &owner, "").await;
    assert_eq!(
        (body["seq"].clone(), body["problem"].clone()),
        (json!(6), json!("missing")),
        "{body}"
    );
}

#[tokio::test]
async fn the_report_stays_right_after_pruning() {
    let clock = TestClock::an_hour_ago();
    let app = spawn_app_with_clock(&clock).await;
    let (owner, middle, ids) = old_and_new(&app, &clock).await;
    let a = owner.app_id.as_str();
    json_out(
        &app.cli(&["audit", "retention", "--app", a, "--keep-days", "1"])
            .run()
            .await,
    );
    let _pruned = service(&app)
        .audit()
        .prune(
            &operator(),
            &latchkey::domain::ids::Named::parse(a),
            middle + Duration::days(1),
            false,
        )
        .await
        .unwrap();
    let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let report = json_out(
        &app.cli(&[
            "audit",
            "report",
            "--app",
            a,
            "--since",
            &fmt(middle),
            "--until",
            &fmt(Utc::now()),
            "--format",
            "json",
        ])
        .run()
        .await,
    );
    let old0 = report["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == ids[0].as_str())
        .unwrap();
    assert_eq!(
        (old0["at_start"].clone(), old0["at_end"].clone()),
        (json!(["direct_access"]), json!(["direct_read_access"]))
    );
    assert_eq!(old0["name"], "old 0");
    let old1 = report["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == ids[1].as_str())
        .unwrap();
    assert_eq!(
        (old1["at_start"].clone(), old1["at_end"].clone()),
        (json!(["direct_access"]), json!(["direct_access"]))
    );
}

#[tokio::test]
async fn prune_from_the_cli_keeps_what_has_not_expired() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let other = app.create_app("other").await;
    let a = owner.app_id.as_str();
    // No retention: prune does nothing.
    assert_eq!(
        json_out(&app.cli(&["audit", "prune", "--app", a]).run().await),
        json!({"app_id": a, "keep_days": null, "pruned": 0, "pruned_through_seq": null, "checkpoint_seq": null})
    );
    json_out(
        &app.cli(&["audit", "retention", "--app", a, "--keep-days", "1"])
            .run()
            .await,
    );
    // Without --app: every application with a retention (only `a`); nothing is a day old.
    let out = app.cli(&["audit", "prune"]).run().await;
    succeeded(&out);
    assert_eq!(
        stdout(&out)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .collect::<Vec<_>>(),
        vec![
            json!({"app_id": a, "keep_days": 1, "pruned": 0, "pruned_through_seq": null, "checkpoint_seq": null})
        ]
    );
    assert_eq!(app.audit_rows(a).await.len(), 3);
    assert_eq!(app.audit_rows(&other.app_id).await.len(), 2);
    let out = app
        .cli(&["audit", "prune", "--app", &"c".repeat(26)])
        .run()
        .await;
    assert_eq!(
        (out.status.code(), stderr(&out).trim().to_owned()),
        (
            Some(1),
            format!(
                "latchkey: pruning application {}: Application not found.",
                "c".repeat(26)
            )
        )
    );
}

#[tokio::test]
async fn pruning_everything_leaves_a_verifiable_checkpoint() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let a = owner.app_id.as_str();
    json_out(
        &app.cli(&["audit", "retention", "--app", a, "--keep-days", "1"])
            .run()
            .await,
    );
    let done = service(&app)
        .audit()
        .prune(
            &operator(),
            &latchkey::domain::ids::Named::parse(a),
            Utc::now() + Duration::days(2),
            false,
        )
        .await
        .unwrap()
        .value;
    assert_eq!(
        (done.pruned, done.through_seq, done.checkpoint_seq),
        (3, Some(3), Some(4))
    );
    let (_, body) = verify_http(&app, &owner, "").await;
    assert_eq!(
        (
            body["status"].clone(),
            body["count"].clone(),
            body["first_seq"].clone()
        ),
        (json!("intact"), json!(1), json!(4))
    );
    // A later prune removes the old checkpoint too, behind a new one.
    let done = service(&app)
        .audit()
        .prune(
            &operator(),
            &latchkey::domain::ids::Named::parse(a),
            Utc::now() + Duration::days(4),
            false,
        )
        .await
        .unwrap()
        .value;
    assert_eq!(
        (done.pruned, done.through_seq, done.checkpoint_seq),
        (1, Some(4), Some(5))
    );
    let (_, body) = verify_http(&app, &owner, "").await;
    assert_eq!(
        (
            body["status"].clone(),
            body["count"].clone(),
            body["pruned_through_seq"].clone()
        ),
        (json!("intact"), json!(1), json!(4))
    );
}

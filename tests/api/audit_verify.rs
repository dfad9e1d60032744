//! Tamper evidence: `GET /config/{appId}/audit/verify` and `latchkey audit verify` find an
//! edited, a deleted and a reordered event, a cut tail, and (with an anchor) a rewritten
//! history; the trigger refuses UPDATE, DELETE and TRUNCATE.

use reqwest::Method;
use serde_json::{json, Value};

use crate::audit_util::*;
use crate::helpers::*;

/// An application with a short history: app.create, client.create (owner), then three changes.
async fn history(app: &TestApp) -> (Owner, String) {
    let owner = app.create_app("shop").await;
    let id = app
        .add_client(&owner, "mailer", &["direct_read_access"])
        .await;
    set_features(app, &owner, &id, "mailer", &["direct_access"]).await;
    set_features(
        app,
        &owner,
        &id,
        "mailer, renamed",
        &["direct_access", "access_issuer"],
    )
    .await;
    (owner, id)
}

fn broken(seq: i64, problem: &str, message: &str, verified: u64, app_id: &str) -> Value {
    json!({"app_id": app_id, "status": "broken", "seq": seq, "problem": problem, "message": message, "verified": verified})
}

#[tokio::test]
async fn an_intact_chain_reports_its_head_and_count() {
    let app = spawn_app().await;
    let (owner, _) = history(&app).await;
    let (head_seq, head) = head_hash(&app, &owner.app_id).await;
    assert_eq!(head_seq, 5);
    let expected = json!({
        "app_id": owner.app_id, "status": "intact", "count": 5, "first_seq": 1, "head_seq": 5,
        "head_hash": head, "pruned_through_seq": null, "anchors": [],
    });
    assert_eq!(verify_http(&app, &owner, "").await, (200, expected.clone()));
    // The CLI says the same, exit status 0.
    let out = app
        .cli(&["audit", "verify", "--app", &owner.app_id])
        .run()
        .await;
    succeeded(&out);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&out)).unwrap(),
        expected
    );
    // The operator may verify too; a fresh application is an intact empty-but-for-creation log.
    let other = app.create_app("other").await;
    let (status, body) = app
        .config_as_operator(&other.app_id)
        .get("/audit/verify")
        .await
        .pair();
    assert_eq!(
        (status, body["status"].clone(), body["count"].clone()),
        (200, json!("intact"), json!(2))
    );
}

#[tokio::test]
async fn an_edited_event_is_found() {
    let app = spawn_app().await;
    let (owner, _) = history(&app).await;
    tamper(
        &app,
        &format!(
            "UPDATE audit_events SET features_after = '{{owner}}' WHERE app_id = '{}' AND seq = 3",
            owner.app_id
        ),
    )
    .await;
    let expected = broken(
        3,
        "altered",
        "event 3 does not match its hash: its content was changed",
        2,
        &owner.app_id,
    );
    assert_eq!(verify_http(&app, &owner, "").await, (200, expected.clone()));
    let out = app
        .cli(&["audit", "verify", "--app", &owner.app_id])
        .run()
        .await;
    assert_eq!(out.status.code(), Some(2), "exit status 2 means broken");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&out)).unwrap(),
        expected
    );
    assert!(stderr(&out).contains("is broken"), "{}", stderr(&out));
}

#[tokio::test]
async fn an_edit_with_a_recomputed_hash_breaks_the_next_link() {
    let app = spawn_app().await;
    let (owner, _) = history(&app).await;
    // The attacker changes the actor of event 3 and stores a matching hash for it; the next
    // event still links to the old hash.
    let (_, page) = audit_get(&app, &owner, "order=oldest&limit=3").await;
    let mut e3 = page["events"][2].clone();
    let prev = hex::decode(e3["prev_hash"].as_str().unwrap()).unwrap();
    let obj = e3.as_object_mut().unwrap();
    obj.remove("hash");
    obj.remove("prev_hash");
    obj.insert("actor".into(), json!("operator"));
    // serde_json sorts members; this event holds only ASCII names, strings and small integers,
    // for which that is the canonical form.
    let canonical = serde_json::to_string(&e3).unwrap();
    use sha2::Digest;
    let forged = sha2::Sha256::new()
        .chain_update(&prev)
        .chain_update(canonical.as_bytes())
        .finalize();
    tamper(&app, &format!(
        "UPDATE audit_events SET actor = 'operator', hash = '\\x{}' WHERE app_id = '{}' AND seq = 3",
        hex::encode(forged), owner.app_id
    ))
    .await;
    let (status, body) = verify_http(&app, &owner, "").await;
    assert_eq!(
        (status, body["seq"].clone(), body["problem"].clone()),
        (200, json!(4), json!("unlinked")),
        "{body}"
    );
}

#[tokio::test]
async fn a_deleted_event_is_missing() {
    let app = spawn_app().await;
    let (owner, _) = history(&app).await;
    tamper(
        &app,
        &format!(
            "DELETE FROM audit_events WHERE app_id = '{}' AND seq = 2",
            owner.app_id
        ),
    )
    .await;
    assert_eq!(
        verify_http(&app, &owner, "").await,
        (
            200,
            broken(2, "missing", "event 2 is missing", 1, &owner.app_id)
        )
    );
}

#[tokio::test]
async fn reordered_events_are_found() {
    let app = spawn_app().await;
    let (owner, _) = history(&app).await;
    let a = &owner.app_id;
    tamper(
        &app,
        &format!(
            "UPDATE audit_events SET seq = -1 WHERE app_id = '{a}' AND seq = 3;
         UPDATE audit_events SET seq = 3 WHERE app_id = '{a}' AND seq = 4;
         UPDATE audit_events SET seq = 4 WHERE app_id = '{a}' AND seq = -1;"
        ),
    )
    .await;
    assert_eq!(
        verify_http(&app, &owner, "").await,
        (
            200,
            broken(
                3,
                "unlinked",
                "event 3 does not link to the hash of the event before it",
                2,
                a
            )
        )
    );
}

#[tokio::test]
async fn a_cut_tail_is_found_and_a_rewound_head_needs_an_anchor() {
    let app = spawn_app().await;
    let (owner, _) = history(&app).await;
    let a = &owner.app_id;
    let (_, head5) = head_hash(&app, a).await;
    tamper(
        &app,
        &format!("DELETE FROM audit_events WHERE app_id = '{a}' AND seq = 5"),
    )
    .await;
    assert_eq!(
        verify_http(&app, &owner, "").await,
        (
            200,
            broken(
                5,
                "missing",
                "event 5 is missing (the chain head is at 5: the log was cut short)",
                4,
                a
            )
        )
    );
    // A thorough attacker also rewinds the head: the chain alone cannot tell...
    tamper(&app, &format!(
        "UPDATE audit_heads SET seq = 4, hash = (SELECT hash FROM audit_events WHERE app_id = '{a}' AND seq = 4) WHERE app_id = '{a}'"
    ))
    .await;
    let (_, body) = verify_http(&app, &owner, "").await;
    assert_eq!(
        (body["status"].clone(), body["count"].clone()),
        (json!("intact"), json!(4))
    );
    // ...but the head an auditor noted earlier can.
    let anchor = format!("5:{head5}");
    assert_eq!(
        verify_http(&app, &owner, &format!("anchor={anchor}")).await,
        (
            200,
            broken(
                5,
                "missing",
                "anchored event 5 is missing: the log ends at 4 (it was cut back)",
                4,
                a
            )
        )
    );
    let out = app
        .cli(&["audit", "verify", "--app", a, "--anchor", &anchor])
        .run()
        .await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn anchors_that_match_are_reported() {
    let app = spawn_app().await;
    let (owner, _) = history(&app).await;
    let (_, head) = head_hash(&app, &owner.app_id).await;
    let (status, body) = verify_http(&app, &owner, &format!("anchor=5:{head}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["anchors"],
        json!([{"seq": 5, "hash": head, "status": "matched"}])
    );
    let wrong = "0".repeat(64);
    let (_, body) = verify_http(&app, &owner, &format!("anchor=2:{wrong}")).await;
    assert_eq!(
        (body["seq"].clone(), body["problem"].clone()),
        (json!(2), json!("anchor_mismatch"))
    );
}

#[tokio::test]
async fn bad_verify_parameters_are_400() {
    let app = spawn_app().await;
    let (owner, _) = history(&app).await;
    let anchor_msg = "Invalid anchor: expected SEQ:HASH, the hash as 64 hex digits.";
    assert_eq!(
        verify_http(&app, &owner, "anchor=5").await,
        (400, errors(anchor_msg))
    );
    assert_eq!(
        verify_http(&app, &owner, "anchor=5:abc").await,
        (400, errors(anchor_msg))
    );
    assert_eq!(
        verify_http(&app, &owner, "fast=1").await,
        (400, errors("Unknown parameter: fast."))
    );
    let out = app
        .cli(&[
            "audit",
            "verify",
            "--app",
            &owner.app_id,
            "--anchor",
            "nope",
        ])
        .run()
        .await;
    exited(&out, 1, &format!("latchkey: {anchor_msg}"));
    let out = app
        .cli(&["audit", "verify", "--app", &"a".repeat(26)])
        .run()
        .await;
    exited(&out, 1, "latchkey: Application not found.");
}

#[tokio::test]
async fn verifying_is_for_owners_of_the_application_and_the_operator() {
    let app = spawn_app().await;
    let (owner, _) = history(&app).await;
    let (reader, secret) = app
        .make_client(&owner, "reader", &["direct_access"])
        .await
        .credentials();
    let path = format!("/config/{}/audit/verify", owner.app_id);
    app.by_client(&reader, &secret)
        .get(&path)
        .await
        .is(403, errors("Forbidden"));
    let other = app.create_app("other").await;
    app.by(&other)
        .get(&path)
        .await
        .is(401, errors("Authentication required."));
    app.request(Method::GET, &path)
        .fetch()
        .await
        .is(401, errors("Authentication required."));
    app.operator()
        .get(&format!("/config/{}/audit/verify", "a".repeat(26)))
        .await
        .is(404, errors("Application not found."));
    app.by(&owner)
        .call(Method::POST, &path)
        .await
        .is(405, errors("Method not allowed."));
}

#[tokio::test]
async fn the_trigger_refuses_update_delete_and_truncate() {
    let app = spawn_app().await;
    let (owner, _) = history(&app).await;
    let other = app.create_app("other").await;
    let a = &owner.app_id;
    let refused = |r: Result<sqlx::postgres::PgQueryResult, sqlx::Error>| {
        let e = r.expect_err("refused");
        let db = e.as_database_error().expect("a database error");
        (db.code().unwrap().into_owned(), db.message().to_owned())
    };
    for (sql, op) in [
        (
            format!("UPDATE audit_events SET actor = 'x' WHERE app_id = '{a}'"),
            "UPDATE",
        ),
        (
            format!("DELETE FROM audit_events WHERE app_id = '{a}' AND seq = 1"),
            "DELETE",
        ),
        ("TRUNCATE audit_events CASCADE".to_owned(), "TRUNCATE"),
    ] {
        let r = sqlx::query(&sql).execute(&app.pool).await;
        assert_eq!(
            refused(r),
            (
                "42501".into(),
                format!("audit_events is append-only ({op} refused)")
            )
        );
    }
    // The feature index of the log is protected the same way.
    let r = sqlx::query(&format!(
        "DELETE FROM audit_feature_changes WHERE app_id = '{a}'"
    ))
    .execute(&app.pool)
    .await;
    assert_eq!(
        refused(r),
        (
            "42501".into(),
            "audit_feature_changes is append-only (DELETE refused)".into()
        )
    );
    let r = sqlx::query("TRUNCATE audit_events")
        .execute(&app.pool)
        .await;
    assert!(
        r.is_err(),
        "plain TRUNCATE is refused too (by the foreign key)"
    );
    // The prune exception covers exactly the announced application and range.
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query(&format!(
        "SELECT set_config('latchkey.audit_prune', '{a}:2', true)"
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    let r = sqlx::query(&format!(
        "DELETE FROM audit_events WHERE app_id = '{a}' AND seq = 3"
    ))
    .execute(&mut *tx)
    .await;
    assert_eq!(refused(r).0, "42501", "beyond the range");
    tx.rollback().await.unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query(&format!(
        "SELECT set_config('latchkey.audit_prune', '{a}:2', true)"
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    let r = sqlx::query(&format!(
        "DELETE FROM audit_events WHERE app_id = '{}'",
        other.app_id
    ))
    .execute(&mut *tx)
    .await;
    assert_eq!(refused(r).0, "42501", "another application");
    tx.rollback().await.unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query(&format!(
        "SELECT set_config('latchkey.audit_prune', '{a}:2', true)"
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    let r = sqlx::query(&format!(
        "UPDATE audit_events SET actor = 'x' WHERE app_id = '{a}' AND seq = 1"
    ))
    .execute(&mut *tx)
    .await;
    assert_eq!(refused(r).0, "42501", "never an update");
    tx.rollback().await.unwrap();
    // Nothing changed.
    assert_eq!(verify_http(&app, &owner, "").await.1["status"], "intact");
}

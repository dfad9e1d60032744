//! Audit evidence: the RFC 6962 tree kept by the database, signed checkpoints, inclusion and
//! consistency proofs, verifier keys and their rotation, legal holds, and offline verification
//! by the command line. Proofs are checked here with the domain's verifier, fed only what the
//! HTTP API returns (an independent Python verifier does the same in `.ci/run`).

use base64::Engine;
use chrono::Utc;
use latchkey::domain::merkle::{self, Hash};
use latchkey::domain::note::{self, VerifierKey};
use latchkey::service::{Latchkey, RequestContext, ServiceError};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

fn service(app: &TestApp) -> Latchkey {
    latchkey::startup::service(&test_settings(), app.pool.clone()).unwrap()
}

fn b64(s: &str) -> Hash {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap()
        .try_into()
        .unwrap()
}

fn hashes(v: &Value) -> Vec<Hash> {
    v["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| b64(h.as_str().unwrap()))
        .collect()
}

async fn get_text(app: &TestApp, owner: &Owner, path: &str) -> (u16, String) {
    let res = app
        .as_owner(
            owner,
            Method::GET,
            &format!("/config/{}{path}", owner.app_id),
        )
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn get_json(app: &TestApp, owner: &Owner, path: &str) -> (u16, Value) {
    app.config(owner).get(path).await.pair()
}

/// The verifier keys as an auditor fetches them (no credentials).
pub(crate) async fn keys(app: &TestApp) -> Vec<VerifierKey> {
    let body = app
        .request(Method::GET, "/audit/keys")
        .fetch()
        .await
        .status_is(200);
    body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| VerifierKey::parse(k["key"].as_str().unwrap()).unwrap())
        .collect()
}

/// The chain hashes of the unfiltered NDJSON export, in order.
async fn chain_hashes(app: &TestApp, owner: &Owner) -> Vec<Hash> {
    let (status, text) = get_text(app, owner, "/audit?format=ndjson").await;
    assert_eq!(status, 200);
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            hex::decode(v["hash"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect()
}

async fn some_changes(app: &TestApp, owner: &Owner, n: usize) {
    for i in 0..n {
        let name = format!("c{i} {}", uuid::Uuid::new_v4().simple());
        app.make_client(owner, &name, &[]).await;
    }
}

#[tokio::test]
async fn checkpoints_are_signed_notes_of_the_tree_and_every_proof_verifies() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let a = owner.app_id.as_str();
    // No checkpoint before the first round.
    let (status, body) = get_json(&app, &owner, "/audit/checkpoint").await;
    assert_eq!(
        (status, body),
        (
            404,
            errors("No checkpoint yet: one is signed within LATCHKEY_CHECKPOINT_SECS of the first event.")
        )
    );
    some_changes(&app, &owner, 3).await; // 5 events
    assert_eq!(
        service(&app).evidence().make_checkpoints().await.unwrap(),
        1
    );
    assert_eq!(
        service(&app).evidence().make_checkpoints().await.unwrap(),
        0,
        "nothing new"
    );
    let (status, first) = get_text(&app, &owner, "/audit/checkpoint").await;
    assert_eq!(status, 200);
    let keys = keys(&app).await;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].name, "audit.example.test/audit");
    let (cp5, _) = note::open_checkpoint(&first, &keys).unwrap();
    assert_eq!(cp5.origin, format!("audit.example.test/audit/{a}"));
    assert_eq!(cp5.size, 5);
    let leaves: Vec<Hash> = chain_hashes(&app, &owner)
        .await
        .iter()
        .map(|h| merkle::leaf_hash(h))
        .collect();
    assert_eq!(cp5.root, merkle::root_of(&leaves));

    some_changes(&app, &owner, 8).await; // 13 events
    service(&app).evidence().make_checkpoints().await.unwrap();
    let (_, second) = get_text(&app, &owner, "/audit/checkpoint").await;
    let (cp13, _) = note::open_checkpoint(&second, &keys).unwrap();
    assert_eq!(cp13.size, 13);
    let leaves: Vec<Hash> = chain_hashes(&app, &owner)
        .await
        .iter()
        .map(|h| merkle::leaf_hash(h))
        .collect();
    assert_eq!(cp13.root, merkle::root_of(&leaves));

    // Every event is in both trees it belongs to.
    for (cp, size) in [(&cp5, 5u64), (&cp13, 13)] {
        for revision in 1..=size {
            let (status, proof) = get_json(
                &app,
                &owner,
                &format!("/audit/proof/inclusion?revision={revision}&size={size}"),
            )
            .await;
            assert_eq!(status, 200, "{proof}");
            assert_eq!(proof["leaf_index"], revision - 1);
            assert_eq!(proof["tree_size"], size);
            assert!(merkle::verify_inclusion(
                revision - 1,
                size,
                &leaves[revision as usize - 1],
                &hashes(&proof),
                &cp.root
            ));
        }
    }
    // The second tree extends the first.
    let (status, proof) = get_json(&app, &owner, "/audit/proof/consistency?from=5&to=13").await;
    assert_eq!(status, 200);
    assert_eq!(proof.as_object().unwrap().len(), 1, "{proof}");
    assert!(merkle::verify_consistency(
        5,
        13,
        &cp5.root,
        &cp13.root,
        &hashes(&proof)
    ));
    // A fork: a different history of 5 events is not extended by this tree.
    let mut forked = leaves[..5].to_vec();
    forked[4] = merkle::leaf_hash(&[7u8; 32]);
    assert!(!merkle::verify_consistency(
        5,
        13,
        &merkle::root_of(&forked),
        &cp13.root,
        &hashes(&proof)
    ));
    // The same size on both sides: no hashes.
    let (_, same) = get_json(&app, &owner, "/audit/proof/consistency?from=13&to=13").await;
    assert_eq!(same, json!({"hashes": []}));

    // The list, oldest first, each with its note.
    let (status, list) = get_json(&app, &owner, "/audit/checkpoints?since=2000-01-01").await;
    assert_eq!(status, 200);
    let items = list["checkpoints"].as_array().unwrap();
    assert_eq!(
        items
            .iter()
            .map(|c| c["tree_size"].clone())
            .collect::<Vec<_>>(),
        [json!(5), json!(13)]
    );
    assert_eq!(items[0]["note"], first);
    assert_eq!(
        items[1]["root_hash"],
        base64::engine::general_purpose::STANDARD.encode(cp13.root)
    );
    assert_eq!(items[0]["key_id"], keys[0].key_id());
    let (_, later) = get_json(&app, &owner, "/audit/checkpoints?since=2999-01-01").await;
    assert_eq!(later, json!({"checkpoints": []}));
}

#[tokio::test]
async fn bad_proof_and_checkpoint_requests_are_400_with_a_message() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    some_changes(&app, &owner, 2).await; // 4 events
    let cases = [
        ("/audit/proof/inclusion?revision=5&size=4", "Invalid revision: 5 is after size 4 (the proof is of a revision inside a tree of that size)."),
        ("/audit/proof/inclusion?revision=1&size=9", "Invalid size: the tree has 4 events, so no tree of size 9 exists yet."),
        ("/audit/proof/inclusion?revision=9", "Invalid revision: 9 is after size 4 (the proof is of a revision inside a tree of that size)."),
        ("/audit/proof/inclusion?revision=0&size=4", "Invalid revision: expected a whole number from 1."),
        ("/audit/proof/inclusion?size=4", "Invalid revision: expected a whole number from 1."),
        ("/audit/proof/inclusion?revision=x", "Invalid revision: expected a whole number from 1."),
        ("/audit/proof/inclusion?revision=1&size=-1", "Invalid size: expected a whole number from 1."),
        ("/audit/proof/inclusion?revision=1&size=99999999999999999999", "Invalid size: expected a whole number from 1."),
        ("/audit/proof/inclusion?revision=1&revision=2", "Parameter revision given more than once."),
        ("/audit/proof/inclusion?revision=1&seq=2", "Unknown parameter: seq."),
        ("/audit/proof/consistency?from=3&to=2", "Invalid from: 3 is after to (2)."),
        ("/audit/proof/consistency?from=1&to=5", "Invalid to: the tree has 4 events, so no tree of size 5 exists yet."),
        ("/audit/proof/consistency?from=0&to=2", "Invalid from: expected a whole number from 1."),
        ("/audit/proof/consistency?from=1", "Invalid to: expected a whole number from 1."),
        ("/audit/checkpoints?since=yesterday", "Invalid since: expected an RFC 3339 time such as 2024-05-01T00:00:00Z."),
        ("/audit/checkpoint?x=1", "Unknown parameter: x."),
    ];
    for (path, message) in cases {
        let (status, body) = get_json(&app, &owner, path).await;
        assert_eq!((status, body), (400, errors(message)), "{path}");
    }
    // Another application's owner, and a non-owner client, get no proofs.
    let other = app.create_app("other").await;
    app.by(&other)
        .get(&format!(
            "/config/{}/audit/proof/consistency?from=1&to=2",
            owner.app_id
        ))
        .await
        .status_is(401);
    let Made { id, secret, .. } = app.make_client(&owner, "plain", &[]).await;
    let res = app
        .by_client(&id, &secret)
        .get(&format!("/config/{}/audit/checkpoint", owner.app_id))
        .await;
    assert_eq!(res.status, 403);
}

#[tokio::test]
async fn the_stored_tree_matches_the_reference_after_single_and_batched_appends() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    some_changes(&app, &owner, 3).await;
    // A fixture writes many events in one batch (store::audit::append_all).
    let clients: Vec<Value> = (0..40)
        .map(|i| json!({"name": format!("batch {i}"), "features": ["direct_access"]}))
        .collect();
    let res = app
        .as_operator(Method::POST, &format!("/apps/{}/apply", owner.app_id))
        .json(&json!({"clients": clients}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let leaves: Vec<Hash> = chain_hashes(&app, &owner)
        .await
        .iter()
        .map(|h| merkle::leaf_hash(h))
        .collect();
    assert!(leaves.len() > 40, "{}", leaves.len());
    let stored: Vec<(i16, i64, Vec<u8>)> = sqlx::query_as(
        "SELECT level, idx, hash FROM audit_merkle_nodes WHERE app_id = $1 ORDER BY level, idx",
    )
    .bind(&owner.app_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    // Exactly the complete subtrees, each with the reference hash.
    let mut want = Vec::new();
    for level in 0..8u32 {
        let width = 1usize << level;
        for idx in 0..leaves.len() / width {
            let range = &leaves[idx * width..(idx + 1) * width];
            want.push((level as i16, idx as i64, merkle::root_of(range).to_vec()));
        }
    }
    assert_eq!(stored, want);
    // And the tree is as append-only as the log.
    let err = sqlx::query("DELETE FROM audit_merkle_nodes WHERE app_id = $1")
        .bind(&owner.app_id)
        .execute(&app.pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[tokio::test]
async fn the_checkpoint_task_signs_on_its_own_and_instances_do_not_duplicate() {
    let app = spawn_app_with(|s| s.evidence.checkpoint_secs = 1).await;
    let _peer = app.spawn_peer(|s| s.evidence.checkpoint_secs = 1).await;
    let owner = app.create_app("shop").await;
    eventually("a checkpoint of size 2", async || {
        let (status, text) = get_text(&app, &owner, "/audit/checkpoint").await;
        status == 200 && text.lines().nth(1) == Some("2")
    })
    .await;
    let (_, list) = get_json(&app, &owner, "/audit/checkpoints").await;
    assert_eq!(list["checkpoints"].as_array().unwrap().len(), 1);
    assert_eq!(keys(&app).await.len(), 1, "one key for both instances");
}

#[tokio::test]
async fn a_rotated_key_signs_new_checkpoints_and_old_ones_still_verify() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    service(&app).evidence().make_checkpoints().await.unwrap();
    let (_, old_note) = get_text(&app, &owner, "/audit/checkpoint").await;
    let old_keys = keys(&app).await;

    // Only the operator rotates.
    let client_ctx = RequestContext {
        request_id: "r".repeat(16),
        source_ip: None,
        caller: latchkey::service::Caller::Client {
            app_id: latchkey::domain::ids::AppId::from_trusted(owner.app_id.clone()),
            client_id: latchkey::domain::ids::ClientId::from_trusted(owner.client_id.clone()),
            features: latchkey::domain::FeatureSet::of(&[latchkey::domain::Feature::Owner]),
        },
        read_at_least: None,
        clock: latchkey::service::Clock::system(),
    };
    assert!(matches!(
        service(&app).evidence().rotate_key(&client_ctx).await,
        Err(ServiceError::Forbidden)
    ));
    let out = app
        .cli(&["audit", "key", "rotate"])
        .sealed()
        .public_url()
        .run()
        .await;
    succeeded(&out);
    let rotated: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let listed = app
        .request(Method::GET, "/audit/keys")
        .fetch()
        .await
        .status_is(200);
    let listed = listed["keys"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["key"], old_keys[0].encode());
    assert!(listed[0]["valid_until"].is_string(), "{listed:?}");
    assert_eq!(listed[1]["key"], rotated["key"]);
    assert!(listed[1].get("valid_until").is_none());
    // Audited in the application's log, naming both keys.
    let rows = app.audit_rows(&owner.app_id).await;
    let last = rows.last().unwrap();
    assert_eq!(last["action"], "audit.key_rotate");
    assert_eq!(
        last["changes"],
        json!({"fromKeyId": old_keys[0].key_id(), "toKeyId": rotated["key_id"], "verifierKey": rotated["key"]})
    );
    service(&app).evidence().make_checkpoints().await.unwrap();
    let (_, new_note) = get_text(&app, &owner, "/audit/checkpoint").await;
    let all = keys(&app).await;
    let (_, signer) = note::open_checkpoint(&new_note, &all).unwrap();
    assert_eq!(signer.key_id(), rotated["key_id"].as_str().unwrap());
    let (_, signer) = note::open_checkpoint(&old_note, &all).unwrap();
    assert_eq!(signer, &old_keys[0]);
    // The new checkpoint does not verify with the old key alone.
    assert!(note::open_checkpoint(&new_note, &old_keys).is_err());
}

#[tokio::test]
async fn offline_verification_checks_an_export_and_one_event_and_names_the_first_bad_revision() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    some_changes(&app, &owner, 6).await; // 8 events
    service(&app).evidence().make_checkpoints().await.unwrap();
    let dir = std::env::temp_dir().join(format!("lk-offline-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_, export) = get_text(&app, &owner, "/audit?format=ndjson").await;
    let (_, cp) = get_text(&app, &owner, "/audit/checkpoint").await;
    let (_, proof) = get_json(&app, &owner, "/audit/proof/inclusion?revision=4&size=8").await;
    let key = keys(&app).await[0].encode();
    let file = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let (events, cp_file, key_file) = (
        file("export.ndjson", &export),
        file("cp.txt", &cp),
        file("key.txt", &format!("{key}\n")),
    );
    let offline = |events: &str, cp: &str| {
        // No database: a URL that cannot be reached.
        Cli::bare(&[
            "audit",
            "verify",
            "--offline",
            "--events",
            events,
            "--checkpoint",
            cp,
            "--key",
            &key_file,
        ])
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .run()
    };
    let ok = offline(&events, &cp_file).await;
    succeeded(&ok);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&ok)).unwrap(),
        json!({"status": "verified", "origin": format!("audit.example.test/audit/{}", owner.app_id),
               "tree_size": 8, "key_id": keys(&app).await[0].key_id(), "events": 8})
    );
    let lines: Vec<&str> = export.lines().collect();
    let mut edited = lines.clone();
    let edited_line = lines[5].replacen("client.create", "client.delete", 1);
    edited[5] = &edited_line;
    let mut removed = lines.clone();
    removed.remove(5);
    let mut reordered = lines.clone();
    reordered.swap(2, 3);
    for (name, text, revision) in [
        ("edited", edited.join("\n"), 6),
        ("removed", removed.join("\n"), 6),
        ("reordered", reordered.join("\n"), 3),
    ] {
        let out = offline(&file(name, &text), &cp_file).await;
        assert_eq!(out.status.code(), Some(1), "{name}");
        let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(
            (report["status"].as_str(), report["revision"].as_u64()),
            (Some("failed"), Some(revision)),
            "{name}: {report}"
        );
    }
    // A checkpoint of the same tree signed by another key.
    let other = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let body = cp.split("\n\n").next().unwrap().to_owned() + "\n";
    let forged = note::sign(&body, "audit.example.test/audit", &other);
    let out = offline(&events, &file("forged.txt", &forged)).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("no signature by a known key"),
        "{}",
        stdout(&out)
    );

    // One event with its inclusion proof.
    let one = |event: &str, proof: &str| {
        Cli::bare(&[
            "audit",
            "verify",
            "--offline",
            "--event",
            &file("event.json", event),
            "--proof",
            &file("proof.json", proof),
            "--checkpoint",
            &cp_file,
            "--key",
            &key_file,
        ])
        .run()
    };
    let out = one(lines[3], &proof.to_string()).await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = one(lines[4], &proof.to_string()).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("\"revision\":5"), "{}", stdout(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_legal_hold_stops_prune_until_it_ends_and_pruned_events_keep_their_leaves() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let a = owner.app_id.as_str();
    some_changes(&app, &owner, 3).await; // 5 events
    service(&app).evidence().make_checkpoints().await.unwrap();
    let (_, cp_text) = get_text(&app, &owner, "/audit/checkpoint").await;
    let (cp5, _) = note::open_checkpoint(&cp_text, &keys(&app).await).unwrap();
    let ret = app
        .cli(&["audit", "retention", "--app", a, "--keep-days", "1"])
        .sealed()
        .public_url()
        .run()
        .await;
    succeeded(&ret);
    let hold = app
        .cli(&["audit", "hold", "--app", a, "--until", "2999-01-01"])
        .sealed()
        .public_url()
        .run()
        .await;
    succeeded(&hold);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&hold)).unwrap(),
        json!({"app_id": a, "hold_until": "2999-01-01T00:00:00.000000Z"})
    );
    let rows = app.audit_rows(a).await;
    let last = rows.last().unwrap();
    assert_eq!(last["action"], "audit.hold_set");
    assert_eq!(
        last["changes"],
        json!({"until": {"from": null, "to": "2999-01-01T00:00:00.000000Z"}})
    );
    let later = Utc::now() + chrono::Duration::days(3);
    let svc = service(&app);
    let ctx = RequestContext::command_line();
    let refused = svc
        .audit()
        .prune(&ctx, &latchkey::domain::ids::Named::parse(a), later, false)
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        format!("Application {a} is under legal hold until 2999-01-01T00:00:00.000000Z: its audit events cannot be pruned before then (latchkey audit hold).")
    );
    let out = app
        .cli(&["audit", "prune", "--app", a])
        .sealed()
        .public_url()
        .run()
        .await;
    // Today nothing has expired yet, so the CLI's prune (now) is refused by the hold too.
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("under legal hold"),
        "{}",
        stderr(&out)
    );
    assert_eq!(app.audit_rows(a).await.len(), 7, "nothing pruned");
    // Without --app, a held application does not stop the others.
    let other = app.create_app("other").await;
    let o = other.app_id.as_str();
    let ret = app
        .cli(&["audit", "retention", "--app", o, "--keep-days", "1"])
        .sealed()
        .public_url()
        .run()
        .await;
    succeeded(&ret);
    let all = app
        .cli(&["audit", "prune"])
        .sealed()
        .public_url()
        .run()
        .await;
    exited_saying(&all, 1, "under legal hold");
    let printed = parse_ndjson(&stdout(&all));
    assert_eq!(printed.len(), 1, "{printed:?}");
    assert_eq!(printed[0]["app_id"], o);

    // The hold ends: prune goes through, and proofs of pruned events still verify.
    let end = app
        .cli(&["audit", "hold", "--app", a, "--until", "2000-01-01"])
        .sealed()
        .public_url()
        .run()
        .await;
    succeeded(&end);
    let done = svc
        .audit()
        .prune(&ctx, &latchkey::domain::ids::Named::parse(a), later, false)
        .await
        .unwrap();
    assert_eq!(done.value.through_seq, Some(8));
    let (status, proof) = get_json(&app, &owner, "/audit/proof/inclusion?revision=2&size=5").await;
    assert_eq!(status, 200, "{proof}");
    let leaf: Vec<u8> = app
        .scalar(
            "SELECT hash FROM audit_merkle_nodes WHERE app_id = $1 AND level = 0 AND idx = 1",
            &[a],
        )
        .await;
    assert!(merkle::verify_inclusion(
        1,
        5,
        &leaf.try_into().unwrap(),
        &hashes(&proof),
        &cp5.root
    ));
    service(&app).evidence().make_checkpoints().await.unwrap();
    let (_, after) = get_text(&app, &owner, "/audit/checkpoint").await;
    let (cp_after, _) = note::open_checkpoint(&after, &keys(&app).await).unwrap();
    let (_, consistency) = get_json(
        &app,
        &owner,
        &format!("/audit/proof/consistency?from=5&to={}", cp_after.size),
    )
    .await;
    assert!(merkle::verify_consistency(
        5,
        cp_after.size,
        &cp5.root,
        &cp_after.root,
        &hashes(&consistency)
    ));
}

//! The sealing key's rotation (`latchkey keys rotate`, docs/signed-requests.md): every sealed
//! store is re-sealed, and after the old key is removed everything sealed still works: client
//! secrets, OAuth signing keys (tokens sign and verify), the audit checkpoint key (checkpoints
//! sign) and the sinks' secrets (webhooks are signed, Splunk gets its token).

use jsonwebtoken::jwk::JwkSet;
use latchkey::auth::sealing::{generate_key, KeyRing};
use latchkey::domain::note;
use latchkey::domain::sink::webhook_signature;
use latchkey::store::secrets::SealedStore;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::sinks::{create_sink, Receiver};

/// `latchkey args…` with these sealing keys (current, previous).
async fn latchkey_with(
    app: &TestApp,
    args: &[&str],
    current: &str,
    previous: &str,
) -> std::process::Output {
    app.cli(args)
        .public_url()
        .env("LATCHKEY_SEALING_KEY", current)
        .env("LATCHKEY_SEALING_PREVIOUS_KEYS", previous)
        .run()
        .await
}

/// (table, sealing key id) of every sealed value in the database.
async fn sealing_key_ids(app: &TestApp) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT 'client_secrets', sealing_key_id FROM client_secrets WHERE sealed IS NOT NULL
         UNION ALL SELECT 'oauth_signing_keys', sealing_key_id FROM oauth_signing_keys
         UNION ALL SELECT 'audit_signing_keys', sealing_key_id FROM audit_signing_keys
         UNION ALL SELECT 'sinks', sealing_key_id FROM sinks WHERE sealed_secret IS NOT NULL
         ORDER BY 1, 2",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// A resource server's check of a token of `app_id` (issuer and audience the issuer).
fn verify(token: &str, jwks: &JwkSet, app_id: &str) -> Value {
    let issuer = format!("{PUBLIC_URL}/oauth/{app_id}");
    crate::oauth::verify(token, jwks, &issuer, &issuer)
}

fn kids(set: &JwkSet) -> Vec<String> {
    let mut kids: Vec<String> = set
        .keys
        .iter()
        .map(|k| k.common.key_id.clone().unwrap())
        .collect();
    kids.sort();
    kids
}

#[tokio::test]
async fn every_sealed_column_belongs_to_a_store_that_keys_rotate_reseals() {
    let app = spawn_app().await;
    let mut tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.columns
          WHERE table_schema = current_schema() AND column_name = 'sealing_key_id'
          ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    tables.dedup();
    let mut listed: Vec<&str> = SealedStore::ALL.iter().map(|s| s.table()).collect();
    listed.sort();
    assert_eq!(
        tables, listed,
        "a table keeps sealed values: add it to store::secrets::SealedStore"
    );
}

#[tokio::test]
async fn keys_rotate_reseals_every_store_and_all_works_with_the_new_key_alone() {
    // The first server keeps only the old key and delivers to no sink (so that after the
    // rotation only the server with the new key delivers).
    let app = spawn_app_with(|s| s.sinks.delivery = false).await;
    let old_key = TEST_SEALING_KEY;
    let new_key = generate_key();
    let new_id = KeyRing::from_base64(&new_key, &[])
        .unwrap()
        .current_id()
        .to_owned();
    let old_id = KeyRing::from_base64(old_key, &[])
        .unwrap()
        .current_id()
        .to_owned();

    // Sealed client secrets: an application with signed requests and show_secrets, its owner
    // and a client.
    let created = app
        .operator()
        .post(
            "/apps",
            &json!({"name": "shop", "region": "us", "signed_requests": true, "show_secrets": true}),
        )
        .await
        .status_is(201);
    let owner = Owner {
        app_id: created["app_id"].as_str().unwrap().to_owned(),
        client_id: created["owner"]["_id"].as_str().unwrap().to_owned(),
        secret: created["owner"]["_secret"].as_str().unwrap().to_owned(),
    };
    let a = owner.app_id.clone();
    let (svc, svc_secret) = app
        .make_client(&owner, "svc", &["direct_access"])
        .await
        .credentials();
    // OAuth keys: ES256 in one application (made on first use, then rotated: two keys), EdDSA
    // in another.
    let before = app.access_token(&a, &svc, &svc_secret).await;
    app.operator()
        .call(Method::POST, &format!("/apps/{a}/oauth/rotate"))
        .await
        .status_is(200);
    let blog = app.create_app("blog").await;
    let b = blog.app_id.clone();
    app.operator()
        .patch(&format!("/apps/{b}/oauth"), &json!({"signingAlg": "EdDSA"}))
        .await
        .status_is(200);
    let (reader, reader_secret) = app
        .make_client(&blog, "reader", &["direct_read_access"])
        .await
        .credentials();
    let blog_before = app.access_token(&b, &reader, &reader_secret).await;
    let old_kids = (kids(&app.jwks(&a).await), kids(&app.jwks(&b).await));
    assert_eq!((old_kids.0.len(), old_kids.1.len()), (2, 1));
    // The checkpoint key (made by the first checkpoint).
    let old_service = latchkey::startup::service(&test_settings(), app.pool.clone()).unwrap();
    assert!(old_service.evidence().make_checkpoints().await.unwrap() >= 1);
    // Sink secrets: a webhook's signing secret and a Splunk HEC token.
    let hook_rx = Receiver::start().await;
    let hec_rx = Receiver::start().await;
    let hook = create_sink(
        &app,
        json!({"name": "hook", "kind": "webhook", "url": hook_rx.url, "apps": [a]}),
    )
    .await;
    let hook_secret = hook["secret"].as_str().unwrap().to_owned();
    create_sink(
        &app,
        json!({"name": "hec", "kind": "splunk_hec", "url": hec_rx.url, "token": "hec-token-9",
               "apps": [a]}),
    )
    .await;
    let sealed = sealing_key_ids(&app).await;
    assert_eq!(sealed.len(), 8, "{sealed:?}");
    assert!(sealed.iter().all(|(_, k)| *k == old_id), "{sealed:?}");

    // The rotation, with both keys configured.
    let out = latchkey_with(&app, &["keys", "rotate"], &new_key, old_key).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(
        report,
        json!({"current_key_id": new_id, "resealed": 8, "unopenable": [],
               "stores": {"client_secrets": 2, "oauth_signing_keys": 3,
                          "audit_signing_keys": 1, "sinks": 2}})
    );
    let sealed = sealing_key_ids(&app).await;
    assert_eq!(sealed.len(), 8);
    assert!(sealed.iter().all(|(_, k)| *k == new_id), "{sealed:?}");
    // Again: nothing left to do.
    let again = latchkey_with(&app, &["keys", "rotate"], &new_key, "").await;
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        serde_json::from_str::<Value>(stdout(&again).trim()).unwrap(),
        json!({"current_key_id": new_id, "resealed": 0, "unopenable": [],
               "stores": {"client_secrets": 0, "oauth_signing_keys": 0,
                          "audit_signing_keys": 0, "sinks": 0}})
    );
    // The old key alone opens none of them: each is named, and the command fails.
    let old_only = latchkey_with(&app, &["keys", "rotate"], old_key, "").await;
    assert_eq!(old_only.status.code(), Some(1));
    let report: Value = serde_json::from_str(stdout(&old_only).trim()).unwrap();
    let unopenable: Vec<&str> = report["unopenable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(unopenable.len(), 8, "{unopenable:?}");
    for name in [
        format!("{a}/{svc}"),
        format!("{a}/{}", owner.client_id),
        format!("OAuth signing key {} of {a}", old_kids.0[0]),
        format!("OAuth signing key {} of {b}", old_kids.1[0]),
        "secret of sink hook".to_owned(),
        "secret of sink hec".to_owned(),
    ] {
        assert!(
            unopenable.contains(&name.as_str()),
            "{name} in {unopenable:?}"
        );
    }
    assert!(unopenable
        .iter()
        .any(|u| u.starts_with("audit signing key ")));
    assert_eq!(
        stderr(&old_only).trim(),
        "latchkey: 8 sealed secret(s) open with no configured key"
    );

    // A server with only the new key.
    let peer = app
        .spawn_peer(|s| {
            s.sealing.key = Some(new_key.clone());
            s.sealing.previous_keys = vec![];
        })
        .await;
    // OAuth: every key opens (the key sets publish them all), tokens of before verify, new
    // tokens sign and verify, with both algorithms; introspection says active.
    let (set_a, set_b) = (peer.jwks(&a).await, peer.jwks(&b).await);
    assert_eq!((kids(&set_a), kids(&set_b)), old_kids);
    for (t, set, app_id) in [(&before, &set_a, &a), (&blog_before, &set_b, &b)] {
        verify(t, set, app_id);
    }
    let after = peer.access_token(&a, &svc, &svc_secret).await;
    assert_eq!(verify(&after, &set_a, &a)["client_id"], svc.as_str());
    assert_eq!(
        jsonwebtoken::decode_header(&after).unwrap().alg,
        jsonwebtoken::Algorithm::ES256
    );
    let blog_after = peer.access_token(&b, &reader, &reader_secret).await;
    assert_eq!(
        verify(&blog_after, &set_b, &b)["client_id"],
        reader.as_str()
    );
    assert_eq!(
        jsonwebtoken::decode_header(&blog_after).unwrap().alg,
        jsonwebtoken::Algorithm::EdDSA
    );
    let intro = peer.introspect(&a, &svc, &svc_secret, &before).await;
    assert_eq!(intro["active"], true, "{intro}");
    // The OAuth command line with the new key alone rotates (opens the set, seals a new key).
    let out = latchkey_with(
        &app,
        &["oauth", "keys", "rotate", "--app", &b],
        &new_key,
        "",
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));

    // Sealed client secrets open: show_secrets shows the owner the client's secret.
    let shown = peer
        .by(&owner)
        .get(&format!("/config/{a}/clients/{svc}"))
        .await
        .status_is(200);
    assert_eq!(shown["_secret"], svc_secret.as_str(), "{shown}");

    // Checkpoints: one more change, then a checkpoint of the whole tree, signed by the key
    // opened with the new sealing key (by the peer's task or by this round, whichever first).
    peer.make_client(&owner, "after rotation", &[]).await;
    let size: i64 = app
        .scalar("SELECT max(seq) FROM audit_events WHERE app_id = $1", &[&a])
        .await;
    let mut new_settings = test_settings();
    new_settings.sealing.key = Some(new_key.clone());
    let new_service = latchkey::startup::service(&new_settings, app.pool.clone()).unwrap();
    let keys = crate::audit_evidence::keys(&peer).await;
    eventually("a checkpoint of the whole tree", async || {
        new_service.evidence().make_checkpoints().await.unwrap();
        let res = peer
            .by(&owner)
            .get(&format!("/config/{a}/audit/checkpoint"))
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        let (cp, _) = note::open_checkpoint(&res.text, &keys).unwrap();
        cp.size as i64 >= size
    })
    .await;

    // Sinks: the peer delivers, the webhook signed with its secret, Splunk with its token.
    eventually("both sinks deliver", async || {
        !hook_rx.received().is_empty() && !hec_rx.received().is_empty()
    })
    .await;
    for r in hook_rx.received() {
        let id = &r.headers["webhook-id"];
        let ts: i64 = r.headers["webhook-timestamp"].parse().unwrap();
        assert_eq!(
            r.headers["webhook-signature"],
            webhook_signature(&hook_secret, id, ts, r.body.as_bytes()).unwrap()
        );
    }
    for r in hec_rx.received() {
        assert_eq!(r.headers["authorization"], "Splunk hec-token-9");
    }
    for name in ["hook", "hec"] {
        let sink = peer
            .operator()
            .get(&format!("/sinks/{name}"))
            .await
            .status_is(200);
        assert_eq!(sink["last_error"], Value::Null, "{sink}");
    }
}

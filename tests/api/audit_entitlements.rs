//! Entitlements at any moment (issue #20, docs/audit.md "Access reviews"):
//! `GET /config/{appId}/audit/entitlements?at=` and `…/entitlements/changes?from=&to=`, the
//! materialised states, pruning, and `latchkey audit entitlements`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use latchkey::service::{Latchkey, RequestContext};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{json, Value};

use crate::entity_types::create_user_type;
use crate::helpers::*;

fn service(app: &TestApp) -> Latchkey {
    latchkey::startup::service(&test_settings(), app.pool.clone()).unwrap()
}

fn t(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

async fn get(app: &TestApp, owner: &Owner, path_and_query: &str) -> (u16, Value) {
    let (status, _, text) = get_text(app, owner, path_and_query).await;
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn get_text(app: &TestApp, owner: &Owner, path_and_query: &str) -> (u16, String, String) {
    let res = app
        .as_owner(
            owner,
            Method::GET,
            &format!(
                "/config/{}/audit/entitlements{path_and_query}",
                owner.app_id
            ),
        )
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, res.text().await.unwrap())
}

/// The time of the newest event (the moment "just after" the last step).
async fn head_time(app: &TestApp, app_id: &str) -> (i64, DateTime<Utc>) {
    sqlx::query_as("SELECT seq, occurred_at FROM audit_heads WHERE app_id = $1")
        .bind(app_id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// The entitlements as the tables hold them now, in the API's shape.
async fn from_tables(app: &TestApp, app_id: &str) -> Vec<Value> {
    let clients: Vec<(String, String, Vec<String>, Vec<String>)> = sqlx::query_as(
        "SELECT client_id, name, features,
                ARRAY(SELECT n::text FROM unnest(ip_whitelist) WITH ORDINALITY u(n, i) ORDER BY i)
           FROM clients WHERE app_id = $1",
    )
    .bind(app_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let schemas: Vec<(String, String, String, Vec<String>)> = sqlx::query_as(
        "SELECT client_id, type_name, access_type, attributes FROM access_schemas WHERE app_id = $1",
    )
    .bind(app_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut by_id: BTreeMap<String, Value> = BTreeMap::new();
    for (id, name, mut features, ips) in clients {
        features.sort();
        by_id.insert(
            id.clone(),
            json!({"_id": id, "name": name, "features": features, "ipWhitelist": ips,
                   "accessSchemas": {}}),
        );
    }
    for (id, type_name, access, attributes) in schemas {
        let c = by_id.get_mut(&id).unwrap();
        let schemas = c["accessSchemas"].as_object_mut().unwrap();
        let lists = schemas.entry(type_name).or_insert_with(|| json!({}));
        lists[access] = json!(attributes);
    }
    by_id.into_values().collect()
}

fn ids_of(clients: &[Value]) -> Vec<String> {
    clients
        .iter()
        .map(|c| c["_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The kinds of change between two table states (the rotation is not in the tables).
fn expected_kinds(
    before: &[Value],
    after: &[Value],
    rotated: Option<&str>,
) -> Vec<(String, String)> {
    let b: BTreeMap<_, _> = before
        .iter()
        .map(|c| (c["_id"].as_str().unwrap(), c))
        .collect();
    let a: BTreeMap<_, _> = after
        .iter()
        .map(|c| (c["_id"].as_str().unwrap(), c))
        .collect();
    let mut out = Vec::new();
    let mut ids: Vec<&str> = b.keys().chain(a.keys()).copied().collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        match (b.get(id), a.get(id)) {
            (None, Some(_)) => out.push((id.to_owned(), "client_created".to_owned())),
            (Some(_), None) => out.push((id.to_owned(), "client_deleted".to_owned())),
            (Some(x), Some(y)) => {
                let fx: Vec<&Value> = x["features"].as_array().unwrap().iter().collect();
                let fy: Vec<&Value> = y["features"].as_array().unwrap().iter().collect();
                if fy.iter().any(|f| !fx.contains(f)) {
                    out.push((id.to_owned(), "feature_granted".to_owned()));
                }
                if fx.iter().any(|f| !fy.contains(f)) {
                    out.push((id.to_owned(), "feature_revoked".to_owned()));
                }
                if x["ipWhitelist"] != y["ipWhitelist"] {
                    out.push((id.to_owned(), "allow_list_changed".to_owned()));
                }
                if x["accessSchemas"] != y["accessSchemas"] {
                    out.push((id.to_owned(), "access_schema_changed".to_owned()));
                }
            }
            (None, None) => {}
        }
    }
    if let Some(id) = rotated {
        out.push((id.to_owned(), "secret_rotated".to_owned()));
    }
    out
}

/// A step of the property test: the time and revision after it, the tables then, and the
/// client whose secret it rotated.
type Step = (DateTime<Utc>, i64, Vec<Value>, Option<String>);

const FEATURE_SETS: &[&[&str]] = &[
    &[],
    &["direct_access"],
    &["direct_read_access"],
    &["access_issuer", "direct_read_access"],
    &["login_client"],
    &["access_issuer"],
];
const ALLOW_LISTS: &[&[&str]] = &[
    &["0.0.0.0/0"],
    &["10.0.0.0/8"],
    &["10.0.0.0/8", "192.168.1.0/24"],
    &["2001:db8::/32"],
];
const ATTRIBUTES: &[&str] = &["email", "givenName", "gender", "primaryAddress.city"];

/// One random change through the Config API; returns the client whose secret it rotated.
async fn random_change(
    app: &TestApp,
    owner: &Owner,
    rng: &mut StdRng,
    clients: &mut Vec<String>,
    n: usize,
) -> Option<String> {
    let base = format!("/config/{}/clients", owner.app_id);
    let pick = if clients.is_empty() {
        0
    } else {
        rng.random_range(0..7)
    };
    match pick {
        0 | 1 => {
            let mut body = json!({"name": format!("client {n}"),
                                  "features": FEATURE_SETS.choose(rng).unwrap()});
            if rng.random_bool(0.5) {
                body["ipWhitelist"] = json!(ALLOW_LISTS.choose(rng).unwrap());
            }
            let id = app.create_client(owner, body).await.id;
            clients.push(id);
            None
        }
        2 => {
            let id = clients.choose(rng).unwrap().clone();
            let body = json!({"name": format!("renamed {n}"),
                              "features": FEATURE_SETS.choose(rng).unwrap(),
                              "ipWhitelist": ALLOW_LISTS.choose(rng).unwrap()});
            let res = app
                .as_owner(owner, Method::PUT, &format!("{base}/{id}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
            None
        }
        3 => {
            let i = rng.random_range(0..clients.len());
            let id = clients.remove(i);
            let res = app
                .as_owner(owner, Method::DELETE, &format!("{base}/{id}"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
            None
        }
        4 | 5 => {
            let id = clients.choose(rng).unwrap().clone();
            let access = ["read", "write"].choose(rng).unwrap();
            let k = rng.random_range(0..=ATTRIBUTES.len());
            let attrs: Vec<&str> = ATTRIBUTES.choose_multiple(rng, k).copied().collect();
            let path = format!("{base}/{id}/accessSchemas/user/{access}");
            let res = if pick == 5 && rng.random_bool(0.5) {
                app.as_owner(owner, Method::DELETE, &path)
                    .send()
                    .await
                    .unwrap()
            } else {
                app.as_owner(owner, Method::PUT, &path)
                    .json(&json!({ "attributes": attrs }))
                    .send()
                    .await
                    .unwrap()
            };
            // Deleting a schema that is not there is 404 and changes nothing.
            assert!(
                [200, 204, 404].contains(&res.status().as_u16()),
                "{}",
                res.text().await.unwrap()
            );
            None
        }
        _ => {
            let id = clients.choose(rng).unwrap().clone();
            let res = app
                .as_owner(owner, Method::PUT, &format!("{base}/{id}/secret"))
                .json(&json!({"hoursToLive": rng.random_range(0..3)}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
            Some(id)
        }
    }
}

/// Property: for random sequences of changes through the HTTP API, the entitlements at each
/// step's time equal the tables at that step, the changes between two steps are exactly the
/// differences, "now" always equals the current tables, and materialised states change no
/// answer. The seed is printed; `ENTITLEMENTS_SEED` replays one.
#[tokio::test]
async fn entitlements_at_every_step_equal_the_tables_then() {
    let app = spawn_app().await;
    let seeds: Vec<u64> = match std::env::var("ENTITLEMENTS_SEED") {
        Ok(s) => vec![s.parse().unwrap()],
        Err(_) => (0..2).map(|_| rand::random()).collect(),
    };
    for seed in seeds {
        eprintln!("ENTITLEMENTS_SEED={seed}");
        let mut rng = StdRng::seed_from_u64(seed);
        let owner = app.create_app(&format!("shop {seed}")).await;
        create_user_type(&app, &owner).await;
        let mut clients = Vec::new();
        let mut steps: Vec<Step> = Vec::new();
        let (seq, at) = head_time(&app, &owner.app_id).await;
        steps.push((at, seq, from_tables(&app, &owner.app_id).await, None));
        for n in 0..30 {
            let rotated = random_change(&app, &owner, &mut rng, &mut clients, n).await;
            let (seq, at) = head_time(&app, &owner.app_id).await;
            let tables = from_tables(&app, &owner.app_id).await;
            let (status, now) = get(&app, &owner, "").await;
            assert_eq!(status, 200, "{now}");
            assert_eq!(now["clients"], json!(tables), "seed {seed}: now, step {n}");
            assert_eq!(now["revision"], seq, "seed {seed}");
            steps.push((at, seq, tables, rotated));
        }
        let check = |steps: Vec<Step>| {
            let app = &app;
            let owner = &owner;
            async move {
                for (i, (at, seq, tables, _)) in steps.iter().enumerate() {
                    let (status, body) = get(app, owner, &format!("?at={}", t(at))).await;
                    assert_eq!(status, 200, "{body}");
                    assert_eq!(
                        body,
                        json!({"at": t(at), "revision": seq, "clients": tables}),
                        "seed {seed}: step {i}"
                    );
                }
                for pair in steps.windows(2) {
                    let ((from, _, before, _), (to, _, after, rotated)) = (&pair[0], &pair[1]);
                    let (status, body) = get(
                        app,
                        owner,
                        &format!("/changes?from={}&to={}", t(from), t(to)),
                    )
                    .await;
                    assert_eq!(status, 200, "{body}");
                    let mut kinds: Vec<(String, String)> = body["changes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| {
                            (
                                c["client"].as_str().unwrap().to_owned(),
                                c["kind"].as_str().unwrap().to_owned(),
                            )
                        })
                        .collect();
                    kinds.sort();
                    let mut expected = expected_kinds(before, after, rotated.as_deref());
                    expected.sort();
                    assert_eq!(kinds, expected, "seed {seed}: {body}");
                }
            }
        };
        check(steps.clone()).await;
        // Materialised states (every 4 events here) answer the same.
        let made = service(&app)
            .audit()
            .materialise_entitlement_states(4)
            .await
            .unwrap();
        assert!(made >= 5, "{made} states");
        check(steps).await;
        assert_eq!(
            ids_of(&from_tables(&app, &owner.app_id).await).len(),
            clients.len() + 1
        );
    }
}

/// An application with one client, a schema, a change and a rotation at known times.
async fn history(app: &TestApp) -> (Owner, String, Vec<DateTime<Utc>>) {
    let owner = app.create_app("shop").await;
    create_user_type(app, &owner).await;
    let mut times = vec![head_time(app, &owner.app_id).await.1];
    let id = app
        .fenced_client(&owner, "mailer", &["direct_read_access"], &["10.0.0.0/8"])
        .await
        .id;
    times.push(head_time(app, &owner.app_id).await.1);
    let base = format!("/config/{}/clients/{id}", owner.app_id);
    let res = app
        .as_owner(
            &owner,
            Method::PUT,
            &format!("{base}/accessSchemas/user/read"),
        )
        .json(&json!({"attributes": ["email"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    times.push(head_time(app, &owner.app_id).await.1);
    let res = app
        .as_owner(&owner, Method::PUT, &base)
        .json(&json!({"name": "mailer 2", "features": ["direct_access"],
                      "ipWhitelist": ["10.0.0.0/8", "192.168.0.0/16"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    times.push(head_time(app, &owner.app_id).await.1);
    let res = app
        .as_owner(&owner, Method::PUT, &format!("{base}/secret"))
        .json(&json!({"hoursToLive": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    times.push(head_time(app, &owner.app_id).await.1);
    (owner, id, times)
}

fn owner_entry(owner: &Owner) -> Value {
    json!({"_id": owner.client_id, "name": "owner", "features": ["owner"],
           "ipWhitelist": ["0.0.0.0/0"], "accessSchemas": {}})
}

fn sorted(mut v: Vec<Value>) -> Value {
    v.sort_by(|a, b| a["_id"].as_str().cmp(&b["_id"].as_str()));
    json!(v)
}

#[tokio::test]
async fn the_table_at_a_moment_and_the_changes_between_two() {
    let app = spawn_app().await;
    let (owner, id, times) = history(&app).await;
    let own = owner_entry(&owner);
    // After the schema, before the update.
    let (status, body) = get(&app, &owner, &format!("?at={}", t(&times[2]))).await;
    assert_eq!(status, 200, "{body}");
    let mailer = json!({"_id": id, "name": "mailer", "features": ["direct_read_access"],
        "ipWhitelist": ["10.0.0.0/8"],
        "accessSchemas": {"user": {"read": ["id", "uuid", "created", "lastUpdated", "email"]}}});
    assert_eq!(
        body,
        json!({"at": t(&times[2]), "revision": 5, "clients": sorted(vec![own.clone(), mailer])})
    );
    // Before the client existed: only the owner.
    let (_, body) = get(&app, &owner, &format!("?at={}", t(&times[0]))).await;
    assert_eq!(body["clients"], json!([own.clone()]));
    assert_eq!(body["revision"], 3);
    // The same moment as CSV: one row per client, lists joined with a space.
    let (status, ct, csv) =
        get_text(&app, &owner, &format!("?at={}&format=csv", t(&times[4]))).await;
    assert_eq!(
        (status, ct.as_str()),
        (200, "text/csv; charset=utf-8; header=present")
    );
    let mut rows = [
        format!("{},owner,owner,0.0.0.0/0,", owner.client_id),
        format!(
            "{id},mailer 2,direct_access,10.0.0.0/8 192.168.0.0/16,\
             user:read=id uuid created lastUpdated email"
        ),
    ];
    rows.sort();
    assert_eq!(
        csv,
        format!(
            "_id,name,features,ipWhitelist,accessSchemas\r\n{}\r\n{}\r\n",
            rows[0], rows[1]
        )
    );
    // The changes after the creation, up to the rotation.
    let (status, body) = get(
        &app,
        &owner,
        &format!("/changes?from={}&to={}", t(&times[1]), t(&times[4])),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (at2, at3, at4) = (t(&times[2]), t(&times[3]), t(&times[4]));
    let actor = owner.client_id.as_str();
    assert_eq!(
        body,
        json!({"from": t(&times[1]), "to": at4, "changes": [
            {"at": at2, "revision": 5, "actor": actor, "client": id, "name": "mailer",
             "kind": "access_schema_changed",
             "detail": {"entityType": "user", "accessType": "read", "from": null,
                        "to": ["id", "uuid", "created", "lastUpdated", "email"]}},
            {"at": at3, "revision": 6, "actor": actor, "client": id, "name": "mailer 2",
             "kind": "feature_granted", "detail": {"features": ["direct_access"]}},
            {"at": at3, "revision": 6, "actor": actor, "client": id, "name": "mailer 2",
             "kind": "feature_revoked", "detail": {"features": ["direct_read_access"]}},
            {"at": at3, "revision": 6, "actor": actor, "client": id, "name": "mailer 2",
             "kind": "allow_list_changed",
             "detail": {"from": ["10.0.0.0/8"], "to": ["10.0.0.0/8", "192.168.0.0/16"]}},
            {"at": at4, "revision": 7, "actor": actor, "client": id, "name": "mailer 2",
             "kind": "secret_rotated", "detail": {"oldSecretHoursToLive": 2}},
        ]})
    );
    // Creation and deletion, by the operator; CSV of the changes.
    let res = app
        .as_operator(
            Method::DELETE,
            &format!("/config/{}/clients/{id}", owner.app_id),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let end = head_time(&app, &owner.app_id).await.1;
    let (status, _, csv) = get_text(
        &app,
        &owner,
        &format!("/changes?from={}&format=csv", t(&times[3])),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        csv,
        format!(
            "at,revision,actor,client,name,kind,detail\r\n\
             {at4},7,{actor},{id},mailer 2,secret_rotated,\"{{\"\"oldSecretHoursToLive\"\":2}}\"\r\n\
             {},8,operator,{id},mailer 2,client_deleted,\"{{\"\"features\"\":[\"\"direct_access\"\"]}}\"\r\n",
            t(&end)
        )
    );
    let (_, body) = get(
        &app,
        &owner,
        &format!("/changes?from={}&to={}", t(&times[0]), t(&times[1])),
    )
    .await;
    assert_eq!(
        body["changes"],
        json!([{"at": t(&times[1]), "revision": 4, "actor": actor, "client": id,
                "name": "mailer", "kind": "client_created",
                "detail": {"features": ["direct_read_access"], "ipWhitelist": ["10.0.0.0/8"]}}])
    );
    // The operator reads too; now (no `at`) is the current state.
    let (status, body) = status_json(
        app.as_operator(
            Method::GET,
            &format!("/config/{}/audit/entitlements", owner.app_id),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["clients"], json!([own]));
    assert_eq!(body["revision"], 8);
}

#[tokio::test]
async fn bad_input_is_400_with_a_message() {
    let app = spawn_app().await;
    let (owner, _, times) = history(&app).await;
    let created: DateTime<Utc> = app
        .scalar(
            "SELECT occurred_at FROM audit_events WHERE app_id = $1 AND seq = 1",
            &[&owner.app_id],
        )
        .await;
    let future = t(&(Utc::now() + Duration::hours(1)));
    let before = t(&(created - Duration::seconds(1)));
    let bad_time = "Invalid at: expected an RFC 3339 time such as 2024-05-01T00:00:00Z.";
    let history_msg = format!(
        "The audit history starts at {}: entitlements can be reconstructed from that moment on.",
        t(&created)
    );
    for (query, msg) in [
        ("?at=yesterday".to_owned(), bad_time.to_owned()),
        ("?at=2024-13-01".to_owned(), bad_time.to_owned()),
        (
            format!("?at={future}"),
            "Invalid at: the moment is in the future.".to_owned(),
        ),
        (format!("?at={before}"), history_msg.clone()),
        (
            "?format=xml".to_owned(),
            "Invalid format: expected json or csv.".to_owned(),
        ),
        (
            "?when=now".to_owned(),
            "Unknown parameter: when.".to_owned(),
        ),
        (
            "?at=2024-01-01&at=2024-01-02".to_owned(),
            "Parameter at given more than once.".to_owned(),
        ),
        (
            "/changes".to_owned(),
            "Parameter from is required.".to_owned(),
        ),
        (
            "/changes?to=2024-01-01".to_owned(),
            "Parameter from is required.".to_owned(),
        ),
        (
            format!("/changes?from={}&to={}", t(&times[3]), t(&times[1])),
            "from must not be later than to.".to_owned(),
        ),
        (
            format!("/changes?from={}&to={future}", t(&times[1])),
            "Invalid to: the moment is in the future.".to_owned(),
        ),
        (format!("/changes?from={before}"), history_msg.clone()),
        (
            "/changes?from=soon".to_owned(),
            "Invalid from: expected an RFC 3339 time such as 2024-05-01T00:00:00Z.".to_owned(),
        ),
    ] {
        let (status, body) = get(&app, &owner, &query).await;
        assert_eq!((status, body), (400, errors(&msg)), "{query}");
    }
    // The exact start of the history answers (the application had no clients yet).
    let (status, body) = get(&app, &owner, &format!("?at={}", t(&created))).await;
    assert_eq!((status, &body["clients"]), (200, &json!([])), "{body}");
    assert_eq!(body["revision"], 1);
    // from = to: nothing changed in an empty interval.
    let (status, body) = get(
        &app,
        &owner,
        &format!("/changes?from={0}&to={0}", t(&times[2])),
    )
    .await;
    assert_eq!((status, &body["changes"]), (200, &json!([])));
}

#[tokio::test]
async fn only_owners_and_the_operator_read_and_tenants_stay_apart() {
    let app = spawn_app().await;
    let (owner, _, _) = history(&app).await;
    let other = app.create_app("other").await;
    let (plain, secret) = app
        .make_client(&owner, "reader", &["direct_read_access"])
        .await
        .credentials();
    for path in ["", "/changes?from=2024-01-01"] {
        let url = format!("/config/{}/audit/entitlements{path}", owner.app_id);
        let (status, body) = status_json(
            app.as_client(&plain, &secret, Method::GET, &url)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, body), (403, errors("Forbidden")), "{path}");
        // Another application's owner.
        let (status, _) = status_json(
            app.as_owner(&other, Method::GET, &url)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(status == 401 || status == 403, "{path}: {status}");
    }
    let (_, body) = get(&app, &other, "").await;
    assert_eq!(body["clients"], json!([owner_entry(&other)]));
}

#[tokio::test]
async fn pruning_keeps_the_state_at_the_prune_point() {
    let app = spawn_app().await;
    let (owner, id, times) = history(&app).await;
    let a = owner.app_id.as_str();
    let svc = service(&app);
    let operator = RequestContext::command_line();
    let _ = svc
        .audit()
        .set_retention(&operator, &latchkey::domain::ids::Named::parse(a), Some(1))
        .await
        .unwrap();
    // Periodic states before the prune point go with it.
    assert!(svc.audit().materialise_entitlement_states(2).await.unwrap() >= 2);
    let expected_now = get(&app, &owner, "").await.1["clients"].clone();
    let at_schema = get(&app, &owner, &format!("?at={}", t(&times[2]))).await.1;
    // A day after the schema was set, everything up to it (seq 5) has expired.
    let through: i64 = sqlx::query_scalar(
        "SELECT max(seq) FROM audit_events WHERE app_id = $1 AND occurred_at <= $2",
    )
    .bind(a)
    .bind(times[2])
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(through, 5);
    let done = svc
        .audit()
        .prune(
            &operator,
            &latchkey::domain::ids::Named::parse(a),
            times[2] + Duration::days(1) + Duration::microseconds(1),
            false,
        )
        .await
        .unwrap()
        .value;
    assert_eq!(done.through_seq, Some(5));
    let states: Vec<(i64, String)> = sqlx::query_as(
        "SELECT seq, reason FROM audit_entitlement_states WHERE app_id = $1 ORDER BY seq",
    )
    .bind(a)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(states.first(), Some(&(5, "prune".to_owned())), "{states:?}");
    // The prune point and later still answer, exactly as before; earlier is refused.
    assert_eq!(
        get(&app, &owner, &format!("?at={}", t(&times[2]))).await.1,
        at_schema
    );
    assert_eq!(get(&app, &owner, "").await.1["clients"], expected_now);
    let (status, body) = get(&app, &owner, &format!("?at={}", t(&times[1]))).await;
    let msg = format!(
        "The audit history starts at {}: entitlements can be reconstructed from that moment on.",
        t(&times[2])
    );
    assert_eq!((status, body), (400, errors(&msg)));
    let (status, body) = get(&app, &owner, &format!("/changes?from={}", t(&times[2]))).await;
    assert_eq!(status, 200, "{body}");
    let kinds: Vec<&str> = body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "feature_granted",
            "feature_revoked",
            "allow_list_changed",
            "secret_rotated"
        ]
    );
    assert_eq!(body["changes"][0]["client"], json!(id));
}

#[tokio::test]
async fn the_command_line_prints_the_same_answers() {
    let app = spawn_app().await;
    let (owner, _, times) = history(&app).await;
    let a = owner.app_id.as_str();
    let out = app
        .cli(&["audit", "entitlements", "--app", a, "--at", &t(&times[2])])
        .run()
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let printed: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        printed,
        get(&app, &owner, &format!("?at={}", t(&times[2]))).await.1
    );
    let out = app
        .cli(&[
            "audit",
            "entitlements",
            "--app",
            a,
            "--at",
            &t(&times[4]),
            "--format",
            "csv",
        ])
        .run()
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        get_text(&app, &owner, &format!("?at={}&format=csv", t(&times[4])))
            .await
            .2
    );
    let (from, to) = (t(&times[1]), t(&times[4]));
    let out = app
        .cli(&[
            "audit",
            "entitlements",
            "--app",
            a,
            "--from",
            &from,
            "--to",
            &to,
        ])
        .run()
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let printed: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        printed,
        get(&app, &owner, &format!("/changes?from={from}&to={to}"))
            .await
            .1
    );
    let out = app
        .cli(&["audit", "entitlements", "--app", a, "--at", "2999-01-01"])
        .run()
        .await;
    exited_saying(&out, 1, "Invalid at: the moment is in the future.");
}

/// A snapshot restore writes its changes as per-client events (client.delete/create/update,
/// access_schema.set/delete, client.secret_restore): the reconstruction follows it like any
/// other change.
#[tokio::test]
async fn a_snapshot_restore_is_followed_like_any_change() {
    let app = spawn_app().await;
    let (owner, id, _) = history(&app).await;
    let a = owner.app_id.as_str();
    let saved = from_tables(&app, a).await;
    let res = app
        .as_operator(Method::PUT, &format!("/apps/{a}/snapshots/baseline"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    // Change everything: a new client, the schema gone, the client's features and list.
    app.make_client(&owner, "extra", &["access_issuer"]).await;
    let base = format!("/config/{a}/clients/{id}");
    let res = app
        .as_owner(
            &owner,
            Method::DELETE,
            &format!("{base}/accessSchemas/user/read"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app
        .as_owner(&owner, Method::PUT, &base)
        .json(&json!({"name": "mailer 3", "features": [], "ipWhitelist": ["0.0.0.0/0"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (_, before_restore) = head_time(&app, a).await;
    let changed = from_tables(&app, a).await;
    let res = app
        .as_operator(
            Method::POST,
            &format!("/apps/{a}/snapshots/baseline/restore"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let (seq, restored_at) = head_time(&app, a).await;
    assert_eq!(from_tables(&app, a).await, saved);
    let (_, body) = get(&app, &owner, &format!("?at={}", t(&before_restore))).await;
    assert_eq!(body["clients"], json!(changed));
    let (_, body) = get(&app, &owner, &format!("?at={}", t(&restored_at))).await;
    assert_eq!(
        body,
        json!({"at": t(&restored_at), "revision": seq, "clients": saved})
    );
    let (_, body) = get(
        &app,
        &owner,
        &format!("/changes?from={}", t(&before_restore)),
    )
    .await;
    let mut kinds: Vec<(String, String)> = body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["client"].as_str().unwrap().to_owned(),
                c["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    kinds.sort();
    let mut expected = expected_kinds(&changed, &saved, None);
    expected.sort();
    assert_eq!(kinds, expected, "{body}");
}

//! Revisions, snapshots and the change feed, with two server instances on one database: a
//! change made through one is seen by the other within the bound, a lost listener never yields
//! a stale answer, the feed resumes exactly, `atLeastAsFresh` never answers from the past.

use std::time::{Duration, Instant};

use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::access_schemas::put_schema;
use crate::entity_types::create_user_type;
use crate::helpers::*;

/// How long a change may take to reach the other instance in these tests (the measured p99 is
/// in bench/README.md; this is loose because the test machine is shared).
const BOUND: Duration = Duration::from_secs(3);

/// Polls `probe` until it holds; the time it took. Fails past [`BOUND`].
async fn within(what: &str, probe: impl AsyncFnMut() -> bool) -> Duration {
    poll_until(what, BOUND, Duration::from_millis(2), probe).await
}

fn revision_of(res: &Reply) -> Option<i64> {
    res.headers
        .get("x-latchkey-revision")
        .map(|v| v.to_str().unwrap().parse().unwrap())
}

async fn head(app: &TestApp, app_id: &str) -> i64 {
    app.scalar("SELECT seq FROM audit_heads WHERE app_id = $1", &[app_id])
        .await
}

async fn decide(app: &TestApp, o: &Owner, body: Value) -> (u16, Value) {
    app.config(o).post("/access/check", &body).await.pair()
}

fn read_email(client: &str) -> Value {
    json!({"clientId": client, "entityType": "user", "access": "read", "record": "any",
           "attributes": ["email"]})
}

async fn auth_status(app: &TestApp, o: &Owner, id: &str, secret: &str) -> u16 {
    app.by_client(id, secret)
        .get(&format!("/config/{}/clients", o.app_id))
        .await
        .status
}

/// Two instances with live listeners, an application with the `user` type and a client
/// `reader` (direct_read_access) that is also an owner-free caller of nothing.
async fn two_instances(
    configure: impl Fn(&mut latchkey::settings::Settings) + Copy,
) -> (TestApp, TestApp, Owner) {
    // These tests are about snapshot mode unless they say otherwise, whatever the run's default.
    let configure = move |s: &mut latchkey::settings::Settings| {
        s.snapshots.consistency = Consistency::Snapshot;
        configure(s)
    };
    let a = spawn_app_with(configure).await;
    let b = a.spawn_peer(configure).await;
    listening(&[&a, &b]).await;
    let owner = a.create_app("shop").await;
    create_user_type(&a, &owner).await;
    (a, b, owner)
}

/// A client allowed to read, the subject of the decisions below.
async fn reader_client(a: &TestApp, owner: &Owner) -> String {
    a.make_client(owner, "reader", &["direct_read_access"])
        .await
        .id
}

/// Removes the client's features in the database directly: no audit event, no notification.
async fn drop_features_behind_its_back(a: &TestApp, owner: &Owner, client: &str) {
    sqlx::query("UPDATE clients SET features = '{}' WHERE app_id = $1 AND client_id = $2")
        .bind(&owner.app_id)
        .bind(client)
        .execute(&a.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn every_successful_write_answers_its_revision_on_both_surfaces() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let res = app
        .config(&owner)
        .create_client(&json!({"name": "x", "features": ["direct_access"]}))
        .await;
    assert_eq!(res.status, 201);
    assert_eq!(revision_of(&res), Some(head(&app, &owner.app_id).await));
    let x = res.body["_id"].as_str().unwrap().to_owned();
    // The Registration API: a write answers the revision, an error does not.
    let res = app
        .as_owner(&owner, Method::POST, "/clients/set_features")
        .form(&[
            ("for_client_id", x.as_str()),
            ("features", r#"["direct_read_access"]"#),
        ])
        .fetch()
        .await;
    let rev = revision_of(&res);
    assert_eq!(res.body, json!({"stat": "ok"}));
    assert_eq!(rev, Some(head(&app, &owner.app_id).await));
    let res = app
        .as_owner(&owner, Method::POST, "/clients/set_features")
        .form(&[("for_client_id", x.as_str()), ("features", r#"["nope"]"#)])
        .fetch()
        .await;
    assert_eq!(revision_of(&res), None);
    // Refused and read-only calls carry none.
    let res = app
        .config(&owner)
        .put_client(&x, &json!({"name": "", "features": [], "ipWhitelist": []}))
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(revision_of(&res), None);
    let res = app.config(&owner).get_client(&x).await;
    assert_eq!(res.status, 200);
    assert_eq!(revision_of(&res), None);
    // Each write moves it by its events.
    let before = head(&app, &owner.app_id).await;
    let res = app.config(&owner).put("/settings", &json!({"a": 1})).await;
    assert_eq!(res.status, 200);
    assert_eq!(revision_of(&res), Some(before + 1));
}

#[tokio::test]
async fn changes_through_one_instance_reach_the_other() {
    let (a, b, owner) = two_instances(|_| {}).await;
    let (reader, reader_secret) = a
        .make_client(&owner, "reader", &["direct_read_access"])
        .await
        .credentials();
    let allowed = json!({"allowed": true, "reason": "ok", "permitted": ["email"], "denied": [],
                         "updatesLastUpdated": true});
    let strip = |(s, mut v): (u16, Value)| {
        v.as_object_mut().map(|o| o.remove("revision"));
        (s, v)
    };
    // B is listening: its snapshots are trusted.
    assert_eq!(
        metric(&b, r#"latchkey_snapshot{what="trusted"}"#).await,
        1.0
    );
    // B loads its snapshot.
    assert_eq!(
        strip(decide(&b, &owner, read_email(&reader)).await),
        (200, allowed.clone())
    );
    assert_eq!(auth_status(&b, &owner, &reader, &reader_secret).await, 403);

    // Access schema: email no longer permitted.
    assert_eq!(
        put_schema(&a, &owner, &reader, "read", json!(["givenName"]))
            .await
            .0,
        200
    );
    let took = within("access schema", || async {
        strip(decide(&b, &owner, read_email(&reader)).await).1["reason"]
            == "attribute_not_permitted"
    })
    .await;
    println!("access schema change seen by the other instance after {took:?}");

    // Feature change: no read feature at all.
    let path = format!("/config/{}/clients/{reader}", owner.app_id);
    let res = a
        .by(&owner)
        .put(
            &path,
            &json!({"name": "reader", "features": [], "ipWhitelist": ["0.0.0.0/0"]}),
        )
        .await;
    assert_eq!(res.status, 200);
    within("feature change", || async {
        strip(decide(&b, &owner, read_email(&reader)).await).1["reason"] == "no_feature"
    })
    .await;

    // Allow list: a source address outside it.
    let mut q = read_email(&reader);
    q["sourceIp"] = json!("192.0.2.7");
    let res = a.by(&owner).put(&path, &json!({"name": "reader", "features": ["direct_read_access"], "ipWhitelist": ["10.0.0.0/8"]})).await;
    assert_eq!(res.status, 200);
    within("allow list", || async {
        strip(decide(&b, &owner, q.clone()).await).1["reason"] == "ip_not_allowed"
    })
    .await;

    // Settings written through A are read through B.
    let settings = format!("/config/{}/settings", owner.app_id);
    let res = a.by(&owner).put(&settings, &json!({"k": "v"})).await;
    assert_eq!(res.status, 200);
    within("settings", || async {
        b.by(&owner).get(&settings).await.pair() == (200, json!({"k": "v"}))
    })
    .await;

    // Revocation by rotation with hoursToLive=0: the old secret stops working on B.
    let (svc, svc_secret) = a.make_client(&owner, "svc", &["owner"]).await.credentials();
    assert_eq!(auth_status(&b, &owner, &svc, &svc_secret).await, 200);
    let new_secret = a.config(&owner).new_secret(&svc, 0).await;
    let took = within("revocation by rotation", || async {
        auth_status(&b, &owner, &svc, &svc_secret).await == 401
    })
    .await;
    println!("revocation seen by the other instance after {took:?}");
    assert_eq!(auth_status(&b, &owner, &svc, &new_secret).await, 200);

    // Revocation by deletion, on both surfaces of B.
    let res = a.config(&owner).delete_client(&reader).await;
    assert_eq!(res.status, 204);
    within("deletion", || async {
        strip(decide(&b, &owner, read_email(&reader)).await).1["reason"] == "bad_credentials"
    })
    .await;
    let body = b
        .by_client(&reader, &reader_secret)
        .call(Method::POST, "/settings/get_all")
        .await
        .body;
    assert_eq!(body["code"], 402, "{body}");
}

/// A write to one client leaves the other clients' snapshot entries in use, on the instance
/// that wrote and on the one that heard of it (what keeps a PUT load from reloading its
/// callers); a change to the whole application (settings without a client) reaches them all.
#[tokio::test]
async fn a_write_to_one_client_leaves_the_others_entries_in_use() {
    let (a, b, owner) = two_instances(|_| {}).await;
    let reader = reader_client(&a, &owner).await;
    let other = a.make_client(&owner, "other", &["direct_access"]).await.id;
    for app in [&a, &b] {
        assert_eq!(
            decide(app, &owner, read_email(&reader)).await.1["reason"],
            "ok"
        );
    }
    drop_features_behind_its_back(&a, &owner, &reader).await;

    let res = a
        .config(&owner)
        .put_client(
            &other,
            &json!({"name": "other", "features": [], "ipWhitelist": ["0.0.0.0/0"]}),
        )
        .await;
    let written = revision_of(&res).unwrap();
    res.status_is(200);
    within("B hears of the write", || async {
        b.snapshots.latest(&owner.app_id) >= written
    })
    .await;
    // Both still answer the reader from memory, and say the answer is current at the write.
    for app in [&a, &b] {
        let (status, body) = decide(app, &owner, read_email(&reader)).await;
        assert_eq!((status, &body["reason"]), (200, &json!("ok")), "{body}");
        assert_eq!(body["revision"], written.to_string(), "{body}");
    }

    let settings = format!("/config/{}/settings", owner.app_id);
    a.by(&owner)
        .put(&settings, &json!({"k": "v"}))
        .await
        .status_is(200);
    for app in [&a, &b] {
        within("a change to the whole application", || async {
            decide(app, &owner, read_email(&reader)).await.1["reason"] == "no_feature"
        })
        .await;
    }
}

/// A client listing is kept in the snapshot like a client: B answers it from memory (a change
/// written behind the service's back does not show), a change through A shows on B as soon as
/// B hears of it, and a write through B shows on B's very next listing. A filtered listing is
/// read from the database every time.
#[tokio::test]
async fn client_listings_are_snapshots_that_a_change_anywhere_refreshes() {
    let (a, b, owner) = two_instances(|_| {}).await;
    let reader = reader_client(&a, &owner).await;
    let features_of = |v: &Value, id: &str| -> Value {
        v.as_array()
            .unwrap()
            .iter()
            .find(|c| c["_id"] == id)
            .map_or(Value::Null, |c| c["features"].clone())
    };
    let listing = b.config(&owner).list_clients("").await.status_is(200);
    assert_eq!(
        features_of(&listing, &reader),
        json!(["direct_read_access"])
    );

    drop_features_behind_its_back(&a, &owner, &reader).await;
    let listing = b.config(&owner).list_clients("").await.status_is(200);
    assert_eq!(
        features_of(&listing, &reader),
        json!(["direct_read_access"]),
        "answered from B's snapshot"
    );
    let filtered = b
        .config(&owner)
        .list_clients("?has_feature=direct_read_access")
        .await
        .status_is(200);
    assert_eq!(filtered, json!([]), "a filtered listing reads the database");

    // A change through A: B's listing shows it (and what was written behind its back, read
    // with it) once B has heard of it.
    let added = a.add_client(&owner, "added", &["login_client"]).await;
    within("a listing after a change elsewhere", || async {
        let listing = b.config(&owner).list_clients("").await.status_is(200);
        features_of(&listing, &added) == json!(["login_client"])
            && features_of(&listing, &reader) == json!([])
    })
    .await;

    // A write through B shows on B's next listing, 20 times in a row.
    for i in 0..20 {
        let name = format!("own-{i}");
        let own = b.add_client(&owner, &name, &["direct_access"]).await;
        let listing = b.config(&owner).list_clients("").await.status_is(200);
        assert_eq!(
            features_of(&listing, &own),
            json!(["direct_access"]),
            "{name}"
        );
    }
}

/// A change B is never told about (written behind the service's back) shows that B answers
/// from memory; once B's listener is killed it must stop doing so, and come back.
#[tokio::test]
async fn a_lost_listener_means_no_stale_answer_then_recovery() {
    let (a, b, owner) = two_instances(|_| {}).await;
    let reader = reader_client(&a, &owner).await;
    assert_eq!(
        decide(&b, &owner, read_email(&reader)).await.1["reason"],
        "ok"
    );
    drop_features_behind_its_back(&a, &owner, &reader).await;
    // No notification: B's snapshot still says ok (so the snapshot really serves the decision)…
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        decide(&b, &owner, read_email(&reader)).await.1["reason"],
        "ok"
    );
    // …and the database says no_feature.
    let (_, fresh) = decide(
        &b,
        &owner,
        json!({"clientId": reader, "entityType": "user", "access": "read", "record": "any",
               "attributes": ["email"], "consistency": "fully_consistent"}),
    )
    .await;
    assert_eq!(fresh["reason"], "no_feature");

    let killed: i64 = a
        .scalar(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'latchkey-listener') k",
            &[],
        )
        .await;
    assert_eq!(killed, 2);
    let took = within("answer after the listener was lost", || async {
        decide(&b, &owner, read_email(&reader)).await.1["reason"] == "no_feature"
    })
    .await;
    println!("lost listener noticed after {took:?}");
    // From then on never the old answer, across the reconnection.
    for _ in 0..50 {
        assert_eq!(
            decide(&b, &owner, read_email(&reader)).await.1["reason"],
            "no_feature"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Recovery: listening again, and changes through A reach B by notification.
    listening(&[&a, &b]).await;
    let restored = json!({"name": "reader", "features": ["direct_read_access"],
                          "ipWhitelist": ["0.0.0.0/0"]});
    a.config(&owner)
        .put_client(&reader, &restored)
        .await
        .status_is(200);
    within("change after recovery", || async {
        decide(&b, &owner, read_email(&reader)).await.1["reason"] == "ok"
    })
    .await;
    // And B serves from memory again: a change behind its back is not seen.
    drop_features_behind_its_back(&a, &owner, &reader).await;
    assert_eq!(
        decide(&b, &owner, read_email(&reader)).await.1["reason"],
        "ok"
    );
}

/// After a failover the database may be behind a revision this instance heard of (commits the
/// new primary never received). Listening again, the instance reads the newest revisions,
/// counts the application as rewound and serves it from snapshots again (a revision left
/// above the database's would keep every entry of it unusable until the database passed it).
#[tokio::test]
async fn listening_again_catches_up_with_a_database_that_went_back() {
    let (a, _b, owner) = two_instances(|_| {}).await;
    let reader = reader_client(&a, &owner).await;
    assert_eq!(
        decide(&a, &owner, read_email(&reader)).await.1["reason"],
        "ok"
    );
    let heard = head(&a, &owner.app_id).await;
    assert_eq!(
        metric(&a, r#"latchkey_listener_events_total{event="rewinds"}"#).await,
        0.0
    );
    // The database loses the last two commits (as a standby promoted without them would).
    sqlx::query("UPDATE audit_heads SET seq = seq - 2 WHERE app_id = $1")
        .bind(&owner.app_id)
        .execute(&a.pool)
        .await
        .unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'latchkey-listener'",
    )
    .execute(&a.pool)
    .await
    .unwrap();
    within("the rewind counted", || async {
        metric(&a, r#"latchkey_listener_events_total{event="rewinds"}"#).await == 1.0
    })
    .await;
    listening(&[&a]).await;
    assert_eq!(
        metric(&a, r#"latchkey_listener_events_total{event="reconnects"}"#).await,
        1.0
    );
    // Loaded at the database's revision, the entry is trusted again: a change behind the
    // instance's back (no notification) is not seen, so the answer came from memory.
    let (_, fresh) = decide(&a, &owner, read_email(&reader)).await;
    assert_eq!(fresh["revision"], json!((heard - 2).to_string()));
    drop_features_behind_its_back(&a, &owner, &reader).await;
    assert_eq!(
        decide(&a, &owner, read_email(&reader)).await.1["reason"],
        "ok"
    );
    // The queue is the whole server's (other tests' listeners share it): exported and small.
    let usage = metric(&a, "latchkey_notification_queue_usage").await;
    assert!((0.0..0.01).contains(&usage), "{usage}");
}

#[tokio::test]
async fn strict_mode_reads_the_database_every_time() {
    let (a, b, owner) = two_instances(|s| s.snapshots.consistency = Consistency::Strict).await;
    let reader = reader_client(&a, &owner).await;
    assert_eq!(
        decide(&b, &owner, read_email(&reader)).await.1["reason"],
        "ok"
    );
    drop_features_behind_its_back(&a, &owner, &reader).await;
    assert_eq!(
        decide(&b, &owner, read_email(&reader)).await.1["reason"],
        "no_feature"
    );
}

#[tokio::test]
async fn at_least_as_fresh_never_answers_from_an_older_revision() {
    let (a, b, owner) = two_instances(|_| {}).await;
    let reader = reader_client(&a, &owner).await;
    let path = format!("/config/{}/clients/{reader}", owner.app_id);
    for round in 0..20 {
        let features = if round % 2 == 0 {
            json!([])
        } else {
            json!(["direct_read_access"])
        };
        let expected = if round % 2 == 0 { "no_feature" } else { "ok" };
        // B has a snapshot from before the change.
        decide(&b, &owner, read_email(&reader)).await;
        let res = a
            .by(&owner)
            .put(
                &path,
                &json!({"name": "reader", "features": features, "ipWhitelist": ["0.0.0.0/0"]}),
            )
            .await;
        assert_eq!(res.status, 200);
        let written = revision_of(&res).unwrap();
        let mut q = read_email(&reader);
        q["consistency"] = json!({"atLeastAsFresh": written.to_string()});
        let (status, body) = decide(&b, &owner, q).await;
        assert_eq!(status, 200);
        assert_eq!(body["reason"], expected, "round {round}: {body}");
        let used: i64 = body["revision"].as_str().unwrap().parse().unwrap();
        assert!(
            used >= written,
            "round {round}: answered at {used} < {written}"
        );
    }
    // A revision the application has not reached, and malformed consistencies: 400.
    let mut q = read_email(&reader);
    q["consistency"] =
        json!({"atLeastAsFresh": (head(&a, &owner.app_id).await + 1000).to_string()});
    assert_eq!(
        decide(&b, &owner, q.clone()).await,
        (
            400,
            errors("The application has not reached this revision.")
        )
    );
    for bad in [json!("soon"), json!({"atLeastAsFresh": "x"}), json!(7)] {
        q["consistency"] = bad;
        assert_eq!(
            decide(&b, &owner, q.clone()).await,
            (
                400,
                errors("Not a valid consistency: \"minimize_latency\", \"fully_consistent\" or {\"atLeastAsFresh\": \"<revision>\"}.")
            )
        );
    }
}

/// `GET /config/{appId}/changes{query}` as the owner, with an optional `Last-Event-ID`.
async fn feed_request(
    app: &TestApp,
    o: &Owner,
    query: &str,
    last_event_id: Option<&str>,
) -> Response {
    let mut req = app.as_owner(
        o,
        Method::GET,
        &format!("/config/{}/changes{query}", o.app_id),
    );
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id);
    }
    req.send().await.unwrap()
}

/// One parsed Server-Sent Event (comments are counted apart).
#[derive(Debug, Clone, PartialEq)]
struct Sse {
    id: i64,
    event: String,
    data: Value,
}

/// Reads a feed until `want` events arrived (or `heartbeats` comments, when asked for).
struct Feed {
    res: Response,
    buffer: String,
    heartbeats: usize,
}

impl Feed {
    async fn open(app: &TestApp, o: &Owner, query: &str, last_event_id: Option<i64>) -> Feed {
        let id = last_event_id.map(|i| i.to_string());
        let res = feed_request(app, o, query, id.as_deref()).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        Feed {
            res,
            buffer: String::new(),
            heartbeats: 0,
        }
    }

    async fn next(&mut self) -> Sse {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                if frame.starts_with(':') {
                    self.heartbeats += 1;
                    continue;
                }
                let mut sse = Sse {
                    id: -1,
                    event: String::new(),
                    data: Value::Null,
                };
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        sse.id = v.parse().unwrap();
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        sse.event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        sse.data = serde_json::from_str(v).unwrap();
                    }
                }
                return sse;
            }
            let chunk = tokio::time::timeout(BOUND, self.res.chunk())
                .await
                .expect("an event in time")
                .unwrap()
                .expect("the feed stays open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    async fn take(&mut self, n: usize) -> Vec<Sse> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(self.next().await);
        }
        out
    }
}

#[tokio::test]
async fn the_feed_delivers_every_change_in_order_and_resumes_exactly() {
    let (a, b, owner) = two_instances(|_| {}).await;
    for i in 0..3 {
        a.create_client(&owner, json!({"name": format!("c{i}")}))
            .await;
    }
    let audit = a.audit_rows(&owner.app_id).await;
    let total = audit.len();
    // From the beginning, on the other instance: the whole log, in order, as the audit log has it.
    let mut feed = Feed::open(&b, &owner, "", None).await;
    let first = feed.take(total).await;
    let ids: Vec<i64> = first.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=total as i64).collect::<Vec<_>>());
    for (e, row) in first.iter().zip(&audit) {
        assert_eq!(e.event, row["action"].as_str().unwrap());
        assert_eq!(e.data["seq"], json!(e.id));
        assert_eq!(e.data["event_id"], row["event_id"]);
        assert_eq!(e.data["actor"], row["actor"]);
    }
    // Live: a change through A arrives on B's feed.
    let sent = Instant::now();
    let res = a.config(&owner).put("/settings", &json!({"x": 1})).await;
    let live = feed.next().await;
    println!("feed delivery across instances after {:?}", sent.elapsed());
    assert_eq!(Some(live.id), revision_of(&res));
    assert_eq!(live.event, "settings.replace");
    drop(feed);
    // Changes while disconnected, then resume after event 2: 3.. exactly, nothing twice.
    for i in 3..5 {
        a.create_client(&owner, json!({"name": format!("c{i}")}))
            .await;
    }
    let last = head(&a, &owner.app_id).await;
    for (query, header) in [("", Some(2)), ("?after=2", None), ("?after=0", Some(2))] {
        let mut feed = Feed::open(&b, &owner, query, header).await;
        let got: Vec<i64> = feed
            .take((last - 2) as usize)
            .await
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(got, (3..=last).collect::<Vec<_>>(), "{query} {header:?}");
        // Nothing more until the next change.
        assert!(
            tokio::time::timeout(Duration::from_millis(300), feed.next())
                .await
                .is_err(),
            "no duplicate after the last event"
        );
    }
    // Bad resume points.
    let res = feed_request(&b, &owner, "?after=x", None).await;
    assert_eq!(
        status_json(res).await,
        (400, errors("Not a valid revision."))
    );
    let res = feed_request(&b, &owner, "", Some("-3")).await;
    assert_eq!(
        status_json(res).await,
        (400, errors("Not a valid revision."))
    );
}

#[tokio::test]
async fn the_feed_has_heartbeats_a_subscriber_limit_and_owners_only() {
    let app = spawn_app_with(|s| {
        s.feed.heartbeat_secs = 1;
        s.feed.max_subscribers = 1;
    })
    .await;
    let owner = app.create_app("shop").await;
    let mut feed = Feed::open(&app, &owner, "?after=1000", None).await;
    // No event after 1000: only heartbeats, the first at once, then one a second.
    assert!(
        tokio::time::timeout(Duration::from_millis(2600), feed.next())
            .await
            .is_err()
    );
    assert!(
        (2..=4).contains(&feed.heartbeats),
        "{} heartbeats",
        feed.heartbeats
    );
    // The limit: one subscriber.
    let res = feed_request(&app, &owner, "", None).await;
    assert_eq!(
        status_json(res).await,
        (503, errors("Service unavailable."))
    );
    drop(feed);
    // The place is given back once the subscriber is gone.
    within("subscriber place given back", || async {
        feed_request(&app, &owner, "", None).await.status() == 200
    })
    .await;
    // Not for a client without owner, nor without credentials.
    let (x, x_secret) = app.make_client(&owner, "x", &[]).await.credentials();
    let res = app
        .by_client(&x, &x_secret)
        .get(&format!("/config/{}/changes", owner.app_id))
        .await;
    assert_eq!(res.pair(), (403, errors("Forbidden")));
    let res = app
        .request(Method::GET, &format!("/config/{}/changes", owner.app_id))
        .fetch()
        .await;
    assert_eq!(res.pair(), (401, errors("Authentication required.")));
}

/// Write transactions look rows up by their primary keys even while a table is one page
/// (`store::tx::WRITE_BEGIN`). The plan a pooled connection caches for a hot row's lookup would
/// otherwise be the sequential scan of the tiny table, kept while the table fills with the row's
/// dead versions, and every write would scan them all inside the chain head's lock (bench/README.md,
/// "4 December 2026, third session").
#[tokio::test]
async fn write_transactions_look_rows_up_by_key_even_in_a_one_page_table() {
    let (app, owner) = spawn_app_with_owner("plans").await;
    // One connection, so that the plan after the transaction is the same connection's.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(app.pool.connect_options().as_ref().clone())
        .await
        .unwrap();
    sqlx::query("ANALYZE audit_heads")
        .execute(&pool)
        .await
        .unwrap();
    let explain = format!(
        "EXPLAIN SELECT seq FROM audit_heads WHERE app_id = '{}' FOR UPDATE",
        owner.app_id
    );
    // Outside a write transaction PostgreSQL scans the one-page table: the condition this guards.
    let outside = plan(&pool, &explain).await;
    assert!(outside.contains("Seq Scan on audit_heads"), "{outside}");
    let mut tx = latchkey::store::WriteTx::begin(&pool).await.unwrap();
    let inside = plan(&mut *tx, &explain).await;
    assert!(
        inside.contains("Index Scan using audit_heads_pkey on audit_heads"),
        "{inside}"
    );
    tx.rollback().await.unwrap();
    // SET LOCAL ended with the transaction: the same connection plans as before.
    let after = plan(&pool, &explain).await;
    assert!(after.contains("Seq Scan on audit_heads"), "{after}");
}

async fn plan<'e>(on: impl sqlx::PgExecutor<'e>, explain: &str) -> String {
    let lines: Vec<String> = sqlx::query_scalar(explain).fetch_all(on).await.unwrap();
    lines.join("\n")
}

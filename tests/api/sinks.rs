//! Sinks (docs/streaming.md): management over `/sinks`, refusals of bad configuration, and
//! delivery to real receivers started here (an HTTP receiver for webhooks and a Splunk HEC
//! stand-in, a TCP listener for syslog): signatures, order per application, pause on a 4xx,
//! rewind, and pruning that refuses to drop what a sink still owes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::Utc;
use latchkey::domain::sink::webhook_signature;
use latchkey::service::{RequestContext, ServiceError};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

use crate::helpers::*;

/// One request a receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// An HTTP receiver on a free port: records every request and answers `status`.
pub(crate) struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    pub async fn start() -> Self {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(200));
        let (g, s) = (got.clone(), status.clone());
        let server = HttpServer::new(move || {
            let (g, s) = (g.clone(), s.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: String| {
                let (g, s) = (g.clone(), s.clone());
                async move {
                    let code = s.load(Ordering::SeqCst);
                    if code == 200 {
                        let headers = req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                            .collect();
                        g.lock().unwrap().push(Received { headers, body });
                    }
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
                        .body(if code == 200 { "ok" } else { "nope" })
                }
            }))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            got,
            status,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

pub(crate) async fn create_sink(app: &TestApp, body: Value) -> Value {
    let got = app.operator().post("/sinks", &body).await.status_is(201);
    got
}

async fn get_sink(app: &TestApp, name: &str) -> Value {
    let got = app
        .operator()
        .get(&format!("/sinks/{name}"))
        .await
        .status_is(200);
    got
}

/// (app_id, seq) of every event in an application's log, in order.
async fn log_of(app: &TestApp, app_id: &str) -> Vec<(String, i64, String)> {
    sqlx::query_as::<_, (String, i64, String)>(
        "SELECT app_id, seq, event_id::text FROM audit_events WHERE app_id = $1 ORDER BY seq",
    )
    .bind(app_id)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// The records of webhook bodies (one record, or `{"events": […]}`): audit events and signed
/// checkpoints.
fn records_of(r: &Received) -> Vec<Value> {
    let v: Value = serde_json::from_str(&r.body).unwrap();
    match v.get("events") {
        Some(Value::Array(a)) => a.clone(),
        _ => vec![v],
    }
}

/// The audit events of webhook bodies (without the checkpoints the server may sign meanwhile).
fn events_of(r: &Received) -> Vec<Value> {
    records_of(r)
        .into_iter()
        .filter(|e| e["action"] != "checkpoint")
        .collect()
}

#[tokio::test]
async fn the_operator_manages_sinks_and_secrets_stay_sealed() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let a = owner.app_id.as_str();
    // Not the operator: no sinks.
    let res = app.by(&owner).get("/sinks").await;
    assert_eq!(res.status, 401);

    let mut created = create_sink(
        &app,
        json!({"name": "siem", "kind": "webhook", "url": "http://127.0.0.1:9/hook", "apps": [a],
               "actions": ["client.update", "client.create"], "batch_max": 20}),
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 50,
        "{secret}"
    );
    let created_at = created["created_at"].as_str().unwrap().to_owned();
    created.as_object_mut().unwrap().remove("secret");
    let expected = json!({"name": "siem", "kind": "webhook", "destination": "http://127.0.0.1:9/hook",
        "tls": false, "ca_file": null, "sourcetype": null, "index": null, "batch_max": 20,
        "apps": [a], "actions": ["client.create", "client.update"], "paused": false,
        "paused_reason": null, "last_error": null, "last_error_at": null, "last_success_at": null,
        "delivered_total": 0, "created_at": created_at});
    assert_eq!(created, expected);

    // The secret is sealed: not in the row, not in the audit log.
    let row: (Vec<u8>, String) =
        sqlx::query_as("SELECT sealed_secret, sealing_key_id FROM sinks WHERE name = 'siem'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(!row.0.windows(10).any(|w| secret.as_bytes()[6..16] == *w));
    let log = serde_json::to_string(&app.audit_rows(a).await).unwrap();
    assert!(!log.contains(&secret[6..]));
    assert_eq!(app.audit_count(a, "sink.create").await, 1);

    app.operator()
        .get("/sinks")
        .await
        .is(200, json!([expected]));
    let shown = get_sink(&app, "siem").await;
    let head = log_of(&app, a).await.last().unwrap().1;
    // Created "from now": the cursor starts at the head before the sink's own event.
    assert_eq!(
        shown["cursors"],
        json!([{"app_id": a, "delivered_seq": head - 1, "head_seq": head, "delivered_checkpoint": 0}])
    );
    assert_eq!(shown["lag_events"], 1);

    app.operator()
        .post(
            "/sinks",
            &json!({"name": "siem", "kind": "syslog", "address": "logs:514"}),
        )
        .await
        .is(409, errors("Sink siem already exists."));

    // Rotation: a new secret, shown once.
    let (status, rotated) = app
        .operator()
        .call(Method::PUT, "/sinks/siem/secret")
        .await
        .pair();
    assert_eq!(status, 200);
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    assert!(get_sink(&app, "siem").await.get("secret").is_none());

    for (path, paused) in [("pause", true), ("pause", true), ("resume", false)] {
        let (status, got) = app
            .operator()
            .call(Method::POST, &format!("/sinks/siem/{path}"))
            .await
            .pair();
        assert_eq!((status, &got["paused"]), (200, &json!(paused)));
    }
    // Pausing twice wrote one event.
    assert_eq!(app.audit_count(a, "sink.pause").await, 1);
    assert_eq!(app.audit_count(a, "sink.resume").await, 1);

    let res = app.operator().delete("/sinks/siem").await;
    assert_eq!(res.status, 204);
    for (method, path) in [
        (Method::GET, "/sinks/siem"),
        (Method::DELETE, "/sinks/siem"),
        (Method::POST, "/sinks/siem/pause"),
    ] {
        app.as_operator(method, path).fetch().await.case_is(
            404,
            errors("Sink not found."),
            format_args!("{path}"),
        );
    }
    assert_eq!(app.audit_count(a, "sink.delete").await, 1);
    let left: i64 = app.scalar("SELECT count(*) FROM sink_cursors", &[]).await;
    assert_eq!(left, 0);
}

#[tokio::test]
async fn bad_configuration_is_refused_with_one_line_and_changes_nothing() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let events_before = log_of(&app, &owner.app_id).await.len();
    let cases = [
        (json!({"name": "x", "kind": "kafka"}), "Unknown sink kind \"kafka\": expected webhook, splunk_hec or syslog."),
        (json!({"name": "x", "kind": "webhook", "url": "::nope"}), "Not a valid URL \"::nope\": relative URL without a base."),
        (json!({"name": "x", "kind": "webhook"}), "A webhook sink needs a url."),
        (json!({"name": "x", "kind": "webhook", "url": "http://example.com/hook"}), "A webhook URL must use https (http only to a loopback address): \"http://example.com/hook\"."),
        (json!({"name": "x", "kind": "splunk_hec", "url": "https://splunk:8088/services/collector/event"}), "A splunk_hec sink needs a token."),
        (json!({"name": "x", "kind": "syslog", "address": "logs.example.com"}), "A syslog address needs a port (host:port): \"logs.example.com\"."),
        (json!({"name": "x", "kind": "syslog", "address": "logs:514", "tls": true, "ca_file": "/nonexistent/ca.pem"}), "Cannot use the CA file /nonexistent/ca.pem: I/O error: No such file or directory (os error 2)."),
        (json!({"name": "x", "kind": "webhook", "url": "https://h.example/", "apps": ["zzzzzzzzzzzzzzzzzzzzzzzzzz"]}), "Unknown application in the sink's filter: zzzzzzzzzzzzzzzzzzzzzzzzzz."),
        (json!({"name": "x", "kind": "webhook", "url": "https://h.example/", "actions": ["update"]}), "Not a valid action name \"update\" (e.g. client.update)."),
        (json!({"name": "Bad!", "kind": "webhook", "url": "https://h.example/"}), "Not a valid sink name \"Bad!\": 1 to 64 characters of a-z, 0-9, - and _, starting with a letter or digit."),
        (json!({"name": "x", "kind": "webhook", "url": "https://h.example/", "batch_max": 5000}), "Not a valid batch size 5000: 1 to 1000 events."),
        (json!({"name": "x", "kind": "webhook", "url": "https://h.example/", "token": "t"}), "The token option does not apply to a webhook sink."),
        (json!({"kind": "webhook"}), "Missing data for required field."),
        (json!({"name": "x", "kind": "webhook", "url": 5}), "Not a valid string."),
    ];
    for (body, message) in cases {
        app.operator().post("/sinks", &body).await.case_is(
            400,
            errors(message),
            format_args!("{body}"),
        );
    }
    app.operator().get("/sinks").await.is(200, json!([]));
    assert_eq!(log_of(&app, &owner.app_id).await.len(), events_before);
}

#[tokio::test]
async fn webhooks_are_signed_in_order_per_application_and_a_4xx_pauses() {
    let (app, shop) = spawn_app_with_owner("shop").await;
    let blog = app.create_app("blog").await;
    let rx = Receiver::start().await;
    let created = create_sink(
        &app,
        json!({"name": "signed", "kind": "webhook", "url": rx.url, "from_beginning": true}),
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    for i in 0..5 {
        for owner in [&shop, &blog] {
            app.create_client(owner, json!({"name": format!("c{i}")}))
                .await;
        }
    }
    let mut expected = log_of(&app, &shop.app_id).await;
    expected.extend(log_of(&app, &blog.app_id).await);
    eventually("every event delivered", async || {
        let got: Vec<String> = rx
            .received()
            .iter()
            .flat_map(events_of)
            .map(|e| e["event_id"].as_str().unwrap().to_owned())
            .collect();
        expected.iter().all(|(_, _, id)| got.contains(id))
    })
    .await;
    // Each request: one event, signed per Standard Webhooks, its id the event id; per
    // application the revisions never go back.
    let mut last: HashMap<String, i64> = HashMap::new();
    for r in rx.received() {
        if events_of(&r).is_empty() {
            continue; // a checkpoint signed meanwhile (tested below)
        }
        let id = &r.headers["webhook-id"];
        let ts: i64 = r.headers["webhook-timestamp"].parse().unwrap();
        assert!((Utc::now().timestamp() - ts).abs() < 60);
        assert_eq!(
            r.headers["webhook-signature"],
            webhook_signature(&secret, id, ts, r.body.as_bytes()).unwrap()
        );
        assert_eq!(r.headers["content-type"], "application/json");
        let e: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(e["event_id"].as_str().unwrap(), id);
        let (app_id, seq) = (e["app_id"].as_str().unwrap(), e["seq"].as_i64().unwrap());
        let before = last.insert(app_id.to_owned(), seq).unwrap_or(0);
        assert!(seq > before, "{app_id}: {seq} after {before}");
    }
    eventually("success recorded", async || {
        get_sink(&app, "signed").await["lag_events"] == 0
    })
    .await;
    let shown = get_sink(&app, "signed").await;
    assert!(shown["last_success_at"].is_string());
    assert_eq!(shown["delivered_total"], expected.len() as i64);
    let metrics = app.request(Method::GET, "/metrics").fetch().await.text;
    assert!(
        metrics.contains("latchkey_sink_lag_events{sink=\"signed\"} 0"),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "latchkey_sink_delivered_total{{sink=\"signed\"}} {}",
        expected.len()
    )));

    // A 4xx other than 408/429 pauses the sink with the answer recorded; nothing is skipped.
    rx.status.store(410, Ordering::SeqCst);
    app.make_client(&shop, "refused", &[]).await;
    eventually("paused by the receiver", async || {
        get_sink(&app, "signed").await["paused"] == true
    })
    .await;
    let shown = get_sink(&app, "signed").await;
    assert_eq!(shown["paused_reason"], "HTTP 410: nope");
    assert_eq!(shown["last_error"], "HTTP 410: nope");
    assert_eq!(shown["lag_events"], 1);
    rx.status.store(200, Ordering::SeqCst);
    let refused = log_of(&app, &shop.app_id).await.last().unwrap().2.clone();
    let res = app
        .operator()
        .call(Method::POST, "/sinks/signed/resume")
        .await;
    assert_eq!(res.status, 200);
    eventually("delivered after resume", async || {
        rx.received()
            .iter()
            .any(|r| r.headers["webhook-id"] == refused)
    })
    .await;
}

#[tokio::test]
async fn rewind_replays_from_a_revision_or_a_time() {
    let (app, shop) = spawn_app_with_owner("shop").await;
    let rx = Receiver::start().await;
    create_sink(
        &app,
        json!({"name": "hook", "kind": "webhook", "url": rx.url, "from_beginning": true, "batch_max": 100}),
    )
    .await;
    app.make_client(&shop, "one", &[]).await;
    let log = log_of(&app, &shop.app_id).await;
    let count = |rx: &Receiver, seq: i64| {
        rx.received()
            .iter()
            .flat_map(events_of)
            .filter(|e| e["seq"] == seq && e["app_id"] == shop.app_id.as_str())
            .count()
    };
    eventually("first delivery", async || {
        count(&rx, log.last().unwrap().1) == 1
    })
    .await;
    // Batches: `{"events": [...]}`, webhook-id `<app>:<first>-<last>`.
    let first = &rx.received()[0];
    assert!(first.headers["webhook-id"].starts_with(&format!("{}:1-", shop.app_id)));

    app.operator()
        .post("/sinks/hook/rewind", &json!({"revision": 2}))
        .await
        .is(
            400,
            errors("A revision belongs to one application: give the application too."),
        );
    app.operator()
        .post(
            "/sinks/hook/rewind",
            &json!({"app_id": shop.app_id, "revision": 2, "time": "2024-01-01"}),
        )
        .await
        .is(
            400,
            errors("Give either a revision or a time to rewind to."),
        );
    app.operator()
        .post(
            "/sinks/hook/rewind",
            &json!({"app_id": shop.app_id, "revision": 2}),
        )
        .await
        .status_is(200);
    // From revision 2 on again (and the rewind's own event), not revision 1.
    eventually("replayed", async || {
        count(&rx, 2) == 2 && count(&rx, 3) == 2
    })
    .await;
    assert_eq!(count(&rx, 1), 1);
    assert_eq!(app.audit_count(&shop.app_id, "sink.rewind").await, 1);

    // By time: from the start of the log.
    app.operator()
        .post(
            "/sinks/hook/rewind",
            &json!({"time": "2000-01-01T00:00:00Z"}),
        )
        .await
        .status_is(200);
    eventually("replayed by time", async || count(&rx, 1) == 2).await;
}

#[tokio::test]
async fn splunk_hec_gets_the_exact_request_shape() {
    let (app, shop) = spawn_app_with_owner("shop").await;
    let rx = Receiver::start().await;
    create_sink(
        &app,
        json!({"name": "splunk", "kind": "splunk_hec", "url": rx.url, "token": "hec-token-123",
               "sourcetype": "latchkey:test", "index": "audit", "batch_max": 50,
               "apps": [shop.app_id], "from_beginning": true}),
    )
    .await;
    let log = log_of(&app, &shop.app_id).await;
    eventually("delivered", async || {
        rx.received()
            .iter()
            .map(|r| r.body.lines().count())
            .sum::<usize>()
            >= log.len()
    })
    .await;
    let audit: Vec<Value> = sqlx::query_scalar::<_, Value>(
        "SELECT jsonb_build_object('seq', seq, 'time', extract(epoch from occurred_at)::numeric) FROM audit_events WHERE app_id = $1 ORDER BY seq",
    )
    .bind(&shop.app_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let r = &rx.received()[0];
    assert_eq!(r.headers["authorization"], "Splunk hec-token-123");
    assert_eq!(r.headers["content-type"], "application/json");
    let events = r
        .body
        .lines()
        .filter(|l| !l.contains("\"action\":\"checkpoint\""));
    for (line, row) in events.zip(&audit) {
        let v: Value = serde_json::from_str(line).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["event", "index", "source", "sourcetype", "time"]);
        assert_eq!(v["source"], "latchkey");
        assert_eq!(v["sourcetype"], "latchkey:test");
        assert_eq!(v["index"], "audit");
        assert_eq!(v["event"]["seq"], row["seq"]);
        assert_eq!(v["event"]["app_id"], shop.app_id.as_str());
        assert!((v["time"].as_f64().unwrap() - row["time"].as_f64().unwrap()).abs() < 1e-5);
    }
}

#[tokio::test]
async fn syslog_gets_octet_counted_rfc5424_messages() {
    let (app, shop) = spawn_app_with_owner("shop").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    create_sink(
        &app,
        json!({"name": "syslog", "kind": "syslog", "address": format!("127.0.0.1:{port}"),
               "from_beginning": true}),
    )
    .await;
    let log = log_of(&app, &shop.app_id).await;
    let (mut sock, _) = tokio::time::timeout(Duration::from_secs(20), listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut buf = Vec::new();
    let mut messages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while messages.len() < log.len() {
        assert!(Instant::now() < deadline, "{messages:?}");
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(20), sock.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        buf.extend_from_slice(&chunk[..n]);
        // Octet counting: "LEN SP MSG".
        while let Some(sp) = buf.iter().position(|b| *b == b' ') {
            let len: usize = std::str::from_utf8(&buf[..sp]).unwrap().parse().unwrap();
            if buf.len() < sp + 1 + len {
                break;
            }
            let msg = String::from_utf8(buf[sp + 1..sp + 1 + len].to_vec()).unwrap();
            // (A checkpoint the server may sign meanwhile is tested below.)
            if !msg.contains(" checkpoint [latchkey@32473 ") {
                messages.push(msg);
            }
            buf.drain(..sp + 1 + len);
        }
    }
    for (msg, (app_id, seq, event_id)) in messages.iter().zip(&log) {
        assert!(msg.starts_with("<109>1 "), "{msg}");
        assert!(
            msg.contains(&format!("[latchkey@32473 app=\"{app_id}\" action=\""))
                && msg.contains(&format!(" revision=\"{seq}\" "))
                && msg.contains(&format!("eventId=\"{event_id}\"]")),
            "{msg}"
        );
        let json_part = &msg[msg.find("] {").unwrap() + 2..];
        let e: Value = serde_json::from_str(json_part).unwrap();
        assert_eq!(e["seq"], *seq);
    }
}

#[tokio::test]
async fn pruning_refuses_what_an_active_sink_has_not_delivered() {
    let (app, shop) = spawn_app_with_owner("shop").await;
    let a = shop.app_id.as_str();
    // A receiver that is never there.
    create_sink(
        &app,
        json!({"name": "down", "kind": "webhook", "url": "http://127.0.0.1:9/hook", "from_beginning": true}),
    )
    .await;
    let svc = latchkey::startup::service(&test_settings(), app.pool.clone()).unwrap();
    let op = RequestContext::command_line();
    let _ = svc
        .audit()
        .set_retention(&op, &latchkey::domain::ids::Named::parse(a), Some(1))
        .await
        .unwrap();
    let later = Utc::now() + chrono::Duration::days(3);
    let head = log_of(&app, a).await.last().unwrap().1;
    match svc.audit().prune(&op, &latchkey::domain::ids::Named::parse(a), later, false).await {
        Err(e @ ServiceError::SinksOwe { .. }) => assert_eq!(
            e.to_string(),
            format!("Not pruned: sink(s) down have not delivered events up to {head} yet (pause them, let them catch up, or prune with --force).")
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(log_of(&app, a).await.len() as i64, head);
    // Paused sinks do not hold events back.
    let _ = svc.sinks().set_paused(&op, "down", true).await.unwrap();
    let dry = svc
        .audit()
        .prune(&op, &latchkey::domain::ids::Named::parse(a), later, true)
        .await
        .unwrap();
    assert_eq!(dry.value.through_seq, Some(head + 1));
    let _ = svc.sinks().set_paused(&op, "down", false).await.unwrap();
    // --force: pruned, and the checkpoint says which sink lost events.
    let done = svc
        .audit()
        .prune_with(
            &op,
            &latchkey::domain::ids::Named::parse(a),
            later,
            false,
            true,
        )
        .await
        .unwrap();
    let checkpoint: Value =
        sqlx::query_scalar("SELECT changes FROM audit_events WHERE app_id = $1 AND seq = $2")
            .bind(a)
            .bind(done.value.checkpoint_seq.unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(checkpoint["forcedPastSinks"], json!(["down"]));
}

/// The service of the test server's settings (signs checkpoints with the same key and origin).
fn service_of(app: &TestApp) -> latchkey::service::Latchkey {
    latchkey::startup::service(&test_settings(), app.pool.clone()).unwrap()
}

/// Signs the due checkpoints now; the tree size of the application's newest one.
async fn checkpoint_now(app: &TestApp, app_id: &str) -> i64 {
    service_of(app).evidence().make_checkpoints().await.unwrap();
    app.scalar(
        "SELECT max(tree_size) FROM audit_checkpoints WHERE app_id = $1",
        &[app_id],
    )
    .await
}

/// What a receiver got, in order: `e<seq>` for an event, `c<size>` for a checkpoint.
fn sequence(rx: &Receiver, app_id: &str) -> Vec<String> {
    rx.received()
        .iter()
        .flat_map(records_of)
        .filter(|r| r["app_id"] == app_id)
        .map(|r| match r["action"].as_str() {
            Some("checkpoint") => format!("c{}", r["tree_size"]),
            _ => format!("e{}", r["seq"]),
        })
        .collect()
}

#[tokio::test]
async fn signed_checkpoints_are_delivered_in_order_with_the_events_and_filterable() {
    let app = spawn_app().await;
    let shop = app.create_app("shop").await;
    let a = shop.app_id.as_str();
    app.make_client(&shop, "one", &[]).await;
    let first = checkpoint_now(&app, a).await;
    app.make_client(&shop, "two", &[]).await;
    app.make_client(&shop, "three", &[]).await;
    let second = checkpoint_now(&app, a).await;
    assert!(first < second);

    // Made after those checkpoints: the whole log with its checkpoints (one event a request;
    // HEC batches of 50), only checkpoints, none, and from now on.
    let (all, hec, only, none, fresh) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    let secret = create_sink(
        &app,
        json!({"name": "all", "kind": "webhook", "url": all.url, "from_beginning": true}),
    )
    .await["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    create_sink(
        &app,
        json!({"name": "hec", "kind": "splunk_hec", "url": hec.url, "token": "t-1",
               "batch_max": 50, "from_beginning": true}),
    )
    .await;
    create_sink(
        &app,
        json!({"name": "only", "kind": "webhook", "url": only.url, "from_beginning": true,
               "actions": ["checkpoint"]}),
    )
    .await;
    create_sink(
        &app,
        json!({"name": "none", "kind": "webhook", "url": none.url, "from_beginning": true,
               "actions": ["client.create"]}),
    )
    .await;
    create_sink(
        &app,
        json!({"name": "fresh", "kind": "webhook", "url": fresh.url}),
    )
    .await;
    // One more checkpoint, of the log with the sinks' own events.
    let third = checkpoint_now(&app, a).await;
    let head = log_of(&app, a).await.last().unwrap().1;
    assert_eq!(third, head);

    // Exactly in order: a checkpoint of size N right after the event of revision N.
    let mut expected: Vec<String> = Vec::new();
    for seq in 1..=head {
        expected.push(format!("e{seq}"));
        if [first, second, third].contains(&seq) {
            expected.push(format!("c{seq}"));
        }
    }
    let hec_sequence = || -> Vec<String> {
        hec.received()
            .iter()
            .flat_map(|r| {
                r.body
                    .lines()
                    .map(|l| serde_json::from_str::<Value>(l).unwrap())
                    .collect::<Vec<_>>()
            })
            .map(|l| match l["event"]["action"].as_str() {
                Some("checkpoint") => format!("c{}", l["event"]["tree_size"]),
                _ => format!("e{}", l["event"]["seq"]),
            })
            .collect()
    };
    eventually("all", async || sequence(&all, a).len() >= expected.len()).await;
    assert_eq!(sequence(&all, a), expected);
    eventually("hec", async || hec_sequence().len() >= expected.len()).await;
    assert_eq!(hec_sequence(), expected);

    // The record: the stored checkpoint as the audit API lists it, with the signed note that
    // verifies with the server's public key; signed per Standard Webhooks, its id stable.
    let listed = app
        .operator()
        .get(&format!("/config/{a}/audit/checkpoints"))
        .await
        .status_is(200);
    let keys = app
        .request(Method::GET, "/audit/keys")
        .fetch()
        .await
        .status_is(200);
    let key = latchkey::domain::note::VerifierKey::parse(keys["keys"][0]["key"].as_str().unwrap())
        .unwrap();
    let requests: Vec<Received> = all
        .received()
        .into_iter()
        .filter(|r| records_of(r)[0]["action"] == "checkpoint")
        .collect();
    assert_eq!(requests.len(), 3);
    for (r, listed) in requests
        .iter()
        .zip(listed["checkpoints"].as_array().unwrap())
    {
        let record: Value = serde_json::from_str(&r.body).unwrap();
        let size = listed["tree_size"].as_i64().unwrap();
        let root = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            listed["root_hash"].as_str().unwrap(),
        )
        .unwrap();
        let id = format!(
            "checkpoint:{a}:{size}:{}",
            root[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        assert_eq!(
            record,
            json!({"action": "checkpoint", "app_id": a, "checkpoint_id": id,
                   "created_at": listed["created_at"], "key_id": listed["key_id"],
                   "note": listed["note"], "root_hash": listed["root_hash"], "tree_size": size})
        );
        let (cp, _) = latchkey::domain::note::open_checkpoint(
            record["note"].as_str().unwrap(),
            std::slice::from_ref(&key),
        )
        .unwrap();
        assert_eq!((cp.size, cp.root.to_vec()), (size as u64, root));
        let ts: i64 = r.headers["webhook-timestamp"].parse().unwrap();
        assert_eq!(r.headers["webhook-id"], id);
        assert_eq!(
            r.headers["webhook-signature"],
            webhook_signature(&secret, &id, ts, r.body.as_bytes()).unwrap()
        );
    }
    // HEC: the record as the event, `time` when it was signed.
    let line = hec
        .received()
        .iter()
        .flat_map(|r| r.body.lines().map(str::to_owned).collect::<Vec<_>>())
        .find(|l| l.contains("\"action\":\"checkpoint\""))
        .unwrap();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["event"]["tree_size"], first);
    assert_eq!(v["sourcetype"], "latchkey:audit");

    // Filters: `checkpoint` alone gets only checkpoints; a filter without it none.
    eventually("filtered sinks caught up", async || {
        let (o, n) = (get_sink(&app, "only").await, get_sink(&app, "none").await);
        o["cursors"][0]["delivered_checkpoint"] == third
            && o["lag_events"] == 0
            && n["lag_events"] == 0
    })
    .await;
    assert_eq!(
        sequence(&only, a),
        [
            format!("c{first}"),
            format!("c{second}"),
            format!("c{third}")
        ]
    );
    assert!(sequence(&none, a).iter().all(|s| s.starts_with('e')));
    assert_eq!(
        get_sink(&app, "none").await["cursors"][0]["delivered_checkpoint"],
        0
    );
    // From now on: only the checkpoint signed after the sink was made.
    eventually("fresh", async || {
        sequence(&fresh, a).contains(&format!("c{third}"))
    })
    .await;
    assert_eq!(
        sequence(&fresh, a)
            .iter()
            .filter(|s| s.starts_with('c'))
            .count(),
        1
    );

    // Rewind rewinds both: from revision `first + 1`, the events and the checkpoints of that
    // size and larger again, not the first checkpoint.
    let before = sequence(&all, a).len();
    app.operator()
        .post(
            "/sinks/all/rewind",
            &json!({"app_id": a, "revision": first + 1}),
        )
        .await
        .status_is(200);
    let mut replay: Vec<String> = expected
        .iter()
        .skip_while(|s| **s != format!("e{}", first + 1))
        .cloned()
        .collect();
    replay.push(format!("e{}", head + 1)); // the rewind's own event
    eventually("replayed", async || {
        sequence(&all, a).len() >= before + replay.len()
    })
    .await;
    assert_eq!(sequence(&all, a)[before..], replay[..]);
}

/// What a failover to a standby that had not received the last events leaves: the log ends at
/// `keep` (events, their tree nodes and checkpoints after it gone, the head moved back), while
/// the sinks' cursors stay where they were. (Done here with the append-only triggers off for
/// this one transaction; PostgreSQL's own failover needs none.)
async fn lose_events_after(app: &TestApp, app_id: &str, keep: i64) {
    let mut tx = app.pool.begin().await.unwrap();
    for sql in [
        "SET LOCAL session_replication_role = replica",
        "DELETE FROM audit_feature_changes WHERE app_id = $1 AND seq > $2",
        "DELETE FROM audit_events WHERE app_id = $1 AND seq > $2",
        "DELETE FROM audit_merkle_nodes WHERE app_id = $1 AND (idx + 1) * (1::bigint << level) > $2",
        "DELETE FROM audit_checkpoints WHERE app_id = $1 AND tree_size > $2",
        "UPDATE audit_heads h SET seq = e.seq, hash = e.hash, occurred_at = e.occurred_at
           FROM audit_events e WHERE h.app_id = $1 AND e.app_id = $1 AND e.seq = $2",
    ] {
        let q = sqlx::query(sql);
        let q = if sql.contains("$1") {
            q.bind(app_id).bind(keep)
        } else {
            q
        };
        q.execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
}

async fn set_paused(app: &TestApp, name: &str, paused: bool) {
    let path = format!("/sinks/{name}/{}", if paused { "pause" } else { "resume" });
    let res = app.operator().call(Method::POST, &path).await;
    assert_eq!(res.status, 200);
}

/// The sink has delivered every event of its (one) application.
async fn caught_up(app: &TestApp, name: &str) -> bool {
    let shown = get_sink(app, name).await;
    shown["lag_events"] == 0
        && shown["cursors"][0]["delivered_seq"] == shown["cursors"][0]["head_seq"]
}

/// The ids of the events of an application's log after revision `after`.
async fn ids_after(app: &TestApp, app_id: &str, after: i64) -> Vec<String> {
    log_of(app, app_id)
        .await
        .into_iter()
        .filter(|(_, seq, _)| *seq > after)
        .map(|(_, _, id)| id)
        .collect()
}

#[tokio::test]
async fn a_log_rewritten_under_the_cursor_by_a_failover_is_delivered_again() {
    let app = spawn_app().await;
    let shop = app.create_app("shop").await;
    let a = shop.app_id.as_str();
    let rx = Receiver::start().await;
    create_sink(
        &app,
        json!({"name": "rewritten", "kind": "webhook", "url": rx.url, "from_beginning": true,
               "batch_max": 10}),
    )
    .await;
    for i in 0..4 {
        app.create_client(&shop, json!({"name": format!("before-{i}")}))
            .await;
    }
    let got_ids = |rx: &Receiver| -> Vec<String> {
        rx.received()
            .iter()
            .flat_map(events_of)
            .map(|e| e["event_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let rewrites = "latchkey_sink_log_rewrites_total{sink=\"rewritten\"}";
    eventually("delivered", async || caught_up(&app, "rewritten").await).await;

    // 1. The new primary lacks the last 2 events and takes 4 new ones: the head passes the
    // cursor again, with other events at its revisions (caught by the hash at the cursor, or
    // by the cursor beyond the head if the worker looks in between).
    set_paused(&app, "rewritten", true).await;
    let head = log_of(&app, a).await.last().unwrap().1;
    lose_events_after(&app, a, head - 2).await;
    for i in 0..4 {
        app.create_client(&shop, json!({"name": format!("after-{i}")}))
            .await;
    }
    set_paused(&app, "rewritten", false).await;
    let new_events = ids_after(&app, a, head - 2).await;
    assert_eq!(new_events.len(), 5); // the 4 clients and the resume
    eventually("the rewritten revisions delivered", async || {
        let got = got_ids(&rx);
        new_events.iter().all(|id| got.contains(id))
    })
    .await;
    assert_eq!(metric(&app, rewrites).await, 1.0);

    // 2. The new primary lacks the last 3 events and takes 1: the cursor is beyond the head.
    eventually("delivered again", async || {
        caught_up(&app, "rewritten").await
    })
    .await;
    set_paused(&app, "rewritten", true).await;
    let head = log_of(&app, a).await.last().unwrap().1;
    lose_events_after(&app, a, head - 3).await;
    app.make_client(&shop, "after-second", &[]).await;
    set_paused(&app, "rewritten", false).await;
    let new_events = ids_after(&app, a, head - 3).await;
    assert_eq!(new_events.len(), 2); // the client and the resume
    eventually("the events below the old cursor delivered", async || {
        let got = got_ids(&rx);
        new_events.iter().all(|id| got.contains(id))
    })
    .await;
    assert_eq!(metric(&app, rewrites).await, 2.0);
    eventually("caught up", async || caught_up(&app, "rewritten").await).await;
}

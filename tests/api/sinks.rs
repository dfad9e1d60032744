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
struct Received {
    headers: HashMap<String, String>,
    body: String,
}

/// An HTTP receiver on a free port: records every request and answers `status`.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    async fn start() -> Self {
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

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

async fn create_sink(app: &TestApp, body: Value) -> Value {
    let got = app
        .as_operator(Method::POST, "/sinks")
        .json(&body)
        .fetch()
        .await
        .status_is(201);
    got
}

async fn get_sink(app: &TestApp, name: &str) -> Value {
    let got = app
        .as_operator(Method::GET, &format!("/sinks/{name}"))
        .fetch()
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

/// The events of webhook bodies (one event, or `{"events": […]}`).
fn events_of(r: &Received) -> Vec<Value> {
    let v: Value = serde_json::from_str(&r.body).unwrap();
    match v.get("events") {
        Some(Value::Array(a)) => a.clone(),
        _ => vec![v],
    }
}

#[tokio::test]
async fn the_operator_manages_sinks_and_secrets_stay_sealed() {
    let app = spawn_app().await;
    let owner = app.create_app("shop").await;
    let a = owner.app_id.as_str();
    // Not the operator: no sinks.
    let res = app.as_owner(&owner, Method::GET, "/sinks").fetch().await;
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

    app.as_operator(Method::GET, "/sinks")
        .fetch()
        .await
        .is(200, json!([expected]));
    let shown = get_sink(&app, "siem").await;
    let head = log_of(&app, a).await.last().unwrap().1;
    // Created "from now": the cursor starts at the head before the sink's own event.
    assert_eq!(
        shown["cursors"],
        json!([{"app_id": a, "delivered_seq": head - 1, "head_seq": head}])
    );
    assert_eq!(shown["lag_events"], 1);

    app.as_operator(Method::POST, "/sinks")
        .json(&json!({"name": "siem", "kind": "syslog", "address": "logs:514"}))
        .fetch()
        .await
        .is(409, errors("Sink siem already exists."));

    // Rotation: a new secret, shown once.
    let (status, rotated) = app
        .as_operator(Method::PUT, "/sinks/siem/secret")
        .fetch()
        .await
        .pair();
    assert_eq!(status, 200);
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    assert!(get_sink(&app, "siem").await.get("secret").is_none());

    for (path, paused) in [("pause", true), ("pause", true), ("resume", false)] {
        let (status, got) = app
            .as_operator(Method::POST, &format!("/sinks/siem/{path}"))
            .fetch()
            .await
            .pair();
        assert_eq!((status, &got["paused"]), (200, &json!(paused)));
    }
    // Pausing twice wrote one event.
    assert_eq!(app.audit_count(a, "sink.pause").await, 1);
    assert_eq!(app.audit_count(a, "sink.resume").await, 1);

    let res = app.as_operator(Method::DELETE, "/sinks/siem").fetch().await;
    assert_eq!(res.status, 204);
    for (method, path) in [
        (Method::GET, "/sinks/siem"),
        (Method::DELETE, "/sinks/siem"),
        (Method::POST, "/sinks/siem/pause"),
    ] {
        let (status, got) = app.as_operator(method, path).fetch().await.pair();
        assert_eq!((status, got), (404, errors("Sink not found.")), "{path}");
    }
    assert_eq!(app.audit_count(a, "sink.delete").await, 1);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM sink_cursors")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn bad_configuration_is_refused_with_one_line_and_changes_nothing() {
    let app = spawn_app().await;
    let owner = app.create_app("shop").await;
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
        let (status, got) = app
            .as_operator(Method::POST, "/sinks")
            .json(&body)
            .fetch()
            .await
            .pair();
        assert_eq!((status, got), (400, errors(message)), "{body}");
    }
    app.as_operator(Method::GET, "/sinks")
        .fetch()
        .await
        .is(200, json!([]));
    assert_eq!(log_of(&app, &owner.app_id).await.len(), events_before);
}

#[tokio::test]
async fn webhooks_are_signed_in_order_per_application_and_a_4xx_pauses() {
    let app = spawn_app().await;
    let shop = app.create_app("shop").await;
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
    app.create_client(&shop, json!({"name": "refused"})).await;
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
        .as_operator(Method::POST, "/sinks/signed/resume")
        .fetch()
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
    let app = spawn_app().await;
    let shop = app.create_app("shop").await;
    let rx = Receiver::start().await;
    create_sink(
        &app,
        json!({"name": "hook", "kind": "webhook", "url": rx.url, "from_beginning": true, "batch_max": 100}),
    )
    .await;
    app.create_client(&shop, json!({"name": "one"})).await;
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

    app.as_operator(Method::POST, "/sinks/hook/rewind")
        .json(&json!({"revision": 2}))
        .fetch()
        .await
        .is(
            400,
            errors("A revision belongs to one application: give the application too."),
        );
    app.as_operator(Method::POST, "/sinks/hook/rewind")
        .json(&json!({"app_id": shop.app_id, "revision": 2, "time": "2024-01-01"}))
        .fetch()
        .await
        .is(
            400,
            errors("Give either a revision or a time to rewind to."),
        );
    app.as_operator(Method::POST, "/sinks/hook/rewind")
        .json(&json!({"app_id": shop.app_id, "revision": 2}))
        .fetch()
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
    app.as_operator(Method::POST, "/sinks/hook/rewind")
        .json(&json!({"time": "2000-01-01T00:00:00Z"}))
        .fetch()
        .await
        .status_is(200);
    eventually("replayed by time", async || count(&rx, 1) == 2).await;
}

#[tokio::test]
async fn splunk_hec_gets_the_exact_request_shape() {
    let app = spawn_app().await;
    let shop = app.create_app("shop").await;
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
    for (line, row) in r.body.lines().zip(&audit) {
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
    let app = spawn_app().await;
    let shop = app.create_app("shop").await;
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
            messages.push(String::from_utf8(buf[sp + 1..sp + 1 + len].to_vec()).unwrap());
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
    let app = spawn_app().await;
    let shop = app.create_app("shop").await;
    let a = shop.app_id.as_str();
    // A receiver that is never there.
    create_sink(
        &app,
        json!({"name": "down", "kind": "webhook", "url": "http://127.0.0.1:9/hook", "from_beginning": true}),
    )
    .await;
    let svc = latchkey::startup::service(&test_settings(), app.pool.clone()).unwrap();
    let op = RequestContext::command_line();
    let _ = svc.set_audit_retention(&op, a, Some(1)).await.unwrap();
    let later = Utc::now() + chrono::Duration::days(3);
    let head = log_of(&app, a).await.last().unwrap().1;
    match svc.prune_audit(&op, a, later, false).await {
        Err(e @ ServiceError::SinksOwe { .. }) => assert_eq!(
            e.to_string(),
            format!("Not pruned: sink(s) down have not delivered events up to {head} yet (pause them, let them catch up, or prune with --force).")
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(log_of(&app, a).await.len() as i64, head);
    // Paused sinks do not hold events back.
    let _ = svc.set_sink_paused(&op, "down", true).await.unwrap();
    let dry = svc.prune_audit(&op, a, later, true).await.unwrap();
    assert_eq!(dry.value.through_seq, Some(head + 1));
    let _ = svc.set_sink_paused(&op, "down", false).await.unwrap();
    // --force: pruned, and the checkpoint says which sink lost events.
    let done = svc
        .prune_audit_with(&op, a, later, false, true)
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

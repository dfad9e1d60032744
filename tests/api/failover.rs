//! What a failover looks like from one instance: the database away (every surface answers its
//! outage envelope with `Retry-After`, within a bound), a server that only reads (a demoted
//! primary, a standby behind a proxy: refused, and the pool's connections to it recycled).

use std::time::{Duration, Instant};

use reqwest::{Method, Response};
use serde_json::{json, Value};
use sqlx::Executor;

use crate::helpers::*;
use crate::registration_support::reg_error;

/// No request may wait longer than this while the database is away (the pool's acquire
/// timeout is 3 s; the issue's bound is 5 s).
const REQUEST_BOUND: Duration = Duration::from_secs(5);

/// Sends `req`, checks it answered within [`REQUEST_BOUND`]; status, Retry-After, JSON body.
async fn timed(req: reqwest::RequestBuilder) -> (u16, Option<String>, Value) {
    let started = Instant::now();
    let res: Response = req.send().await.unwrap();
    let took = started.elapsed();
    assert!(took < REQUEST_BOUND, "answered after {took:?}");
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = res.status().as_u16();
    let mut body: Value = res.json().await.unwrap_or(Value::Null);
    if let Some(o) = body.as_object_mut() {
        o.remove("request_id");
    }
    (status, retry, body)
}

fn unavailable() -> (u16, Option<String>, Value) {
    (
        503,
        Some("2".into()),
        json!({"errors": "Service unavailable."}),
    )
}

fn reg_unavailable() -> (u16, Option<String>, Value) {
    (
        200,
        Some("2".into()),
        reg_error(
            500,
            "unexpected_error",
            "the service is unavailable, try again later",
            None,
        ),
    )
}

/// Terminates every connection of the test's database but the caller's.
async fn terminate_backends(app: &TestApp, admin: &sqlx::PgPool) {
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&app.db_name)
    .execute(admin)
    .await
    .unwrap();
}

#[tokio::test]
async fn while_the_database_is_away_every_surface_answers_503_with_retry_after_in_bounded_time() {
    let app = spawn_app_with(|s| s.snapshots.consistency = Consistency::Strict).await;
    let owner = app.create_app("shop").await;
    let clients = format!("/config/{}/clients", owner.app_id);
    let admin = sqlx::PgPool::connect(&app.server_url).await.unwrap();
    let allow = |on: bool| {
        format!(
            r#"ALTER DATABASE "{}" WITH ALLOW_CONNECTIONS {on}"#,
            app.db_name
        )
    };
    admin.execute(allow(false).as_str()).await.unwrap();
    terminate_backends(&app, &admin).await;

    // Config API (read and write), operator routes, Registration API.
    assert_eq!(
        timed(app.as_owner(&owner, Method::GET, &clients)).await,
        unavailable()
    );
    assert_eq!(
        timed(
            app.as_operator(Method::POST, &clients)
                .json(&json!({"name": "during the outage"}))
        )
        .await,
        unavailable()
    );
    assert_eq!(
        timed(app.as_operator(Method::GET, "/apps")).await,
        unavailable()
    );
    assert_eq!(
        timed(
            app.request(Method::POST, "/clients/list")
                .header("Authorization", basic(&owner.client_id, &owner.secret))
                .form(&[("application_id", owner.app_id.as_str())])
        )
        .await,
        reg_unavailable()
    );

    admin.execute(allow(true).as_str()).await.unwrap();
    let (status, _, body) = timed(app.as_owner(&owner, Method::GET, &clients)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body.as_array().unwrap().len(),
        1,
        "the outage write did not happen"
    );
}

/// Every connection the pool holds is made read-only (as a proxy that moved them to a
/// standby would). A write on one is refused with 503 and Retry-After (SQLSTATE 25006); the
/// pool then checks what it hands out and closes the read-only connections, so writes work
/// again within the bound, with no restart (without the recycling they would fail until the
/// connections' idle timeout). (The check period after a refusal is per process, and tests run
/// in parallel: the very first write may already find the pool checking, hence either answer.)
#[tokio::test]
async fn a_connection_that_answers_read_only_is_recycled() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let clients = format!("/config/{}/clients", owner.app_id);
    // Hold every connection the pool can have, make each read-only, give them back.
    let mut held = Vec::new();
    for _ in 0..10 {
        let mut conn = app.pool.acquire().await.unwrap();
        conn.execute("SET default_transaction_read_only = on")
            .await
            .unwrap();
        held.push(conn);
    }
    drop(held);

    let started = Instant::now();
    let mut refused = 0;
    loop {
        let (status, retry, body) = timed(
            app.as_owner(&owner, Method::POST, &clients)
                .json(&json!({"name": "second"})),
        )
        .await;
        if status == 201 {
            assert_eq!(body["name"], "second");
            break;
        }
        assert_eq!((status, retry, body), unavailable());
        refused += 1;
        assert!(started.elapsed() < REQUEST_BOUND, "still read-only");
    }
    println!("{refused} writes refused before a writable connection");
    // No refused write happened.
    let (status, _, body) = timed(app.as_owner(&owner, Method::GET, &clients)).await;
    assert_eq!(status, 200);
    let mut names: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["owner", "second"]);
    // Every later write finds a writable connection.
    for i in 0..20 {
        let (status, _, body) = timed(
            app.as_owner(&owner, Method::POST, &clients)
                .json(&json!({"name": format!("c{i}")})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
}

/// A server whose new sessions are read-only (a demoted node): no connection to it is used,
/// reads and writes answer 503 within the bound, the listener does not listen there; once it
/// is writable again everything comes back.
#[tokio::test]
async fn a_read_only_server_is_not_used_until_it_is_writable() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let clients = format!("/config/{}/clients", owner.app_id);
    let admin = sqlx::PgPool::connect(&app.server_url).await.unwrap();
    let read_only = |on: bool| {
        format!(
            r#"ALTER DATABASE "{}" SET default_transaction_read_only = {on}"#,
            app.db_name
        )
    };
    admin.execute(read_only(true).as_str()).await.unwrap();
    terminate_backends(&app, &admin).await;

    assert_eq!(
        timed(
            app.as_operator(Method::POST, &clients)
                .json(&json!({"name": "refused"}))
        )
        .await,
        unavailable()
    );
    assert_eq!(
        timed(app.as_operator(Method::GET, &clients)).await,
        unavailable()
    );
    let listening: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
          WHERE datname = $1 AND application_name = 'latchkey-listener' AND query LIKE 'LISTEN%'",
    )
    .bind(&app.db_name)
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(listening, 0, "no listener on a read-only server");

    admin.execute(read_only(false).as_str()).await.unwrap();
    // A pooled session opened while the database was read-only stays read-only
    // (`default_transaction_read_only` is read at session start): the request that meets it
    // is refused like the ones above and the session recycled, so the writes come back within
    // a few requests, never with another answer.
    eventually(
        "a write accepted once the database is writable",
        async || {
            let answer = timed(
                app.as_operator(Method::POST, &clients)
                    .json(&json!({"name": "accepted"})),
            )
            .await;
            if answer.0 == 201 {
                return true;
            }
            assert_eq!(answer, unavailable());
            false
        },
    )
    .await;
    crate::helpers::listening(&[&app]).await;
}

/// `LATCHKEY_LISTEN_DATABASE_URL` is where the listener connects (a pooler in transaction mode
/// cannot carry LISTEN): pointed at a database that does not exist, the instance never
/// listens, so it never trusts its snapshots, while requests (DATABASE_URL) are served.
#[tokio::test]
async fn the_listener_connects_where_listen_database_url_says() {
    let probe = spawn_app().await;
    let nowhere = {
        let mut url = url::Url::parse(&probe.server_url).unwrap();
        url.set_path("/lk_no_such_database");
        url.to_string()
    };
    let app = spawn_app_with(|s| {
        s.snapshots.consistency = Consistency::Snapshot;
        s.database.listen_url = Some(nowhere);
    })
    .await;
    let owner = app.create_app("shop").await;
    let clients = format!("/config/{}/clients", owner.app_id);
    let (status, _, _) = timed(app.as_owner(&owner, Method::GET, &clients)).await;
    assert_eq!(status, 200);
    assert_eq!(
        metric(&app, r#"latchkey_snapshot{what="trusted"}"#).await,
        0.0
    );
    let listening: i64 = app
        .scalar(
            "SELECT count(*) FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'latchkey-listener'",
            &[],
        )
        .await;
    assert_eq!(listening, 0);
}

//! `LATCHKEY_READ_DATABASE_URL`: lists, audit queries and exports read the replica, except
//! right after the application was written through the same instance; one client, the
//! decision and authentication always read the primary. The "replica" here is a copy of the
//! test database made at one moment (a server that is not a standby: taken as lagging by the
//! bound), so which database answered is visible: it never receives later writes.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Executor;

use crate::helpers::*;

#[tokio::test]
async fn reads_that_may_be_stale_go_to_the_replica_unless_the_caller_just_wrote() {
    let server = server_url().await;
    let replica_db = format!(
        "lk_test_{}_{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    );
    let replica_url = database_url(&server, &replica_db);
    let app = spawn_app_with(|s| {
        s.database.read_url = Some(replica_url);
        s.database.read_max_lag_ms = 1000;
    })
    .await;
    let owner = app.create_app("shop").await;
    app.make_client(&owner, "before", &[]).await;
    // No replica yet (its database does not exist): the primary answers, the lag is unknown.
    assert_eq!(client_names(&app, &owner).await, ["before", "owner"]);
    assert_eq!(metric(&app, "latchkey_replica_lag_seconds").await, -1.0);

    // The replica: a copy of the database now (no connection may be open while it is made).
    let admin = sqlx::PgPool::connect(&server).await.unwrap();
    let allow = |on: bool| {
        format!(
            r#"ALTER DATABASE "{}" WITH ALLOW_CONNECTIONS {on}"#,
            app.db_name
        )
    };
    admin.execute(allow(false).as_str()).await.unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&app.db_name)
        .execute(&admin)
        .await
        .unwrap();
    admin
        .execute(
            format!(
                r#"CREATE DATABASE "{replica_db}" TEMPLATE "{}""#,
                app.db_name
            )
            .as_str(),
        )
        .await
        .unwrap();
    admin.execute(allow(true).as_str()).await.unwrap();

    // Filtered listings are read from the database (a whole listing may come from the
    // instance's snapshot, which is at least as fresh as the primary: checked at the end).
    let owners = || client_names_where(&app, &owner, "?has_feature=owner");
    // A write through this instance: its lists read the primary (they see it)…
    let (after, after_secret, _) = loop {
        let res = app
            .as_owner(
                &owner,
                Method::POST,
                &format!("/config/{}/clients", owner.app_id),
            )
            .json(&json!({"name": "after", "features": ["owner"]}))
            .send()
            .await
            .unwrap();
        if res.status() == 201 {
            let body: Value = res.json().await.unwrap();
            break (
                body["_id"].as_str().unwrap().to_owned(),
                body["_secret"].as_str().unwrap().to_owned(),
                body,
            );
        }
        assert_eq!(res.status(), 503, "only the outage made above");
    };
    let written = Instant::now();
    assert_eq!(owners().await, ["after", "owner"]);
    assert!(
        written.elapsed() < Duration::from_millis(1000),
        "read within the bound"
    );
    // …until the replica counts as past the write: then they read the replica (which never
    // got it).
    poll_until(
        "the replica used",
        Duration::from_secs(5),
        Duration::from_millis(50),
        async || owners().await == ["owner"],
    )
    .await;
    let lag = metric(&app, "latchkey_replica_lag_seconds").await;
    assert_eq!(
        lag, 1.0,
        "a server that is not a standby counts as lagging by the bound"
    );
    // The audit log (JSON and export) is read there too.
    let audit = |format: &str| {
        app.as_owner(
            &owner,
            Method::GET,
            &format!(
                "/config/{}/audit?client={after}&format={format}",
                owner.app_id
            ),
        )
        .send()
    };
    let (status, body) = status_json(audit("json").await.unwrap()).await;
    assert_eq!((status, body), (200, json!({"events": []})));
    let res = audit("ndjson").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "");
    // One client, authentication and decisions never: the new client exists and signs in.
    let (status, body) = app
        .by_client(&after, &after_secret)
        .get(&format!("/config/{}/clients/{after}", owner.app_id))
        .await
        .pair();
    assert_eq!((status, body["name"].clone()), (200, json!("after")));
    // The whole listing: the snapshot's entry was read before the write, so it is stale and
    // is loaded again, from the replica like any listing (at the replica's revision, behind
    // what this instance knows: used for this answer, never served from memory).
    assert_eq!(client_names(&app, &owner).await, ["before", "owner"]);

    drop(app);
    admin
        .execute(format!(r#"DROP DATABASE "{replica_db}" WITH (FORCE)"#).as_str())
        .await
        .unwrap();
}

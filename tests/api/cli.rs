//! The `latchkey` command line: migrate, apps create/list, configuration errors, and the
//! embedded PostgreSQL cluster.

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn apps_create_prints_the_app_and_its_owner_and_the_owner_works() {
    let app = spawn_app().await;
    let out = app
        .cli(&["apps", "create", "--name", "from cli", "--region", "sg"])
        .run()
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON object: {lines:?}");
    let created: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(created["name"], "from cli");
    assert_eq!(created["region"], "sg");
    assert_eq!(created["owner"]["features"], json!(["owner"]));
    let app_id = created["app_id"].as_str().unwrap();
    let id = created["owner"]["_id"].as_str().unwrap();
    let secret = created["owner"]["_secret"].as_str().unwrap();
    // The printed credentials work against the running server (same database).
    let list = app
        .by_client(id, secret)
        .get(&format!("/config/{app_id}/clients"))
        .await
        .status_is(200);
    assert_eq!(list[0]["_id"], id);
    // Audited as the operator acting from the command line, with no address.
    let rows = app.audit_rows(app_id).await;
    assert_eq!(rows[0]["action"], "app.create");
    assert_eq!(rows[0]["actor"], "operator");
    assert_eq!(rows[0]["actor_ip"], Value::Null);

    let out = app.cli(&["apps", "list"]).run().await;
    assert!(out.status.success());
    let listed: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["app_id"], app_id);
    assert!(listed[0].get("owner").is_none(), "secrets are shown once");

    let out = app
        .cli(&["apps", "create", "--name", "from cli"])
        .run()
        .await;
    exited(&out, 1, "latchkey: Application from cli already exists.");
}

#[tokio::test]
async fn migrate_is_idempotent() {
    let app = spawn_app().await;
    for _ in 0..2 {
        let out = app.cli(&["migrate"]).run().await;
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out).trim(), "migrations applied");
    }
}

#[tokio::test]
async fn bad_configuration_stops_with_a_one_line_reason() {
    let app = spawn_app().await;
    let out = app
        .cli(&["apps", "list"])
        .env("LATCHKEY_OPERATOR_TOKEN", "short")
        .run()
        .await;
    exited(
        &out,
        1,
        "latchkey: LATCHKEY_OPERATOR_TOKEN must be at least 16 characters",
    );
    let out = Cli::bare(&["migrate"])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nothing")
        .run()
        .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("latchkey: cannot connect to PostgreSQL"),
        "{err}"
    );
}

/// The embedded cluster: started in a fresh folder, reused by a second start, stopped by the
/// handle that started it. Skipped where no PostgreSQL binaries are installed.
#[tokio::test]
async fn embedded_cluster_starts_is_reused_and_stops() {
    use latchkey::embedded_pg::EmbeddedPostgres;
    use sqlx::Connection;
    let dir = std::env::temp_dir().join(format!("lk-emb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let first = match EmbeddedPostgres::start(&dir).await {
        Ok(pg) => pg,
        Err(e) if e.to_string().contains("DATABASE_URL=") => {
            eprintln!("skipped: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let mut conn = sqlx::PgConnection::connect(&first.database_url("postgres"))
        .await
        .unwrap();
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one, 1);
    let listen: String = sqlx::query_scalar("SHOW listen_addresses")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(listen, "", "Unix socket only");
    drop(conn);
    let second = EmbeddedPostgres::start(&dir).await.unwrap();
    second.stop().await.unwrap();
    assert!(
        dir.join("postmaster.pid").exists(),
        "a reusing handle does not stop it"
    );
    first.stop().await.unwrap();
    assert!(
        !dir.join("postmaster.pid").exists(),
        "stopped by the handle that started it"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A command's stderr holds neither PostgreSQL notices (`relation "_sqlx_migrations" already
/// exists, skipping` on every start) nor colour codes when it is not a terminal, at the default
/// log level and with every log line on.
#[tokio::test]
async fn commands_print_no_database_notices_and_no_colours_into_a_pipe() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    for rust_log in [None, Some("trace")] {
        let command = app.cli(&["audit", "export", "--app", &owner.app_id]);
        let out = match rust_log {
            Some(level) => command.env("RUST_LOG", level),
            None => command.env_remove("RUST_LOG"),
        }
        .run()
        .await;
        assert!(out.status.success(), "{}", stderr(&out));
        let actions: Vec<String> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["action"].to_string())
            .collect();
        assert_eq!(actions.first().map(String::as_str), Some("\"app.create\""));
        let err = stderr(&out);
        if rust_log.is_none() {
            assert_eq!(err, "", "nothing to say at the default level");
        } else {
            assert!(err.contains("sqlx::query"), "trace shows queries: {err}");
        }
        assert!(!err.contains("already exists"), "{err}");
        assert!(!err.contains("sqlx::postgres::notice"), "{err}");
        assert!(!err.contains('\u{1b}'), "no escape codes: {err:?}");
    }
}

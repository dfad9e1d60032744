//! Times `snapshot restore` of an application of N clients (default 1,000) in a scratch database
//! it creates and drops, through Latchkey's own service layer (what the CLI and the operator's
//! HTTP call run). Target: < 1 s for 1,000 clients.
//!
//!     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!       cargo run --release --example staging_restore_bench -- [clients] [rounds]
//!
//! Each client has two settings and one access schema. Scenarios, each timed `rounds` times
//! (median and worst printed):
//! * `no change`: restore right after saving (reads and compares, writes the rows back);
//! * `all updated`: every client's features changed, then restored (1,000 `client.update`);
//! * `all deleted`: every client deleted (`apply --prune` of an empty document), then restored
//!   (every client, secret, setting and schema re-created, one audit event per change).

use std::sync::Arc;
use std::time::{Duration, Instant};

use latchkey::auth::limiter::FailureLimiter;
use latchkey::auth::SecretHasher;
use latchkey::service::{ApplyOptions, Latchkey, NewApp, RequestContext};
use serde_json::{json, Value};
use sqlx::{Connection, Executor, PgConnection};

fn fixture(n: usize, feature: &str) -> Value {
    let clients: Vec<Value> = (0..n)
        .map(|i| {
            json!({"name": format!("client {i}"), "features": [feature],
                   "ipWhitelist": ["10.0.0.0/8"], "settings": {"theme": "dark", "n": i},
                   "accessSchemas": [{"entityType": "user", "accessType": "read", "attributes": ["email"]}]})
        })
        .collect();
    json!({
        "settings": {"login_attempts": 5},
        "entityTypes": [{"name": "user", "attr_defs": [{"name": "email", "type": "string"}]}],
        "clients": clients,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(Ok(1000), |s| s.parse())?;
    let rounds: usize = args.get(2).map_or(Ok(5), |s| s.parse())?;
    let admin_url = std::env::var("DATABASE_URL")?;
    let db = format!("lk_bench_restore_{}", std::process::id());
    let mut admin = PgConnection::connect(&admin_url).await?;
    admin
        .execute(format!(r#"CREATE DATABASE "{db}""#).as_str())
        .await?;
    let url = match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => anyhow::bail!("DATABASE_URL has no database name"),
    };
    let result = run(&url, n, rounds).await;
    admin
        .execute(format!(r#"DROP DATABASE "{db}" WITH (FORCE)"#).as_str())
        .await?;
    result
}

async fn run(url: &str, n: usize, rounds: usize) -> anyhow::Result<()> {
    let pool = latchkey::startup::connect(url, 5, 60).await?;
    latchkey::startup::migrate(&pool).await?;
    // Cheap Argon2: only the setup hashes (new clients' secrets); a restore never does.
    let params = argon2::Params::new(64, 1, 1, Some(32)).map_err(anyhow::Error::msg)?;
    let hasher = SecretHasher::new(params, 2, 1000)?;
    let service = Latchkey::new(
        pool,
        Arc::new(hasher),
        None,
        "Akamai",
        FailureLimiter::new(0, Duration::from_secs(60)),
    );
    let ctx = RequestContext::command_line();
    let new = NewApp {
        name: "restore bench".into(),
        region: "us".into(),
        ..Default::default()
    };
    let (app, _) = service.apps().create(&ctx, new).await?.value;
    let app_id = latchkey::domain::ids::Named::parse(&app.app_id);
    let apply = |doc: Value, prune: bool| {
        let service = service.clone();
        let ctx = ctx.clone();
        let app_id = app_id.clone();
        async move {
            let options = ApplyOptions {
                dry_run: false,
                prune,
            };
            service
                .staging()
                .apply_fixture(&ctx, &app_id, &doc, options)
                .await
                .map(|c| c.value)
        }
    };
    let start = Instant::now();
    let report = apply(fixture(n, "direct_read_access"), false).await?;
    println!(
        "apply of {n} clients: {:.0} ms, {} changes",
        ms(start.elapsed()),
        report.changes.len()
    );
    let start = Instant::now();
    let _saved = service
        .staging()
        .save_snapshot(&ctx, &app_id, "baseline")
        .await?;
    println!("snapshot save: {:.0} ms", ms(start.elapsed()));

    println!("\n| scenario ({n} clients) | events | median | worst |\n|---|---:|---:|---:|");
    for scenario in ["no change", "all updated", "all deleted"] {
        let mut times = Vec::new();
        let mut events = 0;
        for _ in 0..rounds {
            match scenario {
                "all updated" => {
                    apply(fixture(n, "direct_access"), false).await?;
                }
                "all deleted" => {
                    apply(json!({}), true).await?;
                }
                _ => {}
            }
            let start = Instant::now();
            let report = service
                .staging()
                .restore_snapshot(&ctx, &app_id, "baseline")
                .await?
                .value;
            times.push(start.elapsed());
            events = report.changes.len();
        }
        times.sort();
        println!(
            "| {scenario} | {events} | {:.0} ms | {:.0} ms |",
            ms(times[times.len() / 2]),
            ms(times[times.len() - 1])
        );
    }
    Ok(())
}

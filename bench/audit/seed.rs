//! Loads N audit events into one application of a scratch database, fast (COPY), with a real
//! hash chain computed by Latchkey's own code, continuing from the application's chain head.
//!
//!     DATABASE_URL=postgres://…/lk_bench_audit \
//!       cargo run --release --example audit_bench_seed -- <app_id> <events> [clients]
//!
//! The mix: each client is created once; then 70% feature changes (one feature added or removed),
//! 20% secret rotations, 10% renames. 90% by the owner client, 10% by the operator, from a few
//! hundred addresses, one event every ~30 s over the months before now (times never decrease).

// A benchmark tool, not the server: it may stop on the unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use chrono::{Duration, Utc};
use latchkey::domain::audit::{AuditAction, AuditEvent, GENESIS_HASH};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use sqlx::{Connection, PgConnection};

const FEATURES: [&str; 3] = ["access_issuer", "direct_access", "direct_read_access"];

/// COPY text format: escape backslash, tab, newline, carriage return.
fn copy_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn copy_array(out: &mut String, items: &Option<Vec<String>>) {
    match items {
        None => out.push_str("\\N"),
        Some(items) => {
            out.push('{');
            out.push_str(&items.join(","));
            out.push('}');
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let app_id = args
        .get(1)
        .expect("usage: audit_bench_seed <app_id> <events> [clients]")
        .clone();
    let total: i64 = args.get(2).map_or(Ok(1_000_000), |s| s.parse())?;
    let n_clients: usize = args.get(3).map_or(Ok(1000), |s| s.parse())?;
    let url = std::env::var("DATABASE_URL")?;
    let mut conn = PgConnection::connect(&url).await?;
    let (owner, head_seq, head_hash): (String, i64, Vec<u8>) = sqlx::query_as(
        "SELECT c.client_id, h.seq, h.hash FROM audit_heads h
         JOIN clients c ON c.app_id = h.app_id AND c.name = 'owner' WHERE h.app_id = $1",
    )
    .bind(&app_id)
    .fetch_one(&mut conn)
    .await?;
    assert!(head_seq > 0 && head_hash != GENESIS_HASH);

    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(42);
    let clients: Vec<String> = (0..n_clients)
        .map(|_| latchkey::auth::random::new_client_id())
        .collect();
    let mut features: Vec<Vec<String>> = vec![Vec::new(); n_clients];
    let mut names: Vec<String> = (0..n_clients).map(|i| format!("client {i}")).collect();
    let mut time = Utc::now() - Duration::seconds(30 * total + 3600);
    let mut prev = head_hash;
    let mut seq = head_seq;
    let mut copy = conn
        .copy_in_raw(
            "COPY audit_events (app_id, seq, event_id, occurred_at, actor, actor_ip, request_id,
                action, target_client_id, features_before, features_after, changes, prev_hash, hash)
             FROM STDIN",
        )
        .await?;
    let mut buf = String::with_capacity(4 << 20);
    for i in 0..total {
        seq += 1;
        time += Duration::milliseconds(rng.random_range(1..60_000));
        let c = if (i as usize) < n_clients {
            i as usize
        } else {
            rng.random_range(0..n_clients)
        };
        let before = features[c].clone();
        let (action, changes) = if (i as usize) < n_clients {
            let f = FEATURES[rng.random_range(0..3)].to_owned();
            features[c] = vec![f];
            (
                AuditAction::ClientCreate,
                json!({"name": {"from": null, "to": names[c]}, "ipWhitelist": {"from": null, "to": ["0.0.0.0/0"]}}),
            )
        } else {
            match rng.random_range(0..10) {
                0..=6 => {
                    let f = FEATURES[rng.random_range(0..3)].to_owned();
                    if let Some(p) = features[c].iter().position(|x| *x == f) {
                        features[c].remove(p);
                    } else {
                        features[c].push(f);
                        features[c].sort();
                    }
                    (AuditAction::ClientUpdate, json!({}))
                }
                7 | 8 => (
                    AuditAction::ClientSecretRotate,
                    json!({"secret": {"rotated": true, "oldSecretHoursToLive": 24}}),
                ),
                _ => {
                    let name = format!("client {c} v{i}");
                    let changes = json!({"name": {"from": names[c], "to": name}});
                    names[c] = name;
                    (AuditAction::ClientUpdate, changes)
                }
            }
        };
        let event = AuditEvent {
            app_id: app_id.clone(),
            seq,
            event_id: uuid::Uuid::now_v7(),
            occurred_at: time,
            actor: if rng.random_range(0..10) == 0 {
                "operator".into()
            } else {
                owner.clone()
            },
            actor_ip: Some(format!(
                "10.{}.{}.{}",
                rng.random_range(0..4),
                rng.random_range(0..256),
                rng.random_range(1..255)
            )),
            request_id: latchkey::auth::random::new_request_id(),
            action,
            target_client_id: Some(clients[c].clone()),
            features_before: Some(before),
            features_after: Some(features[c].clone()),
            changes,
            changes_text: None,
        };
        let hash = event.chain_hash(&prev);
        buf.push_str(&event.app_id);
        buf.push('\t');
        buf.push_str(&seq.to_string());
        buf.push('\t');
        buf.push_str(&event.event_id.to_string());
        buf.push('\t');
        buf.push_str(&latchkey::domain::audit::format_time(&event.occurred_at));
        buf.push('\t');
        copy_text(&mut buf, &event.actor);
        buf.push('\t');
        buf.push_str(event.actor_ip.as_deref().unwrap_or("\\N"));
        buf.push('\t');
        buf.push_str(&event.request_id);
        buf.push('\t');
        buf.push_str(event.action.as_str());
        buf.push('\t');
        buf.push_str(event.target_client_id.as_deref().unwrap_or("\\N"));
        buf.push('\t');
        copy_array(&mut buf, &event.features_before);
        buf.push('\t');
        copy_array(&mut buf, &event.features_after);
        buf.push('\t');
        copy_text(&mut buf, &event.changes.to_string());
        buf.push_str("\t\\\\x");
        buf.push_str(&hex::encode(&prev));
        buf.push_str("\t\\\\x");
        buf.push_str(&hex::encode(hash));
        buf.push('\n');
        prev = hash.to_vec();
        if buf.len() > (4 << 20) - 4096 {
            copy.send(buf.as_bytes()).await?;
            buf.clear();
        }
    }
    copy.send(buf.as_bytes()).await?;
    copy.finish().await?;
    sqlx::query("UPDATE audit_heads SET seq = $2, hash = $3, occurred_at = $4 WHERE app_id = $1")
        .bind(&app_id)
        .bind(seq)
        .bind(&prev)
        .bind(time)
        .execute(&mut conn)
        .await?;
    // Fresh statistics, as autovacuum would gather them on a live system.
    sqlx::query("ANALYZE").execute(&mut conn).await?;
    eprintln!(
        "seeded {total} events (head seq {seq}) in {:.1}s; a client id to filter on: {}",
        started.elapsed().as_secs_f64(),
        clients[0]
    );
    println!("{}", clients[0]);
    Ok(())
}

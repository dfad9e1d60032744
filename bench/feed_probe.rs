//! Scenario (g) of bench/run: two instances on one database. Attaches idle change-feed
//! subscribers to instance B, then repeatedly revokes a secret through instance A
//! (`hoursToLive=0`) and measures, from A's answer:
//!
//! * the revocation delay: until B refuses the old secret (polled over fresh connections);
//! * the feed delivery delay: until B's feed delivers the change's event.
//!
//! Plain HTTP/1.1 over tokio sockets (no client library), one line of results at the end:
//! `RESULT rounds=… subscribers=… rss_without=… rss_with=… revoke_p50=… …` (ms, MiB).
//!
//! Environment: PROBE_A, PROBE_B (host:port), PROBE_TOKEN (operator token), PROBE_B_PID,
//! PROBE_SUBSCRIBERS (1000), PROBE_ROUNDS (200).

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn env(name: &str, default: Option<&str>) -> String {
    std::env::var(name)
        .ok()
        .or(default.map(str::to_owned))
        .unwrap_or_else(|| panic!("{name} is not set"))
}

struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn json(&self) -> Res<Value> {
        Ok(serde_json::from_str(&self.body)?)
    }
}

fn request_text(addr: &str, method: &str, path: &str, auth: &str, body: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

async fn call(addr: &str, method: &str, path: &str, auth: &str, body: &str) -> Res<Answer> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    s.write_all(request_text(addr, method, path, auth, body).as_bytes())
        .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8(buf)?;
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no header end")?;
    let status = head.split(' ').nth(1).ok_or("no status")?.parse::<u16>()?;
    Ok(Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    })
}

/// Opens a feed; returns the stream after the response head.
async fn subscribe(addr: &str, path: &str, auth: &str) -> Res<TcpStream> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nAccept: text/event-stream\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await? == 0 {
            return Err("feed closed before its head".into());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8(head)?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("feed refused: {head}").into());
    }
    Ok(s)
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

fn rss_mib(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> Res<()> {
    let a = env("PROBE_A", None);
    let b = env("PROBE_B", None);
    let bearer = format!("Bearer {}", env("PROBE_TOKEN", None));
    let b_pid = env("PROBE_B_PID", None);
    let subscribers: usize = env("PROBE_SUBSCRIBERS", Some("1000")).parse()?;
    let rounds: usize = env("PROBE_ROUNDS", Some("200")).parse()?;

    // The application whose secret is revoked, and a quiet one the idle subscribers follow.
    let app = call(&a, "POST", "/apps", &bearer, r#"{"name":"bench-g"}"#).await?;
    if app.status != 201 {
        return Err(format!("create app: {} {}", app.status, app.body).into());
    }
    let app = app.json()?;
    let app_id = app["app_id"].as_str().ok_or("app_id")?.to_owned();
    let owner = basic(
        app["owner"]["_id"].as_str().ok_or("owner id")?,
        app["owner"]["_secret"].as_str().ok_or("owner secret")?,
    );
    let quiet = call(&a, "POST", "/apps", &bearer, r#"{"name":"bench-g-quiet"}"#).await?;
    let quiet_id = quiet.json()?["app_id"]
        .as_str()
        .ok_or("quiet app_id")?
        .to_owned();
    let target = call(
        &a,
        "POST",
        &format!("/config/{app_id}/clients"),
        &owner,
        r#"{"name":"revoked","features":["owner"]}"#,
    )
    .await?;
    let head: i64 = target
        .header("x-latchkey-revision")
        .ok_or("no revision header")?
        .parse()?;
    let target = target.json()?;
    let target_id = target["_id"].as_str().ok_or("target id")?.to_owned();
    let mut secret = target["_secret"]
        .as_str()
        .ok_or("target secret")?
        .to_owned();
    let read_path = format!("/config/{app_id}/clients/{target_id}");
    let rotate_path = format!("/config/{app_id}/clients/{target_id}/secret");
    // Warm B a little, then its memory without subscribers.
    for _ in 0..200 {
        call(&b, "GET", &read_path, &basic(&target_id, &secret), "").await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_without = rss_mib(&b_pid);

    let mut idle = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let mut s = subscribe(&b, &format!("/config/{quiet_id}/changes"), &bearer).await?;
        // Keep reading (heartbeats) so the subscriber is alive, never slow.
        idle.push(tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_with = rss_mib(&b_pid);

    // The measuring subscriber: sends each event id it sees, with the time it arrived.
    let mut feed = subscribe(
        &b,
        &format!("/config/{app_id}/changes?after={head}"),
        &owner,
    )
    .await?;
    let (ids_tx, mut ids_rx) = tokio::sync::mpsc::unbounded_channel::<(i64, Instant)>();
    tokio::spawn(async move {
        let mut text = String::new();
        let mut buf = [0u8; 8192];
        while let Ok(n) = feed.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let at = Instant::now();
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            while let Some(pos) = text.find("\n\n") {
                let frame: String = text.drain(..pos + 2).collect();
                for line in frame.lines() {
                    if let Some(id) = line.strip_prefix("id: ").and_then(|v| v.parse().ok()) {
                        let _ = ids_tx.send((id, at));
                    }
                }
            }
        }
    });

    let mut revoke_ms = Vec::with_capacity(rounds);
    let mut feed_ms = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let old = basic(&target_id, &secret);
        // B serves the current secret from its snapshot.
        let warm = call(&b, "GET", &read_path, &old, "").await?;
        if warm.status != 200 {
            return Err(format!("warm-up on B: {}", warm.status).into());
        }
        let rotated = call(&a, "PUT", &rotate_path, &owner, r#"{"hoursToLive":0}"#).await?;
        let t0 = Instant::now();
        if rotated.status != 200 {
            return Err(format!("rotation: {} {}", rotated.status, rotated.body).into());
        }
        let revision: i64 = rotated
            .header("x-latchkey-revision")
            .ok_or("no revision")?
            .parse()?;
        secret = rotated.json()?["_secret"]
            .as_str()
            .ok_or("new secret")?
            .to_owned();
        let feed_wait = async {
            loop {
                match ids_rx.recv().await {
                    Some((id, at)) if id >= revision => return Ok(at),
                    Some(_) => continue,
                    None => return Err("the feed ended"),
                }
            }
        };
        let revoke_wait = async {
            loop {
                match call(&b, "GET", &read_path, &old, "").await {
                    Ok(r) if r.status == 401 => return Ok(Instant::now()),
                    Ok(_) => {}
                    Err(e) => return Err(e),
                }
                if t0.elapsed() > Duration::from_secs(10) {
                    return Err("not revoked within 10 s".into());
                }
            }
        };
        let (fed, revoked) = tokio::join!(
            tokio::time::timeout(Duration::from_secs(10), feed_wait),
            revoke_wait
        );
        let fed = fed.map_err(|_| "no feed event within 10 s")??;
        let revoked = revoked?;
        feed_ms.push(fed.saturating_duration_since(t0).as_secs_f64() * 1000.0);
        revoke_ms.push(revoked.saturating_duration_since(t0).as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let alive = idle.iter().filter(|t| !t.is_finished()).count();
    revoke_ms.sort_by(f64::total_cmp);
    feed_ms.sort_by(f64::total_cmp);
    println!(
        "RESULT rounds={rounds} subscribers={subscribers} alive={alive} rss_without={rss_without:.1} \
         rss_with={rss_with:.1} revoke_p50={:.2} revoke_p99={:.2} revoke_max={:.2} \
         feed_p50={:.2} feed_p99={:.2} feed_max={:.2}",
        percentile(&revoke_ms, 50.0),
        percentile(&revoke_ms, 99.0),
        revoke_ms.last().copied().unwrap_or(f64::NAN),
        percentile(&feed_ms, 50.0),
        percentile(&feed_ms, 99.0),
        feed_ms.last().copied().unwrap_or(f64::NAN),
    );
    Ok(())
}

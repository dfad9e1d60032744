//! The instance's LISTEN connection: one dedicated connection (its own pool of one, named
//! `latchkey-listener` in `pg_stat_activity`), never taken from the request pool.
//!
//! Listening starts only on a writable primary (a standby cannot LISTEN, and a demoted node
//! would never hear the new primary's changes). Once `LISTEN` returns, the newest revision of
//! every application this instance knows is read ([`Snapshots::caught_up`]); only then are
//! snapshots trusted again ([`Snapshots::relistened`] drops every entry loaded before).
//!
//! A connection can also go quiet without failing (a network path that drops packets, or a
//! listener left on an old primary while requests reach a new one after a failover). So while
//! listening, a probe is sent every [`PROBE_EVERY`] through the *request* pool (a notification
//! of its own on the same channel); when one that committed is not heard back within
//! [`PROBE_TIMEOUT`], the listener is treated as lost and connects again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::PgPool;
use tokio::sync::Notify;

use super::{Snapshots, CHANNEL};
use crate::store::{primary, snapshots as store};

/// The `application_name` of the listening connection.
pub const APPLICATION_NAME: &str = "latchkey-listener";

/// How often the listening connection is proven to hear the request pool's database.
pub const PROBE_EVERY: Duration = Duration::from_secs(2);
/// How long a committed probe may take to be heard before the listener counts as lost.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Payloads of probes start with this (revisions are digits: never confused).
const PROBE_PREFIX: &str = "probe ";

/// Listens until the task is aborted, connecting with `options` (`LATCHKEY_LISTEN_DATABASE_URL`,
/// else the request pool's); probes go through `pool`, the request pool. On a lost connection it marks the snapshots untrusted at
/// once, then reconnects (backing off up to 2 s) and, once listening again and caught up,
/// drops everything.
pub async fn run(snapshots: Arc<Snapshots>, pool: PgPool, options: PgConnectOptions) {
    let options = options.application_name(APPLICATION_NAME);
    // Tells this instance's probes from other instances' on the shared channel.
    let instance = uuid::Uuid::new_v4().simple().to_string();
    let mut backoff = Duration::from_millis(50);
    loop {
        let listener_pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(3))
            .connect_lazy_with(options.clone());
        match listen(&listener_pool, &snapshots).await {
            Ok(mut listener) => {
                snapshots.relistened();
                backoff = Duration::from_millis(50);
                tracing::info!("listening for configuration changes");
                let heard = Arc::new(AtomicU64::new(0));
                let silent = Arc::new(Notify::new());
                let prober = tokio::spawn(probe(
                    pool.clone(),
                    format!("{PROBE_PREFIX}{instance} "),
                    heard.clone(),
                    silent.clone(),
                ));
                let own_probe = format!("{PROBE_PREFIX}{instance} ");
                loop {
                    let received = tokio::select! {
                        r = listener.try_recv() => r,
                        () = silent.notified() => {
                            tracing::warn!("change listener hears nothing from the database the requests use");
                            break;
                        }
                    };
                    match received {
                        Ok(Some(n)) => match n.payload().strip_prefix(&own_probe) {
                            Some(seq) => {
                                if let Ok(seq) = seq.parse::<u64>() {
                                    heard.fetch_max(seq, Ordering::AcqRel);
                                }
                            }
                            // Other instances' probes.
                            None if n.payload().starts_with(PROBE_PREFIX) => {}
                            None => snapshots.notified(n.payload()),
                        },
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "change listener failed");
                            break;
                        }
                    }
                }
                prober.abort();
                snapshots.lost();
                tracing::warn!("change listener lost; serving from the database until back");
            }
            Err(e) => {
                snapshots.lost();
                tracing::warn!(error = %e, "cannot listen for configuration changes");
            }
        }
        listener_pool.close().await;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Connects, checks the server is a writable primary, listens, and catches up.
async fn listen(pool: &PgPool, snapshots: &Snapshots) -> anyhow::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    // Reconnection is ours to do (so the gap is seen), not the listener's.
    listener.eager_reconnect(false);
    listener.ignore_pool_close_event(true);
    if !primary::writable(&mut listener).await? {
        return Err(primary::ReadOnlyServer.into());
    }
    listener.listen(CHANNEL).await?;
    // Anything committed from now on is notified; what came before is read here.
    let heads = store::heads(&mut listener, &snapshots.known_apps()).await?;
    snapshots.caught_up(&heads);
    Ok(listener)
}

/// Sends a probe through the request pool every [`PROBE_EVERY`]; wakes `silent` when one that
/// committed was not heard within [`PROBE_TIMEOUT`]. A probe that cannot be sent proves
/// nothing (the database is away for the requests too, which then read nothing stale).
async fn probe(pool: PgPool, prefix: String, heard: Arc<AtomicU64>, silent: Arc<Notify>) {
    let mut seq: u64 = 0;
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        seq += 1;
        let payload = format!("{prefix}{seq}");
        let sent = tokio::time::timeout(PROBE_TIMEOUT, store::notify(&pool, CHANNEL, &payload))
            .await
            .is_ok_and(|r| r.is_ok());
        if !sent {
            continue;
        }
        let deadline = tokio::time::Instant::now() + PROBE_TIMEOUT;
        while heard.load(Ordering::Acquire) < seq {
            if tokio::time::Instant::now() >= deadline {
                silent.notify_one();
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

//! Delivery of the audit log to sinks (docs/streaming.md): an outbound adapter beside the HTTP
//! server. Writes never wait for it: it reads the committed audit table, after the fact.
//!
//! * A supervisor per instance looks for active sinks every poll interval and starts a worker
//!   for each one it is not delivering yet.
//! * A worker opens its own database connection and takes the sink's advisory lock on it
//!   (`pg_try_advisory_lock`), so one instance delivers a sink at a time; it reads and moves
//!   the cursors on that connection, so losing the connection (and so the lock) stops it.
//! * Per covered application, in revision order: read the events after the cursor, send them,
//!   and only after the receiver acknowledged move the cursor (compare-and-set: a concurrent
//!   rewind wins). At least once: a crash between the send and the move sends again.
//! * A failure waits a capped exponential backoff with jitter; a 4xx answer other than
//!   408/429 pauses the sink with the answer recorded.
//! * Woken by every change this instance hears of (the LISTEN connection), and by the poll;
//!   a wake-up waits `LATCHKEY_SINK_BATCH_WAIT_MS` so a burst of changes goes in one pass. A
//!   pass that caught up with the log waits the same way: only a backlog (a full read) makes
//!   the next pass start at once.

pub mod format;
pub mod tls;
mod transport;

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use prometheus::{IntCounterVec, IntGaugeVec, Opts};
use sqlx::postgres::PgConnection;
use sqlx::Connection;
use tokio::task::JoinHandle;

use crate::domain::audit::StoredEvent;
use crate::domain::sink::backoff;
use crate::service::{DeliverySink, Latchkey};
use crate::store;
use crate::store::evidence::CheckpointRow;
use transport::{Outcome, Payload, Transport};

/// The `application_name` of the workers' connections.
pub const APPLICATION_NAME: &str = "latchkey-sink";
/// Events read from the audit table per query.
const READ_BATCH: i64 = 500;

/// `latchkey_sink_lag_events{sink}`, `latchkey_sink_delivered_total{sink}`,
/// `latchkey_sink_failures_total{sink}`, `latchkey_sink_log_rewrites_total{sink}`: registered in the `/metrics` registry.
pub struct SinkMetrics {
    pub lag: IntGaugeVec,
    pub delivered: IntCounterVec,
    pub failures: IntCounterVec,
    pub rewritten: IntCounterVec,
}

#[allow(
    clippy::expect_used,
    reason = "constant metric names and options: a failure is a programming error every test run shows"
)]
pub fn metrics() -> &'static SinkMetrics {
    static METRICS: OnceLock<SinkMetrics> = OnceLock::new();
    METRICS.get_or_init(|| SinkMetrics {
        lag: IntGaugeVec::new(
            Opts::new(
                "sink_lag_events",
                "Audit events a sink has not delivered yet, over the applications it covers (as seen by the instance delivering it)",
            ),
            &["sink"],
        )
        .expect("valid metric"),
        delivered: IntCounterVec::new(
            Opts::new(
                "sink_delivered_total",
                "Audit events delivered (acknowledged by the receiver) by this instance",
            ),
            &["sink"],
        )
        .expect("valid metric"),
        failures: IntCounterVec::new(
            Opts::new(
                "sink_failures_total",
                "Failed delivery attempts by this instance",
            ),
            &["sink"],
        )
        .expect("valid metric"),
        rewritten: IntCounterVec::new(
            Opts::new(
                "sink_log_rewrites_total",
                "Times this instance found an application's audit log rewritten under a sink's cursor (a failover lost delivered events) and moved the cursor back",
            ),
            &["sink"],
        )
        .expect("valid metric"),
    })
}

/// How the workers run.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// How often the supervisor looks for sinks and an idle worker reads the log anyway.
    pub poll: Duration,
    /// How long one request or write may take.
    pub timeout: Duration,
    /// How long a worker woken by a change waits before it reads (see `worker`).
    pub batch_wait: Duration,
}

/// Runs until aborted: starts a worker for each active sink this instance is not delivering.
pub async fn supervise(service: Latchkey, config: DeliveryConfig) {
    let mut workers = Workers::default();
    let workers = &mut workers.0;
    loop {
        match service.sinks().for_delivery().await {
            Ok(sinks) => {
                workers.retain(|_, (_, h)| !h.is_finished());
                for sink in sinks {
                    let fingerprint = fingerprint(&sink);
                    if let Some((running, handle)) = workers.get(&sink.row.name) {
                        if *running == fingerprint {
                            continue;
                        }
                        // Changed underneath (re-created, new secret): start over.
                        handle.abort();
                    }
                    let name = sink.row.name.clone();
                    let handle = tokio::spawn(worker(service.clone(), sink, config.clone()));
                    workers.insert(name, (fingerprint, handle));
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list sinks"),
        }
        tokio::time::sleep(config.poll).await;
    }
}

/// The running workers; they stop with the supervisor.
#[derive(Default)]
struct Workers(HashMap<String, (String, JoinHandle<()>)>);

impl Drop for Workers {
    fn drop(&mut self) {
        for (_, handle) in self.0.values() {
            handle.abort();
        }
    }
}

/// What makes a worker stale: the sink was re-created, re-configured or got a new secret.
fn fingerprint(sink: &DeliverySink) -> String {
    let r = &sink.row;
    format!(
        "{:?}",
        (
            r.lock_key,
            &r.sealed_secret,
            &r.url,
            &r.address,
            r.tls,
            &r.ca_file,
            &r.sourcetype,
            &r.hec_index,
            r.batch_max,
            &r.apps,
            &r.actions,
        )
    )
}

async fn worker(service: Latchkey, sink: DeliverySink, config: DeliveryConfig) {
    let name = sink.row.name.clone();
    let options = service
        .pool()
        .connect_options()
        .as_ref()
        .clone()
        .application_name(APPLICATION_NAME);
    let mut conn = match PgConnection::connect_with(&options).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(sink = %name, error = %e, "sink worker cannot connect");
            return;
        }
    };
    match store::sinks::try_lock_delivery(&mut conn, sink.row.lock_key).await {
        Ok(true) => {}
        Ok(false) => return, // another instance delivers it
        Err(e) => {
            tracing::warn!(sink = %name, error = %e, "sink worker cannot lock");
            return;
        }
    }
    tracing::info!(sink = %name, "delivering sink");
    let mut transport = match Transport::new(&sink, config.timeout) {
        Ok(t) => t,
        Err(e) => {
            let _ = store::sinks::record_error(&mut conn, &name, &e).await;
            return;
        }
    };
    let mut changed = service.snapshots().watch_any();
    let mut failures: u32 = 0;
    loop {
        changed.borrow_and_update();
        // Still active, and still this sink? (paused, deleted or changed: stop here)
        match store::sinks::get(&mut conn, &name).await {
            Ok(Some(row)) if !row.paused && row.lock_key == sink.row.lock_key => {}
            Ok(_) => {
                metrics().lag.with_label_values(&[&name]).set(0);
                return;
            }
            Err(e) => {
                tracing::warn!(sink = %name, error = %e, "sink worker lost its connection");
                return;
            }
        }
        match deliver_pending(&mut conn, &sink, &mut transport).await {
            Ok(Progress::Idle | Progress::CaughtUp) => {
                failures = 0;
                let woken = tokio::select! {
                    _ = changed.changed() => true,
                    _ = tokio::time::sleep(config.poll) => false,
                };
                // Under a steady write load every change would otherwise cost a whole pass
                // (the sink's row, the cursors, a read, a send) per event and per sink: the
                // bench's (s) measured writes at 76 % of their rate without sinks that way.
                // Waiting a moment lets the changes of that moment go in one pass and one batch.
                // The same after a pass that caught up (`CaughtUp`): starting the next one at
                // once would send the one or two events written during the last, each time
                // (bench/README.md, "Sinks: passes that caught up").
                if woken && !config.batch_wait.is_zero() {
                    tokio::time::sleep(config.batch_wait).await;
                }
            }
            Ok(Progress::Busy) => failures = 0,
            Ok(Progress::Paused) => return,
            Err(Failed::Receiver(e)) => {
                metrics().failures.with_label_values(&[&name]).inc();
                tracing::warn!(sink = %name, error = %e, "sink delivery failed; retrying");
                if store::sinks::record_error(&mut conn, &name, &e)
                    .await
                    .is_err()
                {
                    return;
                }
                let wait = backoff(failures, rand::random::<f64>());
                failures = failures.saturating_add(1);
                tokio::time::sleep(wait).await;
            }
            Err(Failed::Database(e)) => {
                tracing::warn!(sink = %name, error = %e, "sink worker lost its connection");
                return;
            }
        }
    }
}

enum Progress {
    /// Nothing left to deliver.
    Idle,
    /// Delivered everything the pass read, and no read was full: wait for the next change
    /// like `Idle` (what was written during the pass goes with the next batch).
    CaughtUp,
    /// Delivered some and more is known to be waiting (or the cursor moved under the pass):
    /// look again at once.
    Busy,
    /// The receiver refused for good: the sink is paused.
    Paused,
}

enum Failed {
    /// The receiver failed or is unreachable: back off and retry.
    Receiver(String),
    /// The worker's connection failed: stop (the lock went with it).
    Database(store::StoreError),
}

impl From<store::StoreError> for Failed {
    fn from(e: store::StoreError) -> Self {
        Failed::Database(e)
    }
}

/// One pass over the applications that have events or checkpoints left: at most one read
/// batch of events each, and the checkpoints they reach.
///
/// Signed checkpoints (issue #20's `audit_checkpoints`) travel with the events, in order: a
/// checkpoint of size N is sent once the event of revision N was delivered (or passed by the
/// filter) and before any later event of the same read, so a replay interleaves them exactly;
/// one signed after later events were already delivered is sent as soon as it exists. Each has
/// its own cursor (`delivered_checkpoint`) moved by the same compare-and-set after the
/// acknowledgement: at least once.
async fn deliver_pending(
    conn: &mut PgConnection,
    sink: &DeliverySink,
    transport: &mut Transport,
) -> Result<Progress, Failed> {
    let name = sink.row.name.as_str();
    let checkpoints = wants_checkpoints(sink);
    let behind = store::sinks::progress(
        &mut *conn,
        name,
        sink.row.apps.as_deref(),
        true,
        checkpoints,
    )
    .await?;
    let lag: i64 = behind
        .iter()
        .map(|p| (p.head_seq - p.delivered_seq).max(0))
        .sum();
    metrics().lag.with_label_values(&[name]).set(lag);
    if behind.is_empty() {
        return Ok(Progress::Idle);
    }
    let batch = match sink.target {
        crate::domain::sink::SinkTarget::Syslog { .. } => transport::SYSLOG_BATCH,
        _ => usize::try_from(sink.row.batch_max.max(1)).unwrap_or(1),
    };
    // A full read means the log holds more than this pass took: go on at once.
    let mut backlog = false;
    // What is left of what the pass knew of: the lag the gauge shows until the next pass.
    let mut left: i64 = 0;
    for app in behind {
        if app.log_rewritten() {
            move_back(&mut *conn, name, &app).await?;
            return Ok(Progress::Busy);
        }
        let rows =
            store::audit::list(&mut *conn, &app.app_id, app.delivered_seq, READ_BATCH).await?;
        backlog |= rows.len() as i64 >= READ_BATCH;
        let mut cursor = app.delivered_seq;
        let mut cp_cursor = app.delivered_checkpoint;
        // Events pruned below the cursor leave a gap: the read continues after it.
        let events: Vec<StoredEvent> = rows
            .into_iter()
            .map(|r| r.into_stored())
            .collect::<Result<_, _>>()?;
        let through = events.last().map_or(cursor, |e| e.event.seq);
        // The checkpoints due by the end of this read, in size order.
        let pending: Vec<CheckpointRow> = if checkpoints && app.latest_checkpoint > cp_cursor {
            store::evidence::checkpoints_between(&mut *conn, &app.app_id, cp_cursor, through)
                .await?
        } else {
            Vec::new()
        };
        let mut next_cp = 0;
        let mut start = 0;
        loop {
            // The checkpoints the delivered events have reached.
            while let Some(c) = pending.get(next_cp).filter(|c| c.tree_size <= cursor) {
                match send(conn, name, transport, Payload::Checkpoint(c)).await? {
                    Sent::Delivered => {}
                    Sent::Stop(p) => return Ok(p),
                }
                if !store::sinks::advance_checkpoint(
                    &mut *conn,
                    &app.app_id,
                    name,
                    cp_cursor,
                    c.tree_size,
                    true,
                )
                .await?
                {
                    return Ok(Progress::Busy);
                }
                cp_cursor = c.tree_size;
                next_cp += 1;
            }
            if start >= events.len() {
                break;
            }
            // A chunk: up to `batch` events the filter keeps, and the ones it skips between,
            // ending at the next checkpoint's revision (so the checkpoint goes right after it).
            let stop_at = pending.get(next_cp).map_or(i64::MAX, |c| c.tree_size);
            let mut end = start;
            let mut kept: Vec<&StoredEvent> = Vec::new();
            while end < events.len() && kept.len() < batch {
                if wanted(sink, &events[end]) {
                    kept.push(&events[end]);
                }
                end += 1;
                if events[end - 1].event.seq >= stop_at {
                    break;
                }
            }
            let last = &events[end - 1];
            if !kept.is_empty() {
                match send(conn, name, transport, Payload::Events(&kept)).await? {
                    Sent::Delivered => {}
                    Sent::Stop(p) => return Ok(p),
                }
            }
            let n = kept.len() as i64;
            let moved = store::sinks::advance(
                &mut *conn,
                &app.app_id,
                name,
                store::sinks::CursorMove {
                    from: cursor,
                    to: last.event.seq,
                    hash: &last.hash,
                    at: last.event.occurred_at,
                    delivered: n,
                },
            )
            .await?;
            if !moved {
                // Rewound meanwhile: the next pass reads from the new place.
                return Ok(Progress::Busy);
            }
            metrics()
                .delivered
                .with_label_values(&[name])
                .inc_by(n as u64);
            cursor = last.event.seq;
            start = end;
        }
        // A checkpoint the pass knew of and did not send: its events were not all read.
        backlog |= checkpoints && app.latest_checkpoint > cp_cursor;
        left += (app.head_seq - cursor).max(0);
    }
    metrics().lag.with_label_values(&[name]).set(left);
    Ok(if backlog {
        Progress::Busy
    } else {
        Progress::CaughtUp
    })
}

enum Sent {
    Delivered,
    /// Stop this pass (the sink is paused).
    Stop(Progress),
}

/// Sends events or a checkpoint; a refusal for good pauses the sink.
async fn send(
    conn: &mut PgConnection,
    name: &str,
    transport: &mut Transport,
    payload: Payload<'_>,
) -> Result<Sent, Failed> {
    match transport.send(payload).await {
        Outcome::Delivered => Ok(Sent::Delivered),
        Outcome::Retry(e) => Err(Failed::Receiver(e)),
        Outcome::Pause(answer) => {
            tracing::warn!(sink = name, answer = %answer, "receiver refused: sink paused");
            metrics().failures.with_label_values(&[name]).inc();
            store::sinks::set_paused(&mut *conn, name, true, Some(&answer)).await?;
            Ok(Sent::Stop(Progress::Paused))
        }
    }
}

/// The log was rewritten under the cursor (a failover to a standby that had not received the
/// last events; new events then took their revisions): what the receiver got of the lost
/// events cannot be taken back, but what the log holds now must still reach it. Delivery goes
/// back to the first event written since the event the cursor was at (by time, with
/// [`REWRITE_MARGIN`] for clocks of several instances), or to the head when that time is not
/// known. Events delivered twice carry the same `event_id`; a revision re-used by a new event
/// carries a new one (docs/streaming.md, "After a failover").
async fn move_back(
    conn: &mut PgConnection,
    name: &str,
    app: &store::sinks::AppProgress,
) -> Result<(), Failed> {
    let head = app.head_seq;
    let to = match app.delivered_at {
        Some(at) => {
            match store::sinks::first_seq_since(&mut *conn, &app.app_id, at - REWRITE_MARGIN)
                .await?
            {
                Some(first) => (first - 1).min(head),
                None => head,
            }
        }
        None => head.min(app.delivered_seq),
    };
    if store::sinks::move_back(&mut *conn, &app.app_id, name, app.delivered_seq, to).await? {
        metrics().rewritten.with_label_values(&[name]).inc();
        tracing::warn!(
            sink = name,
            app_id = app.app_id,
            cursor = app.delivered_seq,
            head,
            resumes_after = to,
            "the audit log was rewritten under the sink's cursor (a failover lost events it had delivered): delivering again from the rewritten revisions"
        );
    }
    Ok(())
}

/// How far before the time of the last delivered event a rewritten log is read again.
const REWRITE_MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

fn wanted(sink: &DeliverySink, e: &StoredEvent) -> bool {
    sink.row
        .actions
        .as_ref()
        .is_none_or(|a| a.iter().any(|x| x == e.event.action.as_str()))
}

/// Whether the sink delivers signed checkpoints: with no action filter, or one that names
/// `checkpoint`.
fn wants_checkpoints(sink: &DeliverySink) -> bool {
    sink.row
        .actions
        .as_ref()
        .is_none_or(|a| a.iter().any(|x| x == format::CHECKPOINT_ACTION))
}

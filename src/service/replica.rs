//! The read replica (`LATCHKEY_READ_DATABASE_URL`): its pool, the monitor that measures how far
//! it has replayed, and which reads it answers (`domain::read_routing` has the rules).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;

use super::Latchkey;
use crate::domain::read_routing::{self, ReadTarget, ReplicaPosition};
use crate::store::snapshots as store;

/// How often the replica's position is measured.
pub const MEASURE_EVERY: Duration = Duration::from_millis(100);
/// Longest a measurement may take (a replica that does not answer ages out of use).
const MEASURE_TIMEOUT: Duration = Duration::from_secs(1);

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

pub struct Replica {
    pool: PgPool,
    max_lag: Duration,
    position: Mutex<Option<ReplicaPosition>>,
    /// When each application was last written through this instance.
    wrote: Mutex<HashMap<String, i64>>,
}

impl Replica {
    pub fn new(pool: PgPool, max_lag: Duration) -> Self {
        Self {
            pool,
            max_lag,
            position: Mutex::new(None),
            wrote: Mutex::new(HashMap::new()),
        }
    }

    fn position(&self) -> Option<ReplicaPosition> {
        *self.position.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How far behind the primary the replica was at its last measurement (`None`: unknown).
    pub fn lag(&self) -> Option<Duration> {
        self.position()
            .map(|p| Duration::from_micros(u64::try_from(p.lag_micros()).unwrap_or(u64::MAX)))
    }

    fn target(&self, app_id: &str) -> ReadTarget {
        let wrote = self
            .wrote
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(app_id)
            .copied();
        read_routing::route(self.position(), wrote, now_micros(), micros(self.max_lag))
    }

    fn note_write(&self, app_id: &str) {
        self.wrote
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(app_id.to_owned(), now_micros());
    }

    /// Measures the replica against `primary` every [`MEASURE_EVERY`] until aborted. A read
    /// server that is not a standby (`pg_is_in_recovery()` false: a logical copy, another
    /// pooler in front of the primary) cannot be measured: it is taken as lagging by exactly
    /// the bound, so it is used, except for applications written through this instance within
    /// the bound.
    pub async fn monitor(self: Arc<Self>, primary: PgPool) {
        // The primary's (time, WAL position), oldest first, over twice the lag bound.
        let mut samples: VecDeque<(i64, i64)> = VecDeque::new();
        let keep = micros(self.max_lag) * 2 + 1_000_000;
        let mut tick = tokio::time::interval(MEASURE_EVERY);
        loop {
            tick.tick().await;
            let started = now_micros();
            if let Ok(Ok(lsn)) =
                tokio::time::timeout(MEASURE_TIMEOUT, store::wal_position(&primary)).await
            {
                samples.push_back((started, lsn));
            }
            while samples.front().is_some_and(|(t, _)| *t < started - keep) {
                samples.pop_front();
            }
            let replay =
                tokio::time::timeout(MEASURE_TIMEOUT, store::replay_position(&self.pool)).await;
            let measured_at = now_micros();
            let replayed_until = match replay {
                Ok(Ok(None)) => Some(measured_at - micros(self.max_lag)),
                Ok(Ok(Some(lsn))) => Some(
                    read_routing::replayed_until(samples.make_contiguous(), lsn)
                        // Behind every sample kept: far past the bound.
                        .unwrap_or(i64::MIN / 2),
                ),
                _ => None,
            };
            if let Some(replayed_until) = replayed_until {
                *self.position.lock().unwrap_or_else(|e| e.into_inner()) = Some(ReplicaPosition {
                    replayed_until,
                    measured_at,
                });
                self.wrote
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .retain(|_, w| *w >= replayed_until);
            }
        }
    }
}

impl Latchkey {
    /// Reads that may come from a replica go to this one (see `domain::read_routing`).
    pub fn with_replica(mut self, replica: Arc<Replica>) -> Self {
        self.replica = Some(replica);
        self
    }

    pub fn replica(&self) -> Option<&Arc<Replica>> {
        self.replica.as_ref()
    }

    /// `app_id` was just written through this instance: its reads go to the primary until the
    /// replica has replayed past now.
    pub fn note_write(&self, app_id: &str) {
        if let Some(r) = &self.replica {
            r.note_write(app_id);
        }
    }
}

/// The pool for a read of `app_id` that may come from `replica`: the replica's while it answers
/// that application's reads (see `domain::read_routing`), else `primary`. A free function so
/// that every area struct borrowing the two (`AuditService`, `ClientsService`, `StagingService`)
/// routes its reads alike.
pub(crate) fn read_pool<'a>(
    primary: &'a PgPool,
    replica: Option<&'a Replica>,
    app_id: &str,
) -> &'a PgPool {
    match replica {
        Some(r) if r.target(app_id) == ReadTarget::Replica => &r.pool,
        _ => primary,
    }
}

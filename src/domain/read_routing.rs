//! Which database answers a read that may come from a replica (`LATCHKEY_READ_DATABASE_URL`):
//! audit queries and exports, reports, access reviews (entitlements at a moment), fixture
//! exports and client lists. Everything that must
//! be fresh (writes, authentication, one client, the access decision, `atLeastAsFresh`) never
//! asks: it reads the primary (or the snapshots kept fresh by it).
//!
//! Times are Unix microseconds; the caller passes `now` (this module does no I/O).

/// What is known of the replica: every commit the primary acknowledged before
/// `replayed_until` is replayed there, as measured at `measured_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaPosition {
    pub replayed_until: i64,
    pub measured_at: i64,
}

impl ReplicaPosition {
    /// How far behind the primary the replica was when measured.
    pub fn lag_micros(&self) -> i64 {
        self.measured_at.saturating_sub(self.replayed_until).max(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadTarget {
    Primary,
    Replica,
}

/// The rules, in order:
///
/// 1. no replica position known (none configured, not measured yet, or the last measurement
///    is older than `max_lag`: the replica does not answer) → the primary;
/// 2. the replica lags more than `max_lag` → the primary (the replica is skipped);
/// 3. the application was written through this instance (`wrote_at`) and the replica has not
///    replayed past that write → the primary (a caller reads its own writes);
/// 4. otherwise the replica.
pub fn route(
    position: Option<ReplicaPosition>,
    wrote_at: Option<i64>,
    now: i64,
    max_lag_micros: i64,
) -> ReadTarget {
    let Some(p) = position else {
        return ReadTarget::Primary;
    };
    if now.saturating_sub(p.measured_at) > max_lag_micros || p.lag_micros() > max_lag_micros {
        return ReadTarget::Primary;
    }
    match wrote_at {
        Some(w) if w >= p.replayed_until => ReadTarget::Primary,
        _ => ReadTarget::Replica,
    }
}

/// Where a standby has replayed to, as a time: the latest of the primary's `(time, wal
/// position)` samples (oldest first) whose position the standby's replay position `replayed`
/// has reached (every commit acknowledged before that sample is replayed). `None`: it has not
/// reached even the oldest sample kept.
pub fn replayed_until(samples: &[(i64, i64)], replayed: i64) -> Option<i64> {
    samples
        .iter()
        .rev()
        .find(|(_, lsn)| *lsn <= replayed)
        .map(|(t, _)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn at(replayed_until: i64, measured_at: i64) -> Option<ReplicaPosition> {
        Some(ReplicaPosition {
            replayed_until,
            measured_at,
        })
    }

    #[test]
    fn no_replica_or_no_measurement_reads_the_primary() {
        assert_eq!(route(None, None, 10 * S, S), ReadTarget::Primary);
        // Measured long ago: the monitor cannot reach the replica.
        assert_eq!(
            route(at(5 * S, 5 * S), None, 10 * S, S),
            ReadTarget::Primary
        );
    }

    #[test]
    fn a_caught_up_replica_answers() {
        assert_eq!(
            route(at(10 * S - 200_000, 10 * S), None, 10 * S + 100_000, S),
            ReadTarget::Replica
        );
    }

    #[test]
    fn a_replica_lagging_past_the_bound_is_skipped() {
        assert_eq!(
            route(at(8 * S, 10 * S), None, 10 * S, S),
            ReadTarget::Primary
        );
        assert_eq!(
            route(at(9 * S, 10 * S), None, 10 * S, S),
            ReadTarget::Replica
        );
    }

    #[test]
    fn own_writes_are_read_from_the_primary_until_replayed() {
        let p = at(10 * S - 300_000, 10 * S);
        // Written after the replica's position: primary.
        assert_eq!(
            route(p, Some(10 * S - 100_000), 10 * S, S),
            ReadTarget::Primary
        );
        assert_eq!(
            route(p, Some(10 * S - 300_000), 10 * S, S),
            ReadTarget::Primary
        );
        // Written before it: the replica has it.
        assert_eq!(
            route(p, Some(10 * S - 400_000), 10 * S, S),
            ReadTarget::Replica
        );
    }

    #[test]
    fn replayed_until_is_the_latest_sample_reached() {
        let samples = [(1, 100), (2, 150), (3, 150), (4, 300)];
        assert_eq!(replayed_until(&samples, 99), None);
        assert_eq!(replayed_until(&samples, 100), Some(1));
        assert_eq!(replayed_until(&samples, 200), Some(3));
        assert_eq!(replayed_until(&samples, 300), Some(4));
    }
}

//! Limits failed authentications per source address and per client id.
//!
//! Counts live in this process (bounded: at most `MAX_TRACKED` addresses and ids, each for one
//! window), so with N servers behind a load balancer a caller gets at most N times the limit.
//! That keeps a database write off every failed request, which is what an attacker controls.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;

const MAX_TRACKED: u64 = 100_000;

/// Failures seen since `started`; the window closes `window` after it.
struct Window {
    started: Instant,
    failures: AtomicU32,
}

pub struct FailureLimiter {
    limit: u32,
    window: Duration,
    by_ip: Cache<IpAddr, Arc<Window>>,
    by_client: Cache<String, Arc<Window>>,
}

impl FailureLimiter {
    /// `limit` failures per `window`; a limit of 0 disables limiting.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            by_ip: Cache::builder()
                .max_capacity(MAX_TRACKED)
                .time_to_live(window)
                .build(),
            by_client: Cache::builder()
                .max_capacity(MAX_TRACKED)
                .time_to_live(window)
                .build(),
        }
    }

    /// `Some(retry_after)` when this address or this client id used up its failures.
    pub fn blocked(&self, ip: IpAddr, client_id: Option<&str>) -> Option<Duration> {
        if self.limit == 0 {
            return None;
        }
        let over = |w: Option<Arc<Window>>| {
            w.filter(|w| w.failures.load(Ordering::Relaxed) >= self.limit)
                .map(|w| self.window.saturating_sub(w.started.elapsed()))
        };
        let by_ip = over(self.by_ip.get(&ip));
        let by_client = client_id.and_then(|c| over(self.by_client.get(c)));
        by_ip.into_iter().chain(by_client).max()
    }

    pub fn record_failure(&self, ip: IpAddr, client_id: Option<&str>) {
        if self.limit == 0 {
            return;
        }
        let fresh = || {
            Arc::new(Window {
                started: Instant::now(),
                failures: AtomicU32::new(0),
            })
        };
        self.by_ip
            .get_with(ip, fresh)
            .failures
            .fetch_add(1, Ordering::Relaxed);
        if let Some(c) = client_id {
            self.by_client
                .get_with(c.to_owned(), fresh)
                .failures
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_an_address_after_the_limit() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(l.blocked(ip("1.1.1.1"), None).is_none());
            l.record_failure(ip("1.1.1.1"), None);
        }
        let retry = l.blocked(ip("1.1.1.1"), None).unwrap();
        assert!(retry <= Duration::from_secs(60) && retry > Duration::from_secs(55));
        assert!(
            l.blocked(ip("2.2.2.2"), None).is_none(),
            "other addresses are not affected"
        );
    }

    #[test]
    fn blocks_a_client_id_from_any_address() {
        let l = FailureLimiter::new(2, Duration::from_secs(60));
        l.record_failure(ip("1.1.1.1"), Some("c"));
        l.record_failure(ip("2.2.2.2"), Some("c"));
        assert!(l.blocked(ip("3.3.3.3"), Some("c")).is_some());
        assert!(l.blocked(ip("3.3.3.3"), Some("d")).is_none());
    }

    #[test]
    fn windows_expire() {
        let l = FailureLimiter::new(1, Duration::from_millis(50));
        l.record_failure(ip("1.1.1.1"), None);
        assert!(l.blocked(ip("1.1.1.1"), None).is_some());
        std::thread::sleep(Duration::from_millis(120));
        l.by_ip.run_pending_tasks();
        assert!(l.blocked(ip("1.1.1.1"), None).is_none());
    }

    #[test]
    fn zero_disables() {
        let l = FailureLimiter::new(0, Duration::from_secs(60));
        for _ in 0..100 {
            l.record_failure(ip("1.1.1.1"), Some("c"));
        }
        assert!(l.blocked(ip("1.1.1.1"), Some("c")).is_none());
    }
}

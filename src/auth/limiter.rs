//! Limits the Argon2 work failed authentications can cause, per source.
//!
//! The rule (docs/limits.md): each *source* — an IPv4 address, or an IPv6 /64 (one customer's
//! network, however many addresses it uses) — may make `limit` fresh failed guesses per
//! `window`; past that, its new guesses are answered 429 without touching the database or
//! Argon2. Failures are never counted against a client id, so failures from some sources never
//! refuse a caller presenting a working secret from another one. What is not a guess is never
//! refused (see `service::auth`): a credential already verified, and a replayed wrong secret
//! (remembered by the hasher, answered 401 at no Argon2 cost).
//!
//! Counts live in this process (bounded: at most `MAX_TRACKED` sources, each for one window),
//! so with N servers behind a load balancer a source gets at most N times the limit. That keeps
//! a database write off every failed request, which is what an attacker controls.

use std::net::{IpAddr, Ipv6Addr};
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
    by_source: Cache<IpAddr, Arc<Window>>,
}

/// The source an address belongs to: the address itself for IPv4 (IPv4-mapped IPv6 included),
/// its /64 network for IPv6.
pub fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & 0xffff_ffff_ffff_ffff_0000_0000_0000_0000,
            )),
        },
    }
}

impl FailureLimiter {
    /// `limit` failures per `window`; a limit of 0 disables limiting.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            by_source: Cache::builder()
                .max_capacity(MAX_TRACKED)
                .time_to_live(window)
                .build(),
        }
    }

    /// `Some(retry_after)` when the source of `ip` used up its failures.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        if self.limit == 0 {
            return None;
        }
        self.by_source
            .get(&source_of(ip))
            .filter(|w| w.failures.load(Ordering::Relaxed) >= self.limit)
            .map(|w| self.window.saturating_sub(w.started.elapsed()))
    }

    /// One fresh failed guess from `ip`.
    pub fn record_failure(&self, ip: IpAddr) {
        if self.limit == 0 {
            return;
        }
        self.by_source
            .get_with(source_of(ip), || {
                Arc::new(Window {
                    started: Instant::now(),
                    failures: AtomicU32::new(0),
                })
            })
            .failures
            .fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_a_source_after_the_limit() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(l.blocked(ip("1.1.1.1")).is_none());
            l.record_failure(ip("1.1.1.1"));
        }
        let retry = l.blocked(ip("1.1.1.1")).unwrap();
        assert!(retry <= Duration::from_secs(60) && retry > Duration::from_secs(55));
        assert!(
            l.blocked(ip("2.2.2.2")).is_none(),
            "other addresses are not affected"
        );
    }

    #[test]
    fn an_ipv6_64_is_one_source_and_mapped_ipv4_is_ipv4() {
        let l = FailureLimiter::new(2, Duration::from_secs(60));
        l.record_failure(ip("2001:db8::1"));
        l.record_failure(ip("2001:db8::ffff:2"));
        assert!(l.blocked(ip("2001:db8::3")).is_some());
        assert!(l.blocked(ip("2001:db8:0:1::3")).is_none());
        l.record_failure(ip("::ffff:9.9.9.9"));
        l.record_failure(ip("9.9.9.9"));
        assert!(l.blocked(ip("9.9.9.9")).is_some());
        assert!(l.blocked(ip("9.9.9.8")).is_none());
    }

    #[test]
    fn windows_expire() {
        let l = FailureLimiter::new(1, Duration::from_millis(50));
        l.record_failure(ip("1.1.1.1"));
        assert!(l.blocked(ip("1.1.1.1")).is_some());
        std::thread::sleep(Duration::from_millis(120));
        l.by_source.run_pending_tasks();
        assert!(l.blocked(ip("1.1.1.1")).is_none());
    }

    #[test]
    fn zero_disables() {
        let l = FailureLimiter::new(0, Duration::from_secs(60));
        for _ in 0..100 {
            l.record_failure(ip("1.1.1.1"));
        }
        assert!(l.blocked(ip("1.1.1.1")).is_none());
    }
}

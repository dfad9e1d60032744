//! The time the use cases write (an audit event's `occurred_at`). Domain functions take `now`
//! as an argument; the service reads it from a [`Clock`], which a test may replace, so no test
//! sleeps to put two events at different times.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::audit::to_micros;

/// Where "now" comes from: the system clock, or (tests) a function of the caller's.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>>);

impl Clock {
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock that reads `now` (a test's clock it moves by hand).
    pub fn from_fn(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(now)))
    }

    /// Now, cut to microseconds (what PostgreSQL stores, so hashes agree).
    pub fn now(&self) -> DateTime<Utc> {
        to_micros(match &self.0 {
            Some(now) => now(),
            None => Utc::now(),
        })
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Clock(set)"
        } else {
            "Clock(system)"
        })
    }
}

/// The system clock's now, cut to microseconds (code that has no request at hand).
pub fn now_micros() -> DateTime<Utc> {
    Clock::system().now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_clock_is_read_and_cut_to_microseconds() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        let clock = Clock::from_fn(move || t);
        assert_eq!(clock.now().timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(Clock::system().now().timestamp_subsec_nanos() % 1000, 0);
    }
}

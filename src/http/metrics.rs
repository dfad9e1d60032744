//! Prometheus metrics: requests by route template and status, latency histograms, Argon2 and
//! credential-cache counters, database pool usage. Gauges and counters owned elsewhere (the
//! hasher, the pool) are read when scraped, so the hot path only touches two atomics.

use actix_web::{web, HttpResponse};
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use super::HttpState;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    argon2_verifications: IntGauge,
    cache_hits: IntGauge,
    hashes: IntGauge,
    pool: IntGaugeVec,
    snapshots: IntGaugeVec,
    oauth_tokens: IntCounterVec,
    listener: IntGaugeVec,
    notification_queue: Gauge,
    read_only_refusals: IntGauge,
    replica_lag: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    #[allow(
        clippy::expect_used,
        reason = "constant metric names and options, built once at startup: a failure is a \
                  programming error that every test run would show"
    )]
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("latchkey".into()), None).expect("valid prefix");
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route template, method and status",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route template and method",
            )
            .buckets(vec![
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route", "method"],
        )
        .expect("valid metric");
        // Counters kept by the hasher, exported as gauges of their running totals.
        let argon2_verifications = IntGauge::new(
            "argon2_verifications_total",
            "Argon2 computations made to check secrets (one per fresh check)",
        )
        .expect("valid metric");
        let cache_hits = IntGauge::new(
            "credential_cache_hits_total",
            "Secret verifications proven from the credential cache",
        )
        .expect("valid metric");
        let hashes = IntGauge::new("argon2_hashes_total", "Argon2 hashes of new secrets")
            .expect("valid metric");
        let pool = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state"),
            &["state"],
        )
        .expect("valid metric");
        let snapshots = IntGaugeVec::new(
            Opts::new(
                "snapshot",
                "Snapshots and the change feed: entries, bytes, trusted (1 while listening), \
                 loads (entries read from the database while trusted, since start), \
                 feed_subscribers",
            ),
            &["what"],
        )
        .expect("valid metric");
        let oauth_tokens = IntCounterVec::new(
            Opts::new(
                "oauth_token_requests_total",
                "OAuth token requests by application (`-` before the client was authenticated) \
                 and outcome (`issued` or the RFC 6749 error code)",
            ),
            &["app", "outcome"],
        )
        .expect("valid metric");
        let listener = IntGaugeVec::new(
            Opts::new(
                "listener_events_total",
                "Change listener: reconnects (listened again after losing its connection), \
                 rewinds (applications found behind a revision heard of: lost commits)",
            ),
            &["event"],
        )
        .expect("valid metric");
        let notification_queue = Gauge::new(
            "notification_queue_usage",
            "pg_notification_queue_usage(): fraction of PostgreSQL's notification queue in use \
             (-1 when the database did not answer)",
        )
        .expect("valid metric");
        let read_only_refusals = IntGauge::new(
            "db_read_only_refusals_total",
            "Statements refused because the connection was read-only (SQLSTATE 25006)",
        )
        .expect("valid metric");
        let replica_lag = Gauge::new(
            "replica_lag_seconds",
            "How far the read replica (LATCHKEY_READ_DATABASE_URL) was behind the primary at its \
             last measurement (-1: no replica, or not measured)",
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(argon2_verifications.clone()),
            Box::new(cache_hits.clone()),
            Box::new(hashes.clone()),
            Box::new(pool.clone()),
            Box::new(snapshots.clone()),
            Box::new(oauth_tokens.clone()),
            Box::new(listener.clone()),
            Box::new(notification_queue.clone()),
            Box::new(read_only_refusals.clone()),
            Box::new(replica_lag.clone()),
            Box::new(crate::sinks::metrics().lag.clone()),
            Box::new(crate::sinks::metrics().delivered.clone()),
            Box::new(crate::sinks::metrics().failures.clone()),
            Box::new(crate::sinks::metrics().rewritten.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Self {
            registry,
            requests,
            latency,
            argon2_verifications,
            cache_hits,
            hashes,
            pool,
            snapshots,
            oauth_tokens,
            listener,
            notification_queue,
            read_only_refusals,
            replica_lag,
        }
    }

    /// One token request's outcome.
    pub fn oauth_token(&self, app: &str, outcome: &str) {
        self.oauth_tokens.with_label_values(&[app, outcome]).inc();
    }

    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[route, method])
            .observe(seconds);
    }

    async fn render(&self, state: &HttpState) -> String {
        let stats = state.service.hasher_stats();
        self.argon2_verifications
            .set(stats.argon2_verifications as i64);
        self.cache_hits.set(stats.cache_hits as i64);
        self.hashes.set(stats.hashes as i64);
        let pool = state.service.pool();
        let idle = pool.num_idle() as i64;
        self.pool.with_label_values(&["idle"]).set(idle);
        self.pool
            .with_label_values(&["in_use"])
            .set(pool.size() as i64 - idle);
        let snapshots = state.service.snapshots();
        let (entries, bytes) = snapshots.size();
        for (what, value) in [
            ("entries", entries as i64),
            ("bytes", bytes as i64),
            ("trusted", i64::from(snapshots.trusted())),
            (
                "loads",
                i64::try_from(snapshots.loads()).unwrap_or(i64::MAX),
            ),
            ("feed_subscribers", snapshots.feed_subscribers() as i64),
        ] {
            self.snapshots.with_label_values(&[what]).set(value);
        }
        let (reconnects, rewinds) = snapshots.listener_counts();
        for (event, value) in [("reconnects", reconnects), ("rewinds", rewinds)] {
            self.listener
                .with_label_values(&[event])
                .set(i64::try_from(value).unwrap_or(i64::MAX));
        }
        self.read_only_refusals
            .set(i64::try_from(state.service.read_only_refusals()).unwrap_or(i64::MAX));
        let lag = state.service.replica().and_then(|r| r.lag());
        self.replica_lag.set(lag.map_or(-1.0, |d| d.as_secs_f64()));
        let usage = state.service.notification_queue_usage().await;
        self.notification_queue.set(usage.unwrap_or(-1.0));
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Where the metrics are served (on the main listener, or alone on `LATCHKEY_METRICS_LISTEN`).
pub const PATH: &str = "/metrics";

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain; version=0.0.4", body = String)))]
pub async fn metrics(state: web::Data<HttpState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render(&state).await)
}

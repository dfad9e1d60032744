//! Wiring: database pool, migrations, the service, the HTTP server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{middleware, web, App, HttpServer};
use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::ConnectOptions;
use sqlx::PgPool;

use crate::auth::limiter::FailureLimiter;
use crate::auth::sealing::KeyRing;
use crate::auth::SecretHasher;
use crate::cache::{SnapshotConfig, Snapshots};
use crate::http::{self, HttpState};
use crate::service::oauth::{OAuth, OAuthConfig};
use crate::service::replica::Replica;
use crate::service::{Clock, Latchkey};
use crate::settings::{Consistency, Settings};
use crate::store::primary;

pub use crate::store::MIGRATOR;

/// Connects to `url` with the pool settings every command uses.
pub async fn connect(
    url: &str,
    max_connections: u32,
    max_lifetime_secs: u64,
) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url
        .parse::<PgConnectOptions>()
        .context("DATABASE_URL is not a valid URL")?
        // Whole-log audit reads (export, verify) are long by nature; warn only past 10 s.
        .log_slow_statements(log::LevelFilter::Warn, Duration::from_secs(10))
        // PostgreSQL's notices (`relation "_sqlx_migrations" already exists, skipping` at every
        // start) are not for our users: only warnings and errors reach the log.
        .options([("client_min_messages", "warning")]);
    PgPoolOptions::new()
        .max_connections(max_connections)
        // A request waits at most this long for a connection; past it the caller gets 503.
        .acquire_timeout(Duration::from_secs(3))
        // No ping before each query (a round trip per statement, measured at +20–34 % req/s
        // for a GET in bench/README.md); a connection PostgreSQL dropped fails its query with
        // 503 once and is replaced, and idle connections are recycled well before typical
        // proxy timeouts.
        .test_before_acquire(false)
        .idle_timeout(Duration::from_secs(60))
        // Replaced under load too, so no connection keeps a stale generic plan for long
        // (settings: LATCHKEY_DB_MAX_LIFETIME_SECS).
        .max_lifetime(Duration::from_secs(max_lifetime_secs))
        // Only a writable primary (store::primary): a new connection is checked once; after a
        // write was refused as read-only, every connection handed out is checked for a while.
        .after_connect(|conn, _| {
            Box::pin(async move {
                if primary::writable(conn).await? {
                    Ok(())
                } else {
                    Err(sqlx::Error::Configuration(Box::new(
                        primary::ReadOnlyServer,
                    )))
                }
            })
        })
        .before_acquire(|conn, _| {
            Box::pin(async move {
                if !primary::suspect() {
                    return Ok(true);
                }
                let writable = primary::writable(conn).await?;
                if !writable {
                    tracing::warn!("closing a read-only database connection");
                }
                Ok(writable)
            })
        })
        .connect_with(options)
        .await
        .context("cannot connect to PostgreSQL")
}

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("applying database migrations")
}

/// The service built from settings and a pool.
pub fn service(settings: &Settings, pool: PgPool) -> anyhow::Result<Latchkey> {
    let auth = &settings.auth;
    let params = auth.argon2_params().context("invalid Argon2 parameters")?;
    let max_hashes = auth
        .max_concurrent_hashes
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let hasher = SecretHasher::new(params, max_hashes, auth.cache_capacity)
        .context("initialising Argon2")?;
    Ok(Latchkey::new(
        pool,
        Arc::new(hasher),
        auth.operator_token.as_deref(),
        &auth.operator_name,
        FailureLimiter::new(
            auth.failure_limit,
            Duration::from_secs(auth.failure_window_secs),
        ),
    )
    .with_sealing(
        sealing_keys(settings)?,
        Duration::from_secs(auth.signature_window_secs),
    )
    .with_audit_host(&settings.public_host().map_err(anyhow::Error::msg)?))
}

/// The sealing key ring from `LATCHKEY_SEALING_KEY` (+ previous keys) or the key file; `None`
/// when neither is set (applications cannot use signed requests or show_secrets then).
pub fn sealing_keys(settings: &Settings) -> anyhow::Result<Option<KeyRing>> {
    let sealing = &settings.sealing;
    Ok(match (&sealing.key, &sealing.key_file) {
        (Some(key), _) => Some(
            KeyRing::from_base64(key, &sealing.previous_keys).context("LATCHKEY_SEALING_KEY")?,
        ),
        (None, Some(path)) => Some(KeyRing::from_file(path)?),
        (None, None) => None,
    })
}

/// The OAuth service over `core`. The public URL is `LATCHKEY_PUBLIC_URL`, else `http://` and
/// the listen address (with `port`, the one actually bound, when known).
pub fn oauth(settings: &Settings, core: Latchkey, port: Option<u16>) -> OAuth {
    let listen = &settings.http.listen;
    let listen = std::net::SocketAddr::new(listen.ip(), port.unwrap_or(listen.port()));
    OAuth::new(
        core,
        OAuthConfig {
            public_url: settings
                .http
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{listen}")),
            jwks_max_age: Duration::from_secs(settings.oauth.jwks_max_age_secs),
        },
    )
}

/// A bound, not yet running, HTTP server.
pub struct Application {
    port: u16,
    server: Server,
    metrics_server: Option<Server>,
    snapshots: Arc<Snapshots>,
    listener_pool: PgPool,
    /// The service and period of the checkpoint task.
    checkpoints: (Latchkey, Duration),
    listen_options: PgConnectOptions,
    replica: Option<Arc<Replica>>,
    /// The service and settings of the sink workers (`None`: this instance delivers none).
    sinks: Option<(Latchkey, crate::sinks::DeliveryConfig)>,
}

impl Application {
    /// Binds `settings.http.listen` and builds the server over an already migrated pool.
    pub fn build(settings: &Settings, pool: PgPool) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, pool, Clock::system())
    }

    /// [`Application::build`] with the service's time taken from `clock` (tests).
    pub fn build_with_clock(
        settings: &Settings,
        pool: PgPool,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.http.listen)
            .with_context(|| format!("cannot listen on {}", settings.http.listen))?;
        let port = listener.local_addr()?.port();
        let snapshots = Arc::new(Snapshots::new(SnapshotConfig {
            enabled: settings.snapshots.consistency == Consistency::Snapshot,
            budget_bytes: settings.snapshots.budget_mb.saturating_mul(1024 * 1024),
            feed_max_subscribers: settings.feed.max_subscribers,
            feed_heartbeat: Duration::from_secs(settings.feed.heartbeat_secs),
            feed_buffer: settings.feed.buffer,
        }));
        let listener_pool = pool.clone();
        let replica = match &settings.database.read_url {
            Some(url) => {
                let options = url
                    .parse::<PgConnectOptions>()
                    .context("LATCHKEY_READ_DATABASE_URL is not a valid URL")?
                    .options([("client_min_messages", "warning")]);
                let replica_pool = PgPoolOptions::new()
                    .max_connections(settings.database.max_connections)
                    .acquire_timeout(Duration::from_secs(3))
                    .test_before_acquire(false)
                    .idle_timeout(Duration::from_secs(60))
                    .max_lifetime(Duration::from_secs(settings.database.max_lifetime_secs))
                    .connect_lazy_with(options);
                Some(Arc::new(Replica::new(
                    replica_pool,
                    Duration::from_millis(settings.database.read_max_lag_ms),
                )))
            }
            None => None,
        };
        let listen_options = match &settings.database.listen_url {
            Some(url) => url
                .parse::<PgConnectOptions>()
                .context("LATCHKEY_LISTEN_DATABASE_URL is not a valid URL")?,
            None => pool.connect_options().as_ref().clone(),
        };
        let mut service = service(settings, pool)?
            .with_snapshots(snapshots.clone())
            .with_clock(clock);
        if let Some(replica) = &replica {
            service = service.with_replica(replica.clone());
        }
        let oauth = web::Data::new(oauth(settings, service.clone(), Some(port)));
        let checkpoints = (
            service.clone(),
            Duration::from_secs(settings.evidence.checkpoint_secs),
        );
        let sinks = settings.sinks.delivery.then(|| {
            (
                service.clone(),
                crate::sinks::DeliveryConfig {
                    poll: Duration::from_secs(settings.sinks.poll_secs),
                    timeout: Duration::from_secs(settings.sinks.timeout_secs),
                    batch_wait: Duration::from_millis(settings.sinks.batch_wait_ms),
                },
            )
        });
        let state = web::Data::new(HttpState {
            service,
            trusted_proxies: settings.http.trusted_proxies.clone(),
            metrics: Arc::new(http::metrics::Metrics::new()),
            body_timeout: Duration::from_secs(settings.http.body_timeout_secs),
            console_idle: Duration::from_secs(settings.console.idle_secs),
        });
        // /metrics is on the main listener unless it has its own address.
        let metrics_apart = settings.http.metrics_listen.is_some();
        let main_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(main_state.clone())
                .app_data(oauth.clone())
                .wrap(middleware::from_fn(http::request::request_id_middleware))
                .configure(|cfg| http::configure(cfg, !metrics_apart))
                .default_service(web::to(http::config::not_found))
        })
        .client_request_timeout(Duration::from_secs(10))
        .shutdown_timeout(30);
        if let Some(workers) = settings.http.workers {
            server = server.workers(workers);
        }
        let server = server.listen(listener)?.run();
        let metrics_server = match settings.http.metrics_listen {
            Some(addr) => Some(
                HttpServer::new(move || {
                    App::new().app_data(state.clone()).configure(|cfg| {
                        http::routes::configure(cfg, |r| r.path == http::metrics::PATH)
                    })
                })
                .workers(1)
                .bind(addr)
                .with_context(|| format!("cannot listen on {addr} for metrics"))?
                .run(),
            ),
            None => None,
        };
        Ok(Self {
            port,
            server,
            metrics_server,
            snapshots,
            listener_pool,
            checkpoints,
            listen_options,
            replica,
            sinks,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The instance's snapshots (whether its listener listens, for a caller that must wait
    /// for that, such as a test starting several instances).
    pub fn snapshots(&self) -> Arc<Snapshots> {
        self.snapshots.clone()
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // The replica's monitor measures it against the primary (the request pool).
        let monitor = self
            .replica
            .map(|r| tokio::spawn(r.monitor(self.listener_pool.clone())));
        // The change listener runs as long as the server: snapshots and the change feed need it.
        let listener = tokio::spawn(crate::cache::listener::run(
            self.snapshots,
            self.listener_pool,
            self.listen_options,
        ));
        let (service, every) = self.checkpoints;
        let argon2_memory = tokio::spawn(crate::auth::secrets::release_idle_memory(
            service.hasher.clone(),
        ));
        // The entitlement states on the checkpoints' beat (docs/audit.md "Access reviews").
        let states = tokio::spawn(crate::service::run_entitlement_states(
            service.clone(),
            every,
        ));
        let checkpoints = tokio::spawn(crate::service::run_checkpoints(service, every));
        // Sink delivery runs beside the server (never in a request's path).
        let sinks = self
            .sinks
            .map(|(service, config)| tokio::spawn(crate::sinks::supervise(service, config)));
        let result = Self::serve(self.server, self.metrics_server).await;
        listener.abort();
        argon2_memory.abort();
        checkpoints.abort();
        states.abort();
        if let Some(sinks) = sinks {
            sinks.abort();
        }
        if let Some(monitor) = monitor {
            monitor.abort();
        }
        result
    }

    async fn serve(server: Server, metrics_server: Option<Server>) -> std::io::Result<()> {
        match metrics_server {
            Some(metrics) => {
                // Both servers run at once; an actix Server only serves while it is polled.
                let handle = metrics.handle();
                let metrics = tokio::spawn(metrics);
                let result = server.await;
                // The main server drained and stopped: stop the metrics listener with it.
                handle.stop(true).await;
                let _ = metrics.await;
                result
            }
            None => server.await,
        }
    }
}

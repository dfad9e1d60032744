//! Typed configuration from flags and environment (`LATCHKEY_*`, `DATABASE_URL`).

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;

/// Everything the server needs to run, in groups. Every field is a flag and an environment
/// variable (names unchanged since the settings were flat: a configuration keeps working); the
/// README's configuration table lists them. [`Settings::validate`] checks and clamps them all.
#[derive(clap::Args, Debug, Clone)]
pub struct Settings {
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub http: HttpSettings,
    #[command(flatten)]
    pub auth: AuthSettings,
    #[command(flatten)]
    pub sealing: SealingSettings,
    #[command(flatten)]
    pub snapshots: SnapshotSettings,
    #[command(flatten)]
    pub feed: FeedSettings,
    #[command(flatten)]
    pub console: ConsoleSettings,
    #[command(flatten)]
    pub oauth: OAuthSettings,
    #[command(flatten)]
    pub sinks: SinkSettings,
    #[command(flatten)]
    pub evidence: EvidenceSettings,

    /// Log format. Levels come from RUST_LOG.
    #[arg(long = "log-format", env = "LATCHKEY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human, help_heading = "Logging")]
    pub log_format: LogFormat,
}

/// `LATCHKEY_LOG_FORMAT`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// `LATCHKEY_CONSISTENCY`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// Authentication, client reads and the access decision run from per-instance snapshots
    /// kept fresh by LISTEN/NOTIFY.
    Snapshot,
    /// Read the database on every request (no staleness window at all).
    Strict,
}

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Database")]
pub struct DatabaseSettings {
    /// PostgreSQL URL. Without it, a private cluster is started under `<data-dir>/pg`.
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
    pub url: Option<String>,

    /// Folder for the embedded PostgreSQL cluster (used only without DATABASE_URL).
    #[arg(
        long = "data-dir",
        env = "LATCHKEY_DATA_DIR",
        default_value = ".latchkey"
    )]
    pub data_dir: PathBuf,

    /// Largest database connection pool.
    #[arg(
        long = "db-max-connections",
        env = "LATCHKEY_DB_MAX_CONNECTIONS",
        default_value_t = 20
    )]
    pub max_connections: u32,

    /// Seconds a pooled connection lives before it is replaced (also under steady load, when
    /// no connection is ever idle). PostgreSQL keeps a prepared statement's generic plan for
    /// the life of the connection: one made while a table was tiny (a fresh database) stays
    /// a sequential scan as the table grows, and a PUT load on a new database fell from 800 to
    /// 250 writes/s in two minutes that way (bench/README.md). A new connection plans again
    /// with current statistics.
    #[arg(
        long = "db-max-lifetime-secs",
        env = "LATCHKEY_DB_MAX_LIFETIME_SECS",
        default_value_t = 60
    )]
    pub max_lifetime_secs: u64,

    /// On start, when the database holds no application, create one named `default` and print
    /// its owner credentials. Default: on with the embedded cluster, off with DATABASE_URL.
    #[arg(long = "bootstrap", env = "LATCHKEY_BOOTSTRAP")]
    pub bootstrap: Option<bool>,

    /// PostgreSQL URL of the change listener's connection (LISTEN), when it must not go where
    /// DATABASE_URL goes: a pooler in transaction mode, or to skip a pooler. Default: DATABASE_URL.
    #[arg(
        long = "listen-database-url",
        env = "LATCHKEY_LISTEN_DATABASE_URL",
        hide_env_values = true
    )]
    pub listen_url: Option<String>,

    /// PostgreSQL URL of a read replica (a streaming standby): audit queries and exports, audit
    /// reports, fixture exports and client lists read it when it is close enough
    /// (docs/high-availability.md#read-replicas). Unset: everything reads the primary.
    #[arg(
        long = "read-database-url",
        env = "LATCHKEY_READ_DATABASE_URL",
        hide_env_values = true
    )]
    pub read_url: Option<String>,

    /// The read replica is skipped while it lags the primary by more than this (milliseconds).
    #[arg(
        long = "read-max-lag-ms",
        env = "LATCHKEY_READ_MAX_LAG_MS",
        default_value_t = 1000
    )]
    pub read_max_lag_ms: u64,
}

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "HTTP")]
pub struct HttpSettings {
    /// Address the HTTP server listens on.
    #[arg(
        long = "listen",
        env = "LATCHKEY_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,

    /// Comma-separated CIDR blocks (or addresses) of reverse proxies whose X-Forwarded-For is
    /// believed.
    #[arg(long = "trusted-proxies", env = "LATCHKEY_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_proxy)]
    pub trusted_proxies: Vec<IpNet>,

    /// HTTP worker threads (default: the number of cores).
    #[arg(long = "workers", env = "LATCHKEY_WORKERS")]
    pub workers: Option<usize>,

    /// Longest time to receive a request body, from its first read to its last byte, in
    /// seconds. Past it: 408 (a trickled or stalled body cannot hold a connection).
    #[arg(long = "body-timeout-secs", env = "LATCHKEY_BODY_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout_secs: u64,

    /// Serve /metrics on this separate address instead of the main listener.
    #[arg(long = "metrics-listen", env = "LATCHKEY_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// The address clients and auditors reach this server at (e.g. `https://iam.example.com`).
    /// Its host names the audit logs in signed checkpoints (`<host>/audit/<appId>`);
    /// OAuth issuers and metadata URLs derive from it (docs/oauth.md). Default:
    /// `http://` and the listen address.
    #[arg(long = "public-url", env = "LATCHKEY_PUBLIC_URL")]
    pub public_url: Option<String>,
}

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Authentication")]
pub struct AuthSettings {
    /// Bearer token that acts as the platform operator. Unset: nobody is the operator.
    #[arg(
        long = "operator-token",
        env = "LATCHKEY_OPERATOR_TOKEN",
        hide_env_values = true
    )]
    pub operator_token: Option<String>,

    /// Name of the platform operator in error messages (the vendor says "Akamai").
    #[arg(
        long = "operator-name",
        env = "LATCHKEY_OPERATOR_NAME",
        default_value = "Akamai"
    )]
    pub operator_name: String,

    /// Argon2id memory cost in KiB for new secret hashes.
    #[arg(
        long = "argon2-m-cost",
        env = "LATCHKEY_ARGON2_M_COST",
        default_value_t = 19_456
    )]
    pub argon2_m_cost: u32,

    /// Argon2id iterations for new secret hashes.
    #[arg(
        long = "argon2-t-cost",
        env = "LATCHKEY_ARGON2_T_COST",
        default_value_t = 2
    )]
    pub argon2_t_cost: u32,

    /// Argon2id parallelism for new secret hashes.
    #[arg(
        long = "argon2-p-cost",
        env = "LATCHKEY_ARGON2_P_COST",
        default_value_t = 1
    )]
    pub argon2_p_cost: u32,

    /// Most Argon2 computations running at once (default: the number of cores).
    #[arg(long = "max-concurrent-hashes", env = "LATCHKEY_MAX_CONCURRENT_HASHES")]
    pub max_concurrent_hashes: Option<usize>,

    /// Fresh failed guesses (wrong secrets that cost an Argon2 run, wrong operator tokens)
    /// allowed per source — an IPv4 address or an IPv6 /64 — in one window (0: no limit). Past
    /// it: 429 with Retry-After for that source's new guesses only (docs/limits.md).
    #[arg(
        long = "auth-failure-limit",
        env = "LATCHKEY_AUTH_FAILURE_LIMIT",
        default_value_t = 10
    )]
    pub failure_limit: u32,

    /// Length of the failed-authentication window, in seconds (0 counts as 1).
    #[arg(
        long = "auth-failure-window-secs",
        env = "LATCHKEY_AUTH_FAILURE_WINDOW_SECS",
        default_value_t = 60
    )]
    pub failure_window_secs: u64,

    /// Verified credentials remembered (so Argon2 runs once per client and secret); 0 turns
    /// the cache off (every request pays Argon2).
    #[arg(
        long = "auth-cache-capacity",
        env = "LATCHKEY_AUTH_CACHE_CAPACITY",
        default_value_t = 100_000
    )]
    pub cache_capacity: u64,

    /// How far (seconds) the Date of a signed request may be from the server's clock.
    #[arg(
        long = "signature-window-secs",
        env = "LATCHKEY_SIGNATURE_WINDOW_SECS",
        default_value_t = 300
    )]
    pub signature_window_secs: u64,
}

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Sealing")]
pub struct SealingSettings {
    /// Key sealing the secrets of applications with signed requests or show_secrets: base64 of
    /// 32 bytes (AES-256-GCM). Alternative to `--sealing-key-file`.
    #[arg(
        long = "sealing-key",
        env = "LATCHKEY_SEALING_KEY",
        hide_env_values = true
    )]
    pub key: Option<String>,

    /// File holding the sealing key (base64, first line) and previous keys (further lines).
    /// With the embedded database and no key given, `<data-dir>/sealing.key` is created.
    #[arg(long = "sealing-key-file", env = "LATCHKEY_SEALING_KEY_FILE")]
    pub key_file: Option<PathBuf>,

    /// Comma-separated previous sealing keys (base64): they open secrets sealed before a key
    /// rotation, until `latchkey keys rotate` has re-sealed them under the current key.
    #[arg(
        long = "sealing-previous-keys",
        env = "LATCHKEY_SEALING_PREVIOUS_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub previous_keys: Vec<String>,
}

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Snapshots")]
pub struct SnapshotSettings {
    /// `snapshot`: authentication, client reads and the access decision run from per-instance
    /// snapshots kept fresh by LISTEN/NOTIFY; `strict`: read the database on every request (no
    /// staleness window at all).
    #[arg(long = "consistency", env = "LATCHKEY_CONSISTENCY", value_enum, default_value_t = Consistency::Snapshot)]
    pub consistency: Consistency,

    /// Memory budget of the snapshots, in MiB (least recently used entries go first).
    #[arg(
        long = "snapshot-budget-mb",
        env = "LATCHKEY_SNAPSHOT_BUDGET_MB",
        default_value_t = 32
    )]
    pub budget_mb: u64,
}

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Change feed")]
pub struct FeedSettings {
    /// Most change-feed subscribers (`GET /config/{appId}/changes`) at once per instance.
    #[arg(
        long = "feed-max-subscribers",
        env = "LATCHKEY_FEED_MAX_SUBSCRIBERS",
        default_value_t = 2_000
    )]
    pub max_subscribers: usize,

    /// Seconds between change-feed heartbeats (SSE comments) on a quiet feed.
    #[arg(
        long = "feed-heartbeat-secs",
        env = "LATCHKEY_FEED_HEARTBEAT_SECS",
        default_value_t = 15
    )]
    pub heartbeat_secs: u64,

    /// Changes a slow feed subscriber may have waiting before it is disconnected (it then
    /// resumes from its last revision).
    #[arg(
        long = "feed-buffer",
        env = "LATCHKEY_FEED_BUFFER",
        default_value_t = 256
    )]
    pub buffer: usize,
}

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Console")]
pub struct ConsoleSettings {
    /// Web console sessions end after this many seconds without a request (0 counts as 1).
    #[arg(
        long = "console-idle-secs",
        env = "LATCHKEY_CONSOLE_IDLE_SECS",
        default_value_t = 1800
    )]
    pub idle_secs: u64,
}

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "OAuth")]
pub struct OAuthSettings {
    /// `Cache-Control: max-age` of the OAuth key sets, in seconds; a rotated key signs only
    /// this long after it was published (docs/oauth.md).
    #[arg(long = "oauth-jwks-max-age-secs", env = "LATCHKEY_OAUTH_JWKS_MAX_AGE_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub jwks_max_age_secs: u64,
}

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Sinks")]
pub struct SinkSettings {
    /// Deliver the audit log to sinks from this instance (docs/streaming.md). One instance
    /// delivers a given sink at a time whatever this says; `false` keeps an instance out.
    #[arg(long = "sink-delivery", env = "LATCHKEY_SINK_DELIVERY", default_value_t = true, action = clap::ArgAction::Set)]
    pub delivery: bool,

    /// Seconds between looks for new sinks, and between reads of the log by an idle sink
    /// (changes wake it at once through the change notifications).
    #[arg(
        long = "sink-poll-secs",
        env = "LATCHKEY_SINK_POLL_SECS",
        default_value_t = 5
    )]
    pub poll_secs: u64,

    /// Seconds one delivery (a request, a syslog write, a connection) may take.
    #[arg(
        long = "sink-timeout-secs",
        env = "LATCHKEY_SINK_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub timeout_secs: u64,

    /// Milliseconds an idle sink worker waits after a change woke it before it reads the log,
    /// so the changes of a busy moment travel in one pass (one read of the cursors, one batch)
    /// instead of one pass each; it bounds the delivery lag it adds. 0: read at once.
    #[arg(
        long = "sink-batch-wait-ms",
        env = "LATCHKEY_SINK_BATCH_WAIT_MS",
        default_value_t = 200
    )]
    pub batch_wait_ms: u64,
}

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Audit evidence")]
pub struct EvidenceSettings {
    /// Seconds between signed audit checkpoints (one per application whose log grew).
    #[arg(
        long = "checkpoint-secs",
        env = "LATCHKEY_CHECKPOINT_SECS",
        default_value_t = 60
    )]
    pub checkpoint_secs: u64,
}

fn parse_proxy(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("not a CIDR block or address: {s:?}"))
}

impl Settings {
    /// Checks what clap cannot, and clamps what may be clamped: returns a one-line reason for
    /// the first bad value. Every rule on the values is here; the code that uses them takes
    /// them as they are.
    pub fn validate(&mut self) -> Result<(), String> {
        let auth = &mut self.auth;
        // An empty variable (e.g. from docker compose) means "no operator", not a weak token.
        if auth.operator_token.as_deref().is_some_and(str::is_empty) {
            auth.operator_token = None;
        }
        if let Some(token) = &auth.operator_token {
            if token.len() < 16 {
                return Err("LATCHKEY_OPERATOR_TOKEN must be at least 16 characters".into());
            }
        }
        if auth.operator_name.trim().is_empty() {
            return Err("LATCHKEY_OPERATOR_NAME must not be empty".into());
        }
        auth.argon2_params()
            .map_err(|e| format!("invalid Argon2 parameters: {e}"))?;
        if auth.max_concurrent_hashes == Some(0) {
            return Err("LATCHKEY_MAX_CONCURRENT_HASHES must be at least 1".into());
        }
        // Clamped, not refused: these were always read so (a window of 0 s is 1 s).
        auth.failure_window_secs = auth.failure_window_secs.max(1);
        self.console.idle_secs = self.console.idle_secs.max(1);
        let sealing = &mut self.sealing;
        if sealing.key.as_deref().is_some_and(str::is_empty) {
            sealing.key = None;
        }
        if sealing.key.is_some() && sealing.key_file.is_some() {
            return Err("set LATCHKEY_SEALING_KEY or LATCHKEY_SEALING_KEY_FILE, not both".into());
        }
        if let Some(key) = &sealing.key {
            crate::auth::sealing::KeyRing::from_base64(key, &sealing.previous_keys)
                .map_err(|e| format!("LATCHKEY_SEALING_KEY: {e}"))?;
        }
        if !(1..=3600).contains(&self.auth.signature_window_secs) {
            return Err("LATCHKEY_SIGNATURE_WINDOW_SECS must be between 1 and 3600".into());
        }
        if self.feed.heartbeat_secs == 0 {
            return Err("LATCHKEY_FEED_HEARTBEAT_SECS must be at least 1".into());
        }
        if self.feed.buffer == 0 {
            return Err("LATCHKEY_FEED_BUFFER must be at least 1".into());
        }
        if let Some(url) = &self.http.public_url {
            let ok = (url.starts_with("http://") || url.starts_with("https://"))
                && !url.contains(['?', '#', ' ']);
            if !ok {
                return Err("LATCHKEY_PUBLIC_URL must be an http:// or https:// URL without query or fragment".into());
            }
        }
        if self.evidence.checkpoint_secs == 0 {
            return Err("LATCHKEY_CHECKPOINT_SECS must be at least 1".into());
        }
        self.public_host()?;
        if !(1..=3600).contains(&self.sinks.poll_secs) {
            return Err("LATCHKEY_SINK_POLL_SECS must be between 1 and 3600".into());
        }
        if !(1..=600).contains(&self.sinks.timeout_secs) {
            return Err("LATCHKEY_SINK_TIMEOUT_SECS must be between 1 and 600".into());
        }
        if self.sinks.batch_wait_ms > 5000 {
            return Err("LATCHKEY_SINK_BATCH_WAIT_MS must be between 0 and 5000".into());
        }
        if self.database.max_connections == 0 {
            return Err("LATCHKEY_DB_MAX_CONNECTIONS must be at least 1".into());
        }
        if !(10..=86_400).contains(&self.database.max_lifetime_secs) {
            return Err("LATCHKEY_DB_MAX_LIFETIME_SECS must be between 10 and 86400".into());
        }
        Ok(())
    }

    /// The defaults: what an empty command line with no environment gives.
    #[allow(
        clippy::expect_used,
        reason = "every setting has a default or is optional (a unit test parses them)"
    )]
    pub fn defaults() -> Settings {
        use clap::{Args, FromArgMatches};
        let command =
            Settings::augment_args(clap::Command::new("latchkey")).mut_args(|arg| arg.env(None));
        let matches = command
            .try_get_matches_from(["latchkey"])
            .expect("the defaults parse");
        Settings::from_arg_matches(&matches).expect("the defaults parse")
    }

    /// Settings for tests and benchmarks: the defaults (valid), except an ephemeral listen
    /// port, cheap Argon2 (the production code path), no bootstrap, a random operator token,
    /// two workers and a small pool. A test changes what it needs after this, then calls
    /// [`Settings::validate`] as the command does.
    pub fn for_tests() -> Settings {
        let mut s = Settings::defaults();
        s.http.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        s.http.workers = Some(2);
        s.auth.operator_token = Some(format!("op-{}", uuid::Uuid::new_v4().simple()));
        s.auth.argon2_m_cost = 64;
        s.auth.argon2_t_cost = 1;
        s.auth.max_concurrent_hashes = Some(4);
        s.database.bootstrap = Some(false);
        s.database.max_connections = 10;
        s
    }
}

impl AuthSettings {
    /// The Argon2id parameters of new secret hashes.
    pub fn argon2_params(&self) -> Result<argon2::Params, argon2::Error> {
        argon2::Params::new(
            self.argon2_m_cost,
            self.argon2_t_cost,
            self.argon2_p_cost,
            Some(32),
        )
    }
}

impl Settings {
    /// The host (and port, when one is given) of `LATCHKEY_PUBLIC_URL`, or of the listen address.
    pub fn public_host(&self) -> Result<String, String> {
        let Some(url) = self.http.public_url.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(self.http.listen.to_string());
        };
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| format!("LATCHKEY_PUBLIC_URL is not a URL ({e}): {url}"))?;
        let host = parsed
            .host_str()
            .ok_or_else(|| format!("LATCHKEY_PUBLIC_URL has no host: {url}"))?;
        Ok(match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flags, variables and defaults as they were when the settings were flat (plus
    /// `--feed-buffer`): a configuration that worked keeps working. Every variable is
    /// `LATCHKEY_` and the flag in upper snake case, except `DATABASE_URL`, the usual name.
    #[test]
    fn every_flag_and_variable_keeps_its_name_and_default() {
        use clap::Args;
        let want: &[(&str, Option<&str>)] = &[
            ("database-url", None),
            ("data-dir", Some(".latchkey")),
            ("listen", Some("127.0.0.1:8080")),
            ("operator-token", None),
            ("operator-name", Some("Akamai")),
            ("trusted-proxies", None),
            ("argon2-m-cost", Some("19456")),
            ("argon2-t-cost", Some("2")),
            ("argon2-p-cost", Some("1")),
            ("max-concurrent-hashes", None),
            ("workers", None),
            ("auth-failure-limit", Some("10")),
            ("auth-failure-window-secs", Some("60")),
            ("auth-cache-capacity", Some("100000")),
            ("body-timeout-secs", Some("10")),
            ("metrics-listen", None),
            ("db-max-connections", Some("20")),
            ("db-max-lifetime-secs", Some("60")),
            ("bootstrap", None),
            ("console-idle-secs", Some("1800")),
            ("sealing-key", None),
            ("sealing-key-file", None),
            ("sealing-previous-keys", None),
            ("signature-window-secs", Some("300")),
            ("consistency", Some("snapshot")),
            ("snapshot-budget-mb", Some("32")),
            ("feed-max-subscribers", Some("2000")),
            ("feed-heartbeat-secs", Some("15")),
            ("feed-buffer", Some("256")),
            ("public-url", None),
            ("checkpoint-secs", Some("60")),
            ("oauth-jwks-max-age-secs", Some("300")),
            ("listen-database-url", None),
            ("read-database-url", None),
            ("read-max-lag-ms", Some("1000")),
            ("sink-delivery", Some("true")),
            ("sink-poll-secs", Some("5")),
            ("sink-timeout-secs", Some("10")),
            ("sink-batch-wait-ms", Some("200")),
            ("log-format", Some("human")),
        ];
        let env = |long: &str| match long {
            "database-url" => "DATABASE_URL".to_owned(),
            _ => format!("LATCHKEY_{}", long.to_uppercase().replace('-', "_")),
        };
        let command = Settings::augment_args(clap::Command::new("latchkey"));
        let mut have: Vec<(String, String, Option<String>)> = command
            .get_arguments()
            .map(|a| {
                (
                    a.get_long().unwrap_or_default().to_owned(),
                    a.get_env().unwrap().to_string_lossy().into_owned(),
                    a.get_default_values()
                        .first()
                        .map(|d| d.to_string_lossy().into_owned()),
                )
            })
            .collect();
        let mut want: Vec<(String, String, Option<String>)> = want
            .iter()
            .map(|(l, d)| (l.to_string(), env(l), d.map(str::to_owned)))
            .collect();
        have.sort();
        want.sort();
        assert_eq!(have, want);
    }

    #[test]
    fn the_defaults_and_the_test_settings_are_valid() {
        let mut d = Settings::defaults();
        assert_eq!(d.snapshots.consistency, Consistency::Snapshot);
        assert_eq!(d.log_format, LogFormat::Human);
        assert_eq!(d.feed.buffer, 256);
        assert_eq!(d.database.url, None);
        d.validate().unwrap();
        let mut t = Settings::for_tests();
        t.validate().unwrap();
        assert_eq!(t.http.listen.port(), 0);
    }

    #[test]
    fn validate_clamps_and_refuses() {
        let mut s = Settings::for_tests();
        s.auth.failure_window_secs = 0;
        s.console.idle_secs = 0;
        s.validate().unwrap();
        assert_eq!((s.auth.failure_window_secs, s.console.idle_secs), (1, 1));
        let mut s = Settings::for_tests();
        s.feed.buffer = 0;
        assert_eq!(
            s.validate().unwrap_err(),
            "LATCHKEY_FEED_BUFFER must be at least 1"
        );
        for (secs, ok) in [(9, false), (10, true), (86_400, true), (86_401, false)] {
            let mut s = Settings::for_tests();
            s.database.max_lifetime_secs = secs;
            match s.validate() {
                Ok(()) => assert!(ok, "{secs} was accepted"),
                Err(e) => {
                    assert!(!ok, "{secs} was refused");
                    assert_eq!(
                        e,
                        "LATCHKEY_DB_MAX_LIFETIME_SECS must be between 10 and 86400"
                    );
                }
            }
        }
    }

    #[test]
    fn proxies_accept_blocks_and_addresses() {
        assert_eq!(parse_proxy("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(
            parse_proxy(" 127.0.0.1 ").unwrap().to_string(),
            "127.0.0.1/32"
        );
        assert!(parse_proxy("nope").is_err());
    }

    #[test]
    fn the_public_host_comes_from_the_url_or_the_listen_address() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            settings: Settings,
        }
        let mut s = Cli::parse_from(["x", "--listen", "127.0.0.1:9000"]).settings;
        assert_eq!(s.public_host().unwrap(), "127.0.0.1:9000");
        s.http.public_url = Some("https://iam.example.com/".into());
        assert_eq!(s.public_host().unwrap(), "iam.example.com");
        s.http.public_url = Some("http://iam.example.com:8443/base".into());
        assert_eq!(s.public_host().unwrap(), "iam.example.com:8443");
        s.http.public_url = Some("not a url".into());
        assert!(s.validate().is_err());
    }
}

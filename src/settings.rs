//! Typed configuration from flags and environment (`LATCHKEY_*`, `DATABASE_URL`).

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;

/// Everything the server needs to run. Every field is a flag and an environment variable; the
/// README's configuration table lists them.
#[derive(clap::Args, Debug, Clone)]
pub struct Settings {
    /// PostgreSQL URL. Without it, a private cluster is started under `<data-dir>/pg`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Folder for the embedded PostgreSQL cluster (used only without DATABASE_URL).
    #[arg(long, env = "LATCHKEY_DATA_DIR", default_value = ".latchkey")]
    pub data_dir: PathBuf,

    /// Address the HTTP server listens on.
    #[arg(long, env = "LATCHKEY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Bearer token that acts as the platform operator. Unset: nobody is the operator.
    #[arg(long, env = "LATCHKEY_OPERATOR_TOKEN", hide_env_values = true)]
    pub operator_token: Option<String>,

    /// Name of the platform operator in error messages (the vendor says "Akamai").
    #[arg(long, env = "LATCHKEY_OPERATOR_NAME", default_value = "Akamai")]
    pub operator_name: String,

    /// Comma-separated CIDR blocks (or addresses) of reverse proxies whose X-Forwarded-For is
    /// believed.
    #[arg(long, env = "LATCHKEY_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_proxy)]
    pub trusted_proxies: Vec<IpNet>,

    /// Argon2id memory cost in KiB for new secret hashes.
    #[arg(long, env = "LATCHKEY_ARGON2_M_COST", default_value_t = 19_456)]
    pub argon2_m_cost: u32,

    /// Argon2id iterations for new secret hashes.
    #[arg(long, env = "LATCHKEY_ARGON2_T_COST", default_value_t = 2)]
    pub argon2_t_cost: u32,

    /// Argon2id parallelism for new secret hashes.
    #[arg(long, env = "LATCHKEY_ARGON2_P_COST", default_value_t = 1)]
    pub argon2_p_cost: u32,

    /// Most Argon2 computations running at once (default: the number of cores).
    #[arg(long, env = "LATCHKEY_MAX_CONCURRENT_HASHES")]
    pub max_concurrent_hashes: Option<usize>,

    /// HTTP worker threads (default: the number of cores).
    #[arg(long, env = "LATCHKEY_WORKERS")]
    pub workers: Option<usize>,

    /// Fresh failed guesses (wrong secrets that cost an Argon2 run, wrong operator tokens)
    /// allowed per source — an IPv4 address or an IPv6 /64 — in one window (0: no limit). Past
    /// it: 429 with Retry-After for that source's new guesses only (docs/limits.md).
    #[arg(long, env = "LATCHKEY_AUTH_FAILURE_LIMIT", default_value_t = 10)]
    pub auth_failure_limit: u32,

    /// Length of the failed-authentication window, in seconds.
    #[arg(long, env = "LATCHKEY_AUTH_FAILURE_WINDOW_SECS", default_value_t = 60)]
    pub auth_failure_window_secs: u64,

    /// Verified credentials remembered (so Argon2 runs once per client and secret); 0 turns
    /// the cache off (every request pays Argon2).
    #[arg(long, env = "LATCHKEY_AUTH_CACHE_CAPACITY", default_value_t = 100_000)]
    pub auth_cache_capacity: u64,

    /// Longest time to receive a request body, from its first read to its last byte, in
    /// seconds. Past it: 408 (a trickled or stalled body cannot hold a connection).
    #[arg(long, env = "LATCHKEY_BODY_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout_secs: u64,

    /// Serve /metrics on this separate address instead of the main listener.
    #[arg(long, env = "LATCHKEY_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,

    /// Largest database connection pool.
    #[arg(long, env = "LATCHKEY_DB_MAX_CONNECTIONS", default_value_t = 20)]
    pub db_max_connections: u32,

    /// On start, when the database holds no application, create one named `default` and print
    /// its owner credentials. Default: on with the embedded cluster, off with DATABASE_URL.
    #[arg(long, env = "LATCHKEY_BOOTSTRAP")]
    pub bootstrap: Option<bool>,

    /// Web console sessions end after this many seconds without a request.
    #[arg(long, env = "LATCHKEY_CONSOLE_IDLE_SECS", default_value_t = 1800)]
    pub console_idle_secs: u64,

    /// Key sealing the secrets of applications with signed requests or show_secrets: base64 of
    /// 32 bytes (AES-256-GCM). Alternative to `--sealing-key-file`.
    #[arg(long, env = "LATCHKEY_SEALING_KEY", hide_env_values = true)]
    pub sealing_key: Option<String>,

    /// File holding the sealing key (base64, first line) and previous keys (further lines).
    /// With the embedded database and no key given, `<data-dir>/sealing.key` is created.
    #[arg(long, env = "LATCHKEY_SEALING_KEY_FILE")]
    pub sealing_key_file: Option<PathBuf>,

    /// Comma-separated previous sealing keys (base64): they open secrets sealed before a key
    /// rotation, until `latchkey keys rotate` has re-sealed them under the current key.
    #[arg(
        long,
        env = "LATCHKEY_SEALING_PREVIOUS_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub sealing_previous_keys: Vec<String>,

    /// How far (seconds) the Date of a signed request may be from the server's clock.
    #[arg(long, env = "LATCHKEY_SIGNATURE_WINDOW_SECS", default_value_t = 300)]
    pub signature_window_secs: u64,
    /// `snapshot` (default): authentication, client reads and the access decision run from
    /// per-instance snapshots kept fresh by LISTEN/NOTIFY; `strict`: read the database on every
    /// request (no staleness window at all).
    #[arg(long, env = "LATCHKEY_CONSISTENCY", default_value = "snapshot", value_parser = ["snapshot", "strict"])]
    pub consistency: String,

    /// Memory budget of the snapshots, in MiB (least recently used entries go first).
    #[arg(long, env = "LATCHKEY_SNAPSHOT_BUDGET_MB", default_value_t = 32)]
    pub snapshot_budget_mb: u64,

    /// Most change-feed subscribers (`GET /config/{appId}/changes`) at once per instance.
    #[arg(long, env = "LATCHKEY_FEED_MAX_SUBSCRIBERS", default_value_t = 2_000)]
    pub feed_max_subscribers: usize,

    /// Seconds between change-feed heartbeats (SSE comments) on a quiet feed.
    #[arg(long, env = "LATCHKEY_FEED_HEARTBEAT_SECS", default_value_t = 15)]
    pub feed_heartbeat_secs: u64,

    /// The address clients and auditors reach this server at (e.g. `https://iam.example.com`).
    /// Its host names the audit logs in signed checkpoints (`<host>/audit/<appId>`);
    /// OAuth issuers and metadata URLs derive from it (docs/oauth.md). Default:
    /// `http://` and the listen address.
    #[arg(long, env = "LATCHKEY_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Seconds between signed audit checkpoints (one per application whose log grew).
    #[arg(long, env = "LATCHKEY_CHECKPOINT_SECS", default_value_t = 60)]
    pub checkpoint_secs: u64,

    /// `Cache-Control: max-age` of the OAuth key sets, in seconds; a rotated key signs only
    /// this long after it was published (docs/oauth.md).
    #[arg(long, env = "LATCHKEY_OAUTH_JWKS_MAX_AGE_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub oauth_jwks_max_age_secs: u64,

    /// PostgreSQL URL of the change listener's connection (LISTEN), when it must not go where
    /// DATABASE_URL goes: a pooler in transaction mode, or to skip a pooler. Default: DATABASE_URL.
    #[arg(long, env = "LATCHKEY_LISTEN_DATABASE_URL", hide_env_values = true)]
    pub listen_database_url: Option<String>,

    /// PostgreSQL URL of a read replica (a streaming standby): audit queries and exports, audit
    /// reports, fixture exports and client lists read it when it is close enough
    /// (docs/high-availability.md#read-replicas). Unset: everything reads the primary.
    #[arg(long, env = "LATCHKEY_READ_DATABASE_URL", hide_env_values = true)]
    pub read_database_url: Option<String>,

    /// The read replica is skipped while it lags the primary by more than this (milliseconds).
    #[arg(long, env = "LATCHKEY_READ_MAX_LAG_MS", default_value_t = 1000)]
    pub read_max_lag_ms: u64,

    /// Deliver the audit log to sinks from this instance (docs/streaming.md). One instance
    /// delivers a given sink at a time whatever this says; `false` keeps an instance out.
    #[arg(long, env = "LATCHKEY_SINK_DELIVERY", default_value_t = true, action = clap::ArgAction::Set)]
    pub sink_delivery: bool,

    /// Seconds between looks for new sinks, and between reads of the log by an idle sink
    /// (changes wake it at once through the change notifications).
    #[arg(long, env = "LATCHKEY_SINK_POLL_SECS", default_value_t = 5)]
    pub sink_poll_secs: u64,

    /// Seconds one delivery (a request, a syslog write, a connection) may take.
    #[arg(long, env = "LATCHKEY_SINK_TIMEOUT_SECS", default_value_t = 10)]
    pub sink_timeout_secs: u64,

    /// Log format: `human` or `json`. Levels come from RUST_LOG.
    #[arg(long, env = "LATCHKEY_LOG_FORMAT", default_value = "human", value_parser = ["human", "json"])]
    pub log_format: String,
}

fn parse_proxy(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("not a CIDR block or address: {s:?}"))
}

impl Settings {
    /// Checks what clap cannot: returns a one-line reason for the first bad value.
    pub fn validate(&mut self) -> Result<(), String> {
        // An empty variable (e.g. from docker compose) means "no operator", not a weak token.
        if self.operator_token.as_deref().is_some_and(str::is_empty) {
            self.operator_token = None;
        }
        if let Some(token) = &self.operator_token {
            if token.len() < 16 {
                return Err("LATCHKEY_OPERATOR_TOKEN must be at least 16 characters".into());
            }
        }
        if self.operator_name.trim().is_empty() {
            return Err("LATCHKEY_OPERATOR_NAME must not be empty".into());
        }
        argon2::Params::new(
            self.argon2_m_cost,
            self.argon2_t_cost,
            self.argon2_p_cost,
            Some(32),
        )
        .map_err(|e| format!("invalid Argon2 parameters: {e}"))?;
        if self.max_concurrent_hashes == Some(0) {
            return Err("LATCHKEY_MAX_CONCURRENT_HASHES must be at least 1".into());
        }
        if self.sealing_key.as_deref().is_some_and(str::is_empty) {
            self.sealing_key = None;
        }
        if self.sealing_key.is_some() && self.sealing_key_file.is_some() {
            return Err("set LATCHKEY_SEALING_KEY or LATCHKEY_SEALING_KEY_FILE, not both".into());
        }
        if let Some(key) = &self.sealing_key {
            crate::auth::sealing::KeyRing::from_base64(key, &self.sealing_previous_keys)
                .map_err(|e| format!("LATCHKEY_SEALING_KEY: {e}"))?;
        }
        if !(1..=3600).contains(&self.signature_window_secs) {
            return Err("LATCHKEY_SIGNATURE_WINDOW_SECS must be between 1 and 3600".into());
        }
        if self.feed_heartbeat_secs == 0 {
            return Err("LATCHKEY_FEED_HEARTBEAT_SECS must be at least 1".into());
        }
        if let Some(url) = &self.public_url {
            let ok = (url.starts_with("http://") || url.starts_with("https://"))
                && !url.contains(['?', '#', ' ']);
            if !ok {
                return Err("LATCHKEY_PUBLIC_URL must be an http:// or https:// URL without query or fragment".into());
            }
        }
        if self.checkpoint_secs == 0 {
            return Err("LATCHKEY_CHECKPOINT_SECS must be at least 1".into());
        }
        self.public_host()?;
        if !(1..=3600).contains(&self.sink_poll_secs) {
            return Err("LATCHKEY_SINK_POLL_SECS must be between 1 and 3600".into());
        }
        if !(1..=600).contains(&self.sink_timeout_secs) {
            return Err("LATCHKEY_SINK_TIMEOUT_SECS must be between 1 and 600".into());
        }
        if self.db_max_connections == 0 {
            return Err("LATCHKEY_DB_MAX_CONNECTIONS must be at least 1".into());
        }
        Ok(())
    }
}

impl Settings {
    /// The host (and port, when one is given) of `LATCHKEY_PUBLIC_URL`, or of the listen address.
    pub fn public_host(&self) -> Result<String, String> {
        let Some(url) = self.public_url.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(self.listen.to_string());
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
        s.public_url = Some("https://iam.example.com/".into());
        assert_eq!(s.public_host().unwrap(), "iam.example.com");
        s.public_url = Some("http://iam.example.com:8443/base".into());
        assert_eq!(s.public_host().unwrap(), "iam.example.com:8443");
        s.public_url = Some("not a url".into());
        assert!(s.validate().is_err());
    }
}

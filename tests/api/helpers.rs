//! Spawns the real server against a database of its own per test.
//!
//! The PostgreSQL server is `DATABASE_URL` when set, otherwise the embedded cluster under
//! `./.latchkey/test-pg` (started once, reused across runs). Each test database is a copy of one
//! migrated template database (`CREATE DATABASE … TEMPLATE`, no migrations per test) and is
//! dropped when its `TestApp` is dropped, at the end of the test, passed or failed.

#![allow(dead_code)]

use std::str::FromStr;

use base64::Engine;
use chrono::{DateTime, Utc};
use latchkey::embedded_pg::EmbeddedPostgres;
use latchkey::service::Clock;
pub use latchkey::settings::{Consistency, LogFormat, Settings};
use latchkey::startup::{self, Application, MIGRATOR};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnectOptions;
use sqlx::ConnectOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

pub use crate::kit::*;

static SERVER_URL: OnceCell<String> = OnceCell::const_new();
static TEMPLATE: OnceCell<String> = OnceCell::const_new();

pub async fn server_url() -> String {
    SERVER_URL
        .get_or_init(|| async {
            let url = match std::env::var("DATABASE_URL") {
                Ok(url) if !url.is_empty() => url,
                _ => {
                    let dir =
                        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".latchkey/test-pg");
                    let pg = EmbeddedPostgres::start(&dir)
                        .await
                        .expect("start the embedded PostgreSQL for tests");
                    // Left running on purpose: other tests of this run share it, the next run
                    // reuses it.
                    pg.database_url("postgres")
                }
            };
            // In the background: the tests need not wait for the leftovers of killed runs.
            let sweep_url = url.clone();
            std::thread::spawn(move || on_own_runtime(drop_stale_databases(&sweep_url)));
            url
        })
        .await
        .clone()
}

/// The URL of database `name` on the server at `server_url`.
pub fn database_url(server_url: &str, name: &str) -> String {
    PgConnectOptions::from_str(server_url)
        .unwrap()
        .database(name)
        .to_url_lossy()
        .to_string()
}

/// The name of the migrated template database, built on first use. It is named after the
/// migrations' versions and checksums: runs with the same migrations (in this process or in
/// concurrent ones) share it, runs with other migrations get their own. Builders of one template
/// are serialised by an advisory lock; a template is only renamed into place once fully migrated,
/// so its existence means it is complete.
async fn template_database(server_url: &str) -> String {
    TEMPLATE
        .get_or_init(|| async {
            let mut digest = Sha256::new();
            for m in MIGRATOR.iter() {
                digest.update(m.version.to_be_bytes());
                digest.update(&*m.checksum);
            }
            let hash = digest.finalize();
            let name = format!("lk_tmpl_{}", hex::encode(&hash[..8]));
            let lock_key = i64::from_be_bytes(hash[..8].try_into().unwrap());

            let mut conn = PgConnection::connect(server_url).await.unwrap();
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(lock_key)
                .execute(&mut conn)
                .await
                .unwrap();
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                    .bind(&name)
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
            if !exists {
                // A leftover of a builder that died holds the lock no longer: start again.
                let building = format!("{name}_building");
                for sql in [
                    format!(r#"DROP DATABASE IF EXISTS "{building}" WITH (FORCE)"#),
                    format!(r#"CREATE DATABASE "{building}""#),
                ] {
                    conn.execute(sql.as_str()).await.unwrap();
                }
                let pool = startup::connect(&database_url(server_url, &building), 2, 60)
                    .await
                    .unwrap();
                startup::migrate(&pool).await.unwrap();
                pool.close().await;
                // Nobody may connect to a template (a connection would make cloning fail), and
                // a template cannot be dropped by mistake.
                for sql in [
                    format!(r#"ALTER DATABASE "{building}" RENAME TO "{name}""#),
                    format!(
                        r#"ALTER DATABASE "{name}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"#
                    ),
                ] {
                    conn.execute(sql.as_str()).await.unwrap();
                }
            }
            // Closing the session releases the lock.
            conn.close().await.unwrap();
            name
        })
        .await
        .clone()
}

/// Runs `f` to completion on a runtime of its own (from a thread that is not the test's).
fn on_own_runtime<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// At most this many `DROP DATABASE` at once (each holds a connection while it waits).
const MAX_DROPS_IN_FLIGHT: usize = 16;

/// Drops the database `name` in the background; the test does not wait (`DROP DATABASE` waits
/// for a checkpoint: seconds on a busy server). The drops run from a thread and runtime of their
/// own that outlive every test's, several at once (they share checkpoints). A drop already sent
/// completes even if this process exits first; one still queued then is left to the next run's
/// sweep (`drop_stale_databases`, which runs beside these, one drop at a time).
fn drop_in_background(server_url: String, name: String) {
    static REAPER: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<(String, String)>> =
        std::sync::OnceLock::new();
    let reaper = REAPER.get_or_init(|| {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
        std::thread::spawn(move || {
            on_own_runtime(async move {
                let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_DROPS_IN_FLIGHT));
                while let Some((server_url, name)) = rx.recv().await {
                    let Ok(slot) = slots.clone().acquire_owned().await else {
                        return;
                    };
                    tokio::spawn(async move {
                        drop_database(&server_url, &name).await;
                        drop(slot);
                    });
                }
            })
        });
        tx
    });
    let _ = reaper.send((server_url, name));
}

async fn drop_database(server_url: &str, name: &str) {
    if let Ok(mut conn) = PgConnection::connect(server_url).await {
        let _ = conn
            .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
            .await;
        let _ = conn.close().await;
    }
}

/// Test databases are named `lk_test_<pid>_<uuid>`; drop those of test runs that are gone
/// (killed before their tests ended).
async fn drop_stale_databases(url: &str) {
    let Ok(mut conn) = PgConnection::connect(url).await else {
        return;
    };
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'lk_test_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
    for name in names {
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            // One at a time on this connection: the sweep must not crowd out the drops of this
            // run's own databases.
            let _ = conn
                .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
                .await;
        }
    }
    let _ = conn.close().await;
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub pool: PgPool,
    pub db_name: String,
    pub server_url: String,
    pub http: reqwest::Client,
    pub operator_token: String,
    /// The instance's snapshots: whether its listener listens ([`listening`]).
    pub snapshots: std::sync::Arc<latchkey::cache::Snapshots>,
}

/// The owner credentials of an application created for a test.
#[derive(Debug, Clone)]
pub struct Owner {
    pub app_id: String,
    pub client_id: String,
    pub secret: String,
}

/// The sealing key of test servers (base64 of 32 bytes).
pub const TEST_SEALING_KEY: &str = "bGF0Y2hrZXktdGVzdC1zZWFsaW5nLWtleS0zMmJ5dGU=";

/// Every client feature, in the order the server lists them.
pub const ALL_FEATURES: [&str; 6] = [
    "access_issuer",
    "direct_access",
    "direct_read_access",
    "login_client",
    "metadata",
    "owner",
];

/// The public URL of test servers.
pub const PUBLIC_URL: &str = "https://audit.example.test";

/// The suite's settings: `Settings::for_tests()` and what this suite needs besides.
pub fn test_settings() -> Settings {
    let mut s = Settings::for_tests();
    // Tests send many bad credentials on purpose; the limiter has its own test.
    s.auth.failure_limit = 1000;
    s.auth.cache_capacity = 10_000;
    // A sealing key, so applications may opt in to signed requests and show_secrets.
    s.sealing.key = Some(TEST_SEALING_KEY.into());
    // The production default; CI runs the zero-window tests again with `strict`.
    s.snapshots.consistency = match std::env::var("LATCHKEY_TEST_CONSISTENCY").as_deref() {
        Ok("strict") => Consistency::Strict,
        _ => Consistency::Snapshot,
    };
    s.feed.max_subscribers = 100;
    s.http.public_url = Some(PUBLIC_URL.into());
    s.sinks.poll_secs = 1;
    s.sinks.timeout_secs = 5;
    s
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server with one application, `name`, and its owner credentials.
pub async fn spawn_app_with_owner(name: &str) -> (TestApp, Owner) {
    let app = spawn_app().await;
    let owner = app.create_app(name).await;
    (app, owner)
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn(configure, Clock::system()).await
}

/// A server whose audit events take their time from `clock` (moved by the test).
pub async fn spawn_app_with_clock(clock: &TestClock) -> TestApp {
    spawn(|_| {}, clock.clock()).await
}

/// A clock the test moves by hand: events written through a server started with
/// [`spawn_app_with_clock`] take its time, so no test sleeps to put two events at different
/// times. It starts an hour in the past, so events written meanwhile with the real time (the
/// command line) come after those it dates.
#[derive(Clone)]
pub struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl TestClock {
    pub fn an_hour_ago() -> Self {
        Self(Arc::new(Mutex::new(
            Utc::now() - chrono::Duration::hours(1),
        )))
    }

    pub fn now(&self) -> DateTime<Utc> {
        latchkey::domain::audit::to_micros(*self.0.lock().unwrap())
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }

    pub fn clock(&self) -> Clock {
        let me = self.clone();
        Clock::from_fn(move || *me.0.lock().unwrap())
    }
}

async fn spawn(configure: impl FnOnce(&mut Settings), clock: Clock) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        latchkey::telemetry::init(LogFormat::Human);
    }
    let server_url = server_url().await;
    let db_name = format!(
        "lk_test_{}_{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    );
    let template = template_database(&server_url).await;
    let mut conn = PgConnection::connect(&server_url).await.unwrap();
    conn.execute(format!(r#"CREATE DATABASE "{db_name}" TEMPLATE "{template}""#).as_str())
        .await
        .unwrap();
    let _ = conn.close().await;
    // The production pool settings, so outage and recovery are tested as they run.
    let pool = startup::connect(&database_url(&server_url, &db_name), 10, 60)
        .await
        .unwrap();

    let mut settings = test_settings();
    configure(&mut settings);
    launch(&settings, pool, db_name, server_url, clock)
}

/// Starts a server over `pool` (already migrated).
fn launch(
    settings: &Settings,
    pool: PgPool,
    db_name: String,
    server_url: String,
    clock: Clock,
) -> TestApp {
    // Validated as the command validates them: a test cannot run with settings a user could
    // not give.
    let mut settings = settings.clone();
    settings.validate().expect("valid test settings");
    let settings = &settings;
    let app = Application::build_with_clock(settings, pool.clone(), clock)
        .expect("build the application");
    let port = app.port();
    let snapshots = app.snapshots();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        pool,
        db_name,
        server_url,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        operator_token: settings.auth.operator_token.clone().unwrap_or_default(),
        snapshots,
    }
}

impl TestApp {
    /// A second server process's worth of instance on the same database (own pool, own
    /// snapshots, own listener), with the same operator token.
    pub async fn spawn_peer(&self, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let url = PgConnectOptions::from_str(&self.server_url)
            .unwrap()
            .database(&self.db_name)
            .to_url_lossy()
            .to_string();
        let pool = startup::connect(&url, 10, 60).await.unwrap();
        let mut settings = test_settings();
        settings.auth.operator_token = Some(self.operator_token.clone());
        configure(&mut settings);
        launch(
            &settings,
            pool,
            self.db_name.clone(),
            self.server_url.clone(),
            Clock::system(),
        )
    }
}

/// Waits until every one of `apps` listens for changes (its listener has run LISTEN and caught
/// up), so a change made through any of them reaches all the others by notification.
pub async fn listening(apps: &[&TestApp]) {
    crate::kit::poll_until(
        "every instance listening",
        std::time::Duration::from_secs(5),
        std::time::Duration::from_millis(10),
        async || apps.iter().all(|app| app.snapshots.listening()),
    )
    .await;
}

pub fn basic(client_id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"))
    )
}

impl Drop for TestApp {
    /// Drops the test's database (its connections, the server's included, are closed by force).
    fn drop(&mut self) {
        let (server_url, db_name) = (self.server_url.clone(), self.db_name.clone());
        drop_in_background(server_url, db_name);
    }
}

impl TestApp {
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.address, path))
    }

    pub fn as_operator(&self, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path)
            .header("Authorization", format!("Bearer {}", self.operator_token))
    }

    pub fn as_client(&self, id: &str, secret: &str, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path)
            .header("Authorization", basic(id, secret))
    }

    pub fn as_owner(&self, owner: &Owner, method: Method, path: &str) -> RequestBuilder {
        self.as_client(&owner.client_id, &owner.secret, method, path)
    }

    /// Creates an application through the operator API and returns its owner credentials.
    pub async fn create_app(&self, name: &str) -> Owner {
        let res = self
            .operator()
            .post("/apps", &json!({ "name": name, "region": "us" }))
            .await;
        assert_eq!(res.status, 201, "create app");
        let body: Value = res.body;
        Owner {
            app_id: body["app_id"].as_str().unwrap().to_owned(),
            client_id: body["owner"]["_id"].as_str().unwrap().to_owned(),
            secret: body["owner"]["_secret"].as_str().unwrap().to_owned(),
        }
    }

    /// Creates a client as `owner` (Config API, asserting 201); returns it typed, with its secret.
    pub async fn create_client(&self, owner: &Owner, body: Value) -> Made {
        let res = self.config(owner).create_client(&body).await;
        assert_eq!(res.status, 201, "create client {body}: {}", res.body);
        let client: Client = serde_json::from_value(res.body.clone())
            .unwrap_or_else(|e| panic!("{e}: {}", res.body));
        Made {
            id: client.id.clone(),
            secret: client
                .secret
                .clone()
                .expect("a new client shows its secret"),
            client,
        }
    }

    /// Creates a client `name` with `features` (none: the field is left out) as `owner`.
    pub async fn make_client(&self, owner: &Owner, name: &str, features: &[&str]) -> Made {
        let mut body = json!({ "name": name });
        if !features.is_empty() {
            body["features"] = json!(features);
        }
        self.create_client(owner, body).await
    }

    /// Creates a client `name` with `features` that may only call from `allow_list`.
    pub async fn fenced_client(
        &self,
        owner: &Owner,
        name: &str,
        features: &[&str],
        allow_list: &[&str],
    ) -> Made {
        let body = json!({ "name": name, "features": features, "ipWhitelist": allow_list });
        self.create_client(owner, body).await
    }

    /// Creates a client `name` with `features` (none: the field is left out) as `owner`; returns
    /// its id.
    pub async fn add_client(&self, owner: &Owner, name: &str, features: &[&str]) -> String {
        self.make_client(owner, name, features).await.id
    }

    /// Creates a client as the operator (e.g. with `metadata`).
    pub async fn create_client_as_operator(&self, app_id: &str, body: Value) -> (String, String) {
        let res = self
            .operator()
            .post(&format!("/config/{app_id}/clients"), &body)
            .await;
        assert_eq!(res.status, 201, "operator create client {body}");
        let body: Value = res.body;
        (
            body["_id"].as_str().unwrap().to_owned(),
            body["_secret"].as_str().unwrap().to_owned(),
        )
    }

    /// All audit rows of an application, in chain order, as JSON text per row.
    pub async fn audit_rows(&self, app_id: &str) -> Vec<Value> {
        sqlx::query_scalar::<_, Value>(
            "SELECT to_jsonb(e) - 'prev_hash' - 'hash' FROM audit_events e WHERE app_id = $1 ORDER BY seq",
        )
        .bind(app_id)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    /// The one value `sql` selects from the test's database, `binds` as `$1`, `$2`, … (text).
    pub async fn scalar<T>(&self, sql: &str, binds: &[&str]) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
    {
        let mut query = sqlx::query_scalar(sql);
        for bind in binds {
            query = query.bind(*bind);
        }
        query
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub async fn audit_count(&self, app_id: &str, action: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE app_id = $1 AND action = $2")
            .bind(app_id)
            .bind(action)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

/// Status and JSON body (Null when empty) of a response.
pub async fn status_json(res: Response) -> (u16, Value) {
    let status = res.status().as_u16();
    (status, parse_body(&res.text().await.unwrap()))
}

/// A body as JSON: `Null` when empty, the text as a JSON string when it is not JSON.
pub fn parse_body(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
    }
}

pub fn errors(msg: &str) -> Value {
    json!({ "errors": msg })
}

/// The value of the metric line `name` (labels included) on `/metrics`; panics when absent.
pub async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app.request(Method::GET, "/metrics").fetch().await.text;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// The names of the application's clients (Config API list as its owner), sorted.
pub async fn client_names(app: &TestApp, owner: &Owner) -> Vec<String> {
    client_names_where(app, owner, "").await
}

/// [`client_names`] of a listing with a query (`?has_feature=owner`): a filtered listing is
/// always read from the database, never from the instance's snapshot.
pub async fn client_names_where(app: &TestApp, owner: &Owner, query: &str) -> Vec<String> {
    let res = app.config(owner).list_clients(query).await;
    assert_eq!(res.status, 200);
    let body: Value = res.body;
    let mut names: Vec<String> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// How many clients the application has (read from the database).
pub async fn client_count(app: &TestApp, app_id: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM clients WHERE app_id = $1")
        .bind(app_id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// A route template with its parameters unnamed: `/config/{appId}/x`, `/config/{app_id}/x` and
/// `format!("/config/{}/x")` are one route.
pub fn route_shape(template: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in template.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            c if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

//! The test client: requests that read like the API, answers with `#[track_caller]` assertions
//! (a failure names the test's line, not this file's), one runner for the `latchkey` command and
//! one way to wait for a condition (polling with a deadline, never a fixed sleep).
//!
//! ```ignore
//! app.by(&owner).put(&path, &json!({"name": "x"})).await.is(403, errors("Forbidden"));
//! let config = app.config(&owner);
//! let client = config.get_client(&id).await.good_as::<Client>();
//! config.delete_client(&id).await.is(404, errors("Client ID not found."));
//! app.operator().post("/apps", &body).await.status_is(201);
//! let out = app.cli(&["audit", "verify", "--app", &app_id]).run().await;
//! poll_until("the sink got it", Duration::from_secs(20), async || got().await).await;
//! ```

#![allow(dead_code)]

use std::future::Future;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::helpers::*;

/// An answer, read whole: status, headers, the body's text and the body (JSON when it parses,
/// else the text as a JSON string, `Null` when empty: the same rule as `status_json`).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

/// Sends a request and reads its answer whole.
pub trait Fetch {
    fn fetch(self) -> impl Future<Output = Reply>;
}

impl Fetch for RequestBuilder {
    async fn fetch(self) -> Reply {
        let res = self.send().await.expect("send the request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("read the body");
        let body = parse_body(&text);
        Reply {
            status,
            headers,
            text,
            body,
        }
    }
}

impl Reply {
    /// The body of a 2xx answer; otherwise fails with the status and body.
    #[track_caller]
    pub fn good(self) -> Value {
        assert!(
            (200..300).contains(&self.status),
            "expected success, got {}: {}",
            self.status,
            self.body
        );
        self.body
    }

    /// `good()`, read as `T` (fields it does not know fail the test where `T` says so).
    #[track_caller]
    pub fn good_as<T: DeserializeOwned>(self) -> T {
        let body = self.good();
        serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    /// Asserts the exact status and body.
    #[track_caller]
    pub fn is(self, status: u16, body: Value) {
        assert_eq!((self.status, self.body), (status, body));
    }

    /// Asserts the exact status and body of one case of a table; a failure names `case`.
    #[track_caller]
    pub fn case_is(self, status: u16, body: Value, case: impl std::fmt::Display) {
        assert_eq!((self.status, self.body), (status, body), "{case}");
    }

    /// Asserts the exact status; returns the body.
    #[track_caller]
    pub fn status_is(self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        self.body
    }

    /// Asserts the status and the Config API's error body `{"errors": msg}`.
    #[track_caller]
    pub fn error_is(self, status: u16, msg: &str) {
        self.is(status, errors(msg));
    }

    /// The header `name` as text; fails when it is absent.
    #[track_caller]
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    /// Status and body, for tests that look at both separately.
    pub fn pair(self) -> (u16, Value) {
        (self.status, self.body)
    }
}

/// A client of the Config API as the Config API shows it (`_secret` only when just made).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Client {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(rename = "_secret")]
    pub secret: Option<String>,
    #[serde(rename = "_self")]
    pub self_link: String,
    #[serde(rename = "_settings")]
    pub settings_link: String,
    pub name: String,
    pub features: Vec<String>,
    #[serde(rename = "ipWhitelist")]
    pub ip_whitelist: Vec<String>,
}

/// A client just made through the Config API: its id, its secret (shown only now) and the
/// answer, typed.
#[derive(Debug, Clone)]
pub struct Made {
    pub id: String,
    pub secret: String,
    pub client: Client,
}

impl Made {
    /// Its id and secret, to call as it.
    pub fn credentials(self) -> (String, String) {
        (self.id, self.secret)
    }
}

/// Who calls.
#[derive(Clone)]
enum Caller {
    Operator,
    Client(String, String),
    Nobody,
}

/// The server as one caller: `app.by(&owner).get(path)`, `app.operator().post(path, &body)`.
pub struct Api<'a> {
    app: &'a TestApp,
    caller: Caller,
}

impl TestApp {
    /// As the owner client of `owner`'s application (HTTP Basic).
    pub fn by(&self, owner: &Owner) -> Api<'_> {
        self.by_client(&owner.client_id, &owner.secret)
    }

    /// As the client `id`/`secret` (HTTP Basic).
    pub fn by_client(&self, id: &str, secret: &str) -> Api<'_> {
        Api {
            app: self,
            caller: Caller::Client(id.to_owned(), secret.to_owned()),
        }
    }

    /// As the operator (bearer token).
    pub fn operator(&self) -> Api<'_> {
        Api {
            app: self,
            caller: Caller::Operator,
        }
    }

    /// Without credentials.
    pub fn anonymous(&self) -> Api<'_> {
        Api {
            app: self,
            caller: Caller::Nobody,
        }
    }
}

impl Api<'_> {
    /// A request to `path` as this caller (to add headers or a raw body).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        match &self.caller {
            Caller::Operator => self.app.as_operator(method, path),
            Caller::Client(id, secret) => self.app.as_client(id, secret, method, path),
            Caller::Nobody => self.app.request(method, path),
        }
    }

    /// A request without a body.
    pub async fn call(&self, method: Method, path: &str) -> Reply {
        self.request(method, path).fetch().await
    }

    /// A request with a JSON body.
    pub async fn send(&self, method: Method, path: &str, body: &impl Serialize) -> Reply {
        self.request(method, path).json(body).fetch().await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path).await
    }

    pub async fn put(&self, path: &str, body: &impl Serialize) -> Reply {
        self.send(Method::PUT, path, body).await
    }

    pub async fn post(&self, path: &str, body: &impl Serialize) -> Reply {
        self.send(Method::POST, path, body).await
    }

    pub async fn patch(&self, path: &str, body: &impl Serialize) -> Reply {
        self.send(Method::PATCH, path, body).await
    }
}

/// The Config API of one application, as one caller.
pub struct ConfigApi<'a> {
    api: Api<'a>,
    app_id: String,
}

impl TestApp {
    /// The Config API of `owner`'s application, as its owner.
    pub fn config(&self, owner: &Owner) -> ConfigApi<'_> {
        ConfigApi {
            api: self.by(owner),
            app_id: owner.app_id.clone(),
        }
    }

    /// The Config API of `app_id` as the client `id`/`secret`.
    pub fn config_as(&self, id: &str, secret: &str, app_id: &str) -> ConfigApi<'_> {
        ConfigApi {
            api: self.by_client(id, secret),
            app_id: app_id.to_owned(),
        }
    }

    /// The Config API of `app_id` as the operator.
    pub fn config_as_operator(&self, app_id: &str) -> ConfigApi<'_> {
        ConfigApi {
            api: self.operator(),
            app_id: app_id.to_owned(),
        }
    }
}

impl ConfigApi<'_> {
    /// `/config/{appId}{rest}`.
    pub fn path(&self, rest: &str) -> String {
        format!("/config/{}{rest}", self.app_id)
    }

    /// A request to `/config/{appId}{rest}` as this caller (to add headers or a raw body).
    pub fn request(&self, method: Method, rest: &str) -> RequestBuilder {
        self.api.request(method, &self.path(rest))
    }

    pub async fn get(&self, rest: &str) -> Reply {
        self.api.get(&self.path(rest)).await
    }

    pub async fn delete(&self, rest: &str) -> Reply {
        self.api.delete(&self.path(rest)).await
    }

    pub async fn put(&self, rest: &str, body: &impl Serialize) -> Reply {
        self.api.put(&self.path(rest), body).await
    }

    pub async fn post(&self, rest: &str, body: &impl Serialize) -> Reply {
        self.api.post(&self.path(rest), body).await
    }

    pub async fn patch(&self, rest: &str, body: &impl Serialize) -> Reply {
        self.api.patch(&self.path(rest), body).await
    }

    pub async fn call(&self, method: Method, rest: &str) -> Reply {
        self.api.call(method, &self.path(rest)).await
    }

    pub async fn send(&self, method: Method, rest: &str, body: &impl Serialize) -> Reply {
        self.api.send(method, &self.path(rest), body).await
    }

    pub async fn list_clients(&self, query: &str) -> Reply {
        self.get(&format!("/clients{query}")).await
    }

    pub async fn create_client(&self, body: &impl Serialize) -> Reply {
        self.post("/clients", body).await
    }

    pub async fn get_client(&self, id: &str) -> Reply {
        self.get(&format!("/clients/{id}")).await
    }

    pub async fn put_client(&self, id: &str, body: &impl Serialize) -> Reply {
        self.put(&format!("/clients/{id}"), body).await
    }

    pub async fn delete_client(&self, id: &str) -> Reply {
        self.delete(&format!("/clients/{id}")).await
    }

    pub async fn rotate_secret(&self, id: &str, body: &impl Serialize) -> Reply {
        self.put(&format!("/clients/{id}/secret"), body).await
    }

    /// Rotates the client's secret, the old one valid `hours_to_live` hours more; asserts 200
    /// and returns the new secret (the answer read as a [`Client`]).
    pub async fn new_secret(&self, id: &str, hours_to_live: u32) -> String {
        let client: Client = self
            .rotate_secret(id, &serde_json::json!({ "hoursToLive": hours_to_live }))
            .await
            .good_as();
        assert_eq!(client.id, id);
        client.secret.expect("a rotation shows the new secret")
    }

    pub async fn get_settings(&self, id: &str) -> Reply {
        self.get(&format!("/clients/{id}/settings")).await
    }
}

/// The `latchkey` command, built one way for every test (see [`TestApp::cli`]).
pub struct Cli {
    command: tokio::process::Command,
    stdin: Option<String>,
}

impl Cli {
    /// `latchkey args…` with no database and no settings from the test's environment.
    pub fn bare(args: &[&str]) -> Cli {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_latchkey"));
        command
            .args(args)
            .env("RUST_LOG", "warn")
            .env_remove("DATABASE_URL")
            .env_remove("LATCHKEY_OPERATOR_TOKEN")
            .env_remove("LATCHKEY_SEALING_KEY")
            .env_remove("LATCHKEY_SEALING_KEY_FILE");
        Cli {
            command,
            stdin: None,
        }
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Cli {
        self.command.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Cli {
        self.command.env_remove(key);
        self
    }

    /// With the test servers' sealing key (sealed secrets, checkpoint keys).
    pub fn sealed(self) -> Cli {
        self.env("LATCHKEY_SEALING_KEY", TEST_SEALING_KEY)
    }

    /// With the test servers' public URL (checkpoint origins, OAuth issuers).
    pub fn public_url(self) -> Cli {
        self.env("LATCHKEY_PUBLIC_URL", PUBLIC_URL)
    }

    /// `text` as the standard input.
    pub fn stdin(mut self, text: &str) -> Cli {
        self.stdin = Some(text.to_owned());
        self
    }

    /// Runs it to its end without blocking the test's runtime (an in-test server may have to
    /// answer it).
    pub async fn run(mut self) -> Output {
        use tokio::io::AsyncWriteExt;
        let mut child = self
            .command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run latchkey");
        let mut input = child.stdin.take().unwrap();
        input
            .write_all(self.stdin.unwrap_or_default().as_bytes())
            .await
            .unwrap();
        drop(input);
        child.wait_with_output().await.unwrap()
    }

    /// Starts it and leaves it running (the caller stops it).
    pub fn spawn(mut self) -> tokio::process::Child {
        self.command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start latchkey")
    }
}

impl TestApp {
    /// `latchkey args…` against this test's database (no operator token, no sealing key unless
    /// [`Cli::sealed`]).
    pub fn cli(&self, args: &[&str]) -> Cli {
        Cli::bare(args).env("DATABASE_URL", self.database_url())
    }

    /// The URL of the test's own database (the server URL names another database).
    pub fn database_url(&self) -> String {
        database_url(&self.server_url, &self.db_name)
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Newline-delimited JSON (an NDJSON export), one value a line.
pub fn parse_ndjson(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The `seq` of each event.
pub fn event_seqs(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["seq"].as_i64().unwrap()).collect()
}

/// Asserts that the run succeeded (exit 0, else fails with its standard error).
#[track_caller]
pub fn succeeded(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
}

/// Asserts the exit code and the exact standard error (without the final line break).
#[track_caller]
pub fn exited(o: &Output, code: i32, message: &str) {
    assert_eq!(
        (o.status.code(), stderr(o).trim()),
        (Some(code), message),
        "stdout: {}",
        stdout(o)
    );
}

/// Asserts the exit code and that the standard error says `part`.
#[track_caller]
pub fn exited_saying(o: &Output, code: i32, part: &str) {
    assert_eq!(o.status.code(), Some(code), "{}", stderr(o));
    assert!(stderr(o).contains(part), "{}", stderr(o));
}

/// The standard output of a run that succeeded, as JSON.
#[track_caller]
pub fn json_out(o: &Output) -> Value {
    succeeded(o);
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// `text` with every value of `names` (an id, a time) replaced by `[name]`: what a snapshot may
/// hold, since it does not change from run to run, while it still says which id stood where.
pub fn named(text: &str, names: &[(impl AsRef<str>, impl AsRef<str>)]) -> String {
    names.iter().fold(text.to_owned(), |t, (value, name)| {
        t.replace(value.as_ref(), &format!("[{}]", name.as_ref()))
    })
}

/// [`named`] on the text of a JSON value.
pub fn named_json(value: &Value, names: &[(impl AsRef<str>, impl AsRef<str>)]) -> Value {
    serde_json::from_str(&named(&value.to_string(), names)).unwrap()
}

/// Calls `probe` every `every` until it answers true; fails after `limit`. Returns how long it
/// took.
pub async fn poll_until(
    what: &str,
    limit: Duration,
    every: Duration,
    mut probe: impl AsyncFnMut() -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        if probe().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{what}: not seen within {limit:?}"
        );
        tokio::time::sleep(every).await;
    }
}

/// Polls `probe` every 50 ms until it is true, for at most 20 s.
pub async fn eventually(what: &str, probe: impl AsyncFnMut() -> bool) {
    poll_until(
        what,
        Duration::from_secs(20),
        Duration::from_millis(50),
        probe,
    )
    .await;
}

//! The web console in a real browser: headless Chromium driven over WebDriver (chromedriver).
//! Signs in with the keyboard, creates a client, changes its features, meets the refusal for
//! `login_client` + `owner`, rotates the secret and uses the new one over the API, finds the
//! change in the audit timeline and in the access review (at a moment picked in the form, the
//! changes since, the CSV downloads) and signs out. Every page is checked for horizontal scrolling at
//! 1280 and 390 px and for errors in the browser's console, and photographed (into docs/console/ with
//! `LATCHKEY_UPDATE_SCREENSHOTS=1`, else under target/).
//!
//! Skipped, with a message, when chromedriver is not installed (`apt-get install chromium
//! chromium-driver`; `.ci/run` installs both), except under `CI=true`, where that fails the test:
//! a browser that cannot start (no driver, no Chromium, no session) is never a silent pass there.

// A test: it may panic on the unexpected (the crate's lints deny it outside tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../api/helpers.rs"]
mod helpers;
#[path = "../api/kit.rs"]
mod kit;

use std::net::TcpListener;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use reqwest::Method;
use serde_json::{json, Value};

use helpers::*;

const WIDE: (u32, u32) = (1280, 900);
const NARROW: (u32, u32) = (390, 844);

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// chromedriver, stopped (by its own pid) when the test ends, pass or fail.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_driver(program: &Path) -> Driver {
    let port = free_port();
    let child = Command::new(program)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(res) = http.get(format!("{}/status", driver.url)).send().await {
            if res.status().is_success() {
                return driver;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer on {}", driver.url);
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut options = json!({
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--hide-scrollbars",
            format!("--window-size={},{}", WIDE.0, WIDE.1),
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    if let Some(chromium) = find_program("chromium") {
        options["binary"] = json!(chromium);
    }
    let mut caps = Capabilities::new();
    caps.insert("goog:chromeOptions".into(), options);
    caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("open a Chromium session")
}

/// chromedriver's browser log (`/se/log`): what the page's console printed since last asked.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

/// The page as the test sees it: no console errors, no horizontal scrolling at either width,
/// every form field labelled; then a screenshot (at 1280 px, and at 390 px when `narrow_shot`).
/// A page that shows a refused change answers with the API's status, which Chromium reports as
/// a failed load of the document itself: `refused` names that status, and only that entry is
/// allowed.
async fn check_page(c: &Client, name: &str, narrow_shot: bool, refused: Option<u16>) {
    let log = c.issue_cmd(BrowserLog).await.expect("read the browser log");
    let url = c.current_url().await.unwrap();
    let expected = refused.map(|status| {
        format!("{url} - Failed to load resource: the server responded with a status of {status}")
    });
    let errors: Vec<&Value> = log
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e["level"] == "SEVERE" || e["level"] == "WARNING")
                .filter(|e| {
                    let message = e["message"].as_str().unwrap_or_default();
                    !expected.as_deref().is_some_and(|x| message.starts_with(x))
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(errors.is_empty(), "{name}: browser console: {errors:?}");
    let unlabelled = c
        .execute(
            "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                .map(e => e.name || e.id);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(unlabelled, json!([]), "{name}: fields without a label");
    // The committed pictures in docs/console/ are refreshed only on request
    // (`LATCHKEY_UPDATE_SCREENSHOTS=1 cargo test --test console`), so a test run leaves the
    // work tree clean; otherwise they land in target/console-screenshots/.
    let dir = if std::env::var_os("LATCHKEY_UPDATE_SCREENSHOTS").is_some() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/console")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots")
    };
    std::fs::create_dir_all(&dir).unwrap();
    for (width, height) in [NARROW, WIDE] {
        c.set_window_size(width, height).await.unwrap();
        let fits = c
            .execute(
                "return document.documentElement.scrollWidth <= document.documentElement.clientWidth;",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            fits,
            json!(true),
            "{name}: horizontal scrolling at {width} px"
        );
        if width == NARROW.0 && narrow_shot {
            let png = c.screenshot().await.unwrap();
            std::fs::write(dir.join(format!("{name}-390.png")), png).unwrap();
        }
    }
    // The whole page at 1280 px: the window as tall as the document (at most 3000 px).
    let height = c
        .execute(
            // The window's frame (outer − inner) is not part of the page.
            "return document.documentElement.scrollHeight + window.outerHeight - window.innerHeight;",
            vec![],
        )
        .await
        .unwrap()
        .as_u64()
        .unwrap_or(u64::from(WIDE.1));
    c.set_window_size(WIDE.0, height.clamp(400, 3000) as u32)
        .await
        .unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    c.set_window_size(WIDE.0, WIDE.1).await.unwrap();
}

/// Waits until the page contains `text` (after a form submission or a link).
async fn wait_for_text(c: &Client, text: &str) {
    let started = Instant::now();
    loop {
        let source = c.source().await.unwrap();
        if source.contains(text) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "page never showed {text:?}; it shows:\n{source}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click_button(c: &Client, label: &str) {
    c.find(Locator::XPath(&format!(
        "//button[normalize-space()='{label}']"
    )))
    .await
    .unwrap_or_else(|e| panic!("button {label}: {e}"))
    .click()
    .await
    .unwrap();
}

async fn tick(c: &Client, id: &str, on: bool) {
    let b = c.find(Locator::Id(id)).await.unwrap();
    if b.is_selected().await.unwrap() != on {
        b.click().await.unwrap();
    }
}

/// `CI` set to anything but empty, `0` or `false` (CI services set `CI=true`).
fn running_in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

#[tokio::test]
async fn the_console_in_a_real_browser() {
    let Some(program) = find_program("chromedriver") else {
        let why = "chromedriver is not installed; the browser tests need Debian's `chromium` \
                   and `chromium-driver` packages (.ci/run installs them)";
        // CI must run this test: a missing browser there is a broken CI, not a skip.
        assert!(!running_in_ci(), "CI=true and {why}");
        eprintln!("SKIPPED: {why}.");
        return;
    };
    let app = spawn_app().await;
    let owner = app.create_app("shop").await;
    let driver = start_driver(&program).await;
    let profile = std::env::temp_dir().join(format!(
        "latchkey-console-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let c = browser(&driver, &profile).await;
    // Whatever happens, end the browser session (which stops Chromium) before chromedriver.
    let outcome = AssertUnwindSafe(run(&app, &owner, &c)).catch_unwind().await;
    let _ = c.close().await;
    drop(driver);
    let _ = std::fs::remove_dir_all(&profile);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn run(app: &TestApp, owner: &Owner, c: &Client) {
    let base = &app.address;
    let app_id = owner.app_id.as_str();

    // Sign in with the keyboard only.
    c.goto(&format!("{base}/console")).await.unwrap();
    wait_for_text(c, "Application owner").await;
    check_page(c, "sign-in", true, None).await;
    c.find(Locator::Id("app_id"))
        .await
        .unwrap()
        .send_keys(&format!(
            "{app_id}{}{}{}{}{}",
            Key::Tab,
            owner.client_id,
            Key::Tab,
            owner.secret,
            Key::Enter
        ))
        .await
        .unwrap();
    wait_for_text(c, "Create a client").await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        format!("/console/apps/{app_id}/clients")
    );
    check_page(c, "clients", true, None).await;

    // Create a client.
    c.find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys("storefront")
        .await
        .unwrap();
    tick(c, "feature-direct_read_access", true).await;
    click_button(c, "Create client").await;
    wait_for_text(c, "was created").await;
    let client_id = c
        .find(Locator::Id("client-id"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let first_secret = c
        .find(Locator::Id("secret-value"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!((client_id.len(), first_secret.len()), (32, 32));
    check_page(c, "client-created", false, None).await;

    // Change its features.
    c.find(Locator::LinkText("Open the client"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(c, "Rotate the secret").await;
    tick(c, "feature-direct_read_access", false).await;
    tick(c, "feature-direct_access", true).await;
    click_button(c, "Save changes").await;
    wait_for_text(c, "Saved.").await;
    check_page(c, "client", true, None).await;

    // login_client with owner: the API's refusal, on the page.
    let rule = c.find(Locator::Css(".rule-login")).await.unwrap();
    tick(c, "feature-direct_access", false).await;
    tick(c, "feature-login_client", true).await;
    assert!(
        !rule.is_displayed().await.unwrap(),
        "login_client alone is fine"
    );
    tick(c, "feature-owner", true).await;
    assert!(
        rule.is_displayed().await.unwrap(),
        "the rule shows as you choose"
    );
    click_button(c, "Save changes").await;
    wait_for_text(
        c,
        "Clients with the login_client feature cannot have any other features.",
    )
    .await;
    // The form shows what was submitted, and the rule with it.
    for (id, on) in [
        ("feature-login_client", true),
        ("feature-owner", true),
        ("feature-direct_access", false),
    ] {
        let b = c.find(Locator::Id(id)).await.unwrap();
        assert_eq!(b.is_selected().await.unwrap(), on, "{id}");
    }
    check_page(c, "refusal", false, Some(400)).await;
    // Back to what is stored before rotating.
    c.goto(&format!("{base}/console/apps/{app_id}/clients/{client_id}"))
        .await
        .unwrap();
    wait_for_text(c, "Rotate the secret").await;

    // Rotate the secret; the new one is shown once and works over the API.
    click_button(c, "Rotate secret").await;
    wait_for_text(c, "The secret was rotated.").await;
    let secret = c
        .find(Locator::Id("secret-value"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(secret.len(), 32);
    assert_ne!(secret, first_secret);
    click_button(c, "Copy").await;
    check_page(c, "rotated", false, None).await;
    let settings = format!("/config/{app_id}/settings");
    let res = app.by_client(&client_id, &secret).get(&settings).await;
    assert_eq!(res.status, 200, "the new secret works");
    let res = app
        .by_client(&client_id, "not-the-secret")
        .get(&settings)
        .await;
    assert_eq!(res.status, 401);
    // Reloading the page does not show the secret again.
    c.goto(&format!("{base}/console/apps/{app_id}/clients/{client_id}"))
        .await
        .unwrap();
    wait_for_text(c, "Rotate the secret").await;
    assert!(!c.source().await.unwrap().contains(&secret));

    // Settings and access schemas.
    c.goto(&format!("{base}/console/apps/{app_id}/settings"))
        .await
        .unwrap();
    wait_for_text(c, "Application defaults").await;
    check_page(c, "settings", false, None).await;
    c.goto(&format!(
        "{base}/console/apps/{app_id}/clients/{client_id}/access"
    ))
    .await
    .unwrap();
    wait_for_text(c, "Access schemas").await;
    check_page(c, "access", false, None).await;

    // The OAuth page: the application's signing key (made by the first token) and the keys
    // registered for the client, as the API publishes them; the client page links there.
    let (_, client_jwk) = latchkey::auth::jose::generate(
        latchkey::domain::oauth::SigningAlg::EdDsa,
        "storefront-key-1",
    )
    .unwrap();
    app.as_client(
        &owner.client_id,
        &owner.secret,
        Method::PUT,
        &format!("/config/{app_id}/clients/{client_id}/jwks"),
    )
    .json(&json!({ "keys": [client_jwk] }))
    .fetch()
    .await
    .status_is(200);
    app.as_client(
        &client_id,
        &secret,
        Method::POST,
        &format!("/oauth/{app_id}/token"),
    )
    .form(&[("grant_type", "client_credentials")])
    .fetch()
    .await
    .status_is(200);
    let jwks = app
        .anonymous()
        .get(&format!("/oauth/{app_id}/jwks"))
        .await
        .good();
    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    c.goto(&format!("{base}/console/apps/{app_id}/clients/{client_id}"))
        .await
        .unwrap();
    wait_for_text(c, "Rotate the secret").await;
    c.find(Locator::LinkText("OAuth keys"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(c, "Signing keys").await;
    let url = c.current_url().await.unwrap();
    assert_eq!(
        (url.path(), url.fragment()),
        (
            format!("/console/apps/{app_id}/oauth").as_str(),
            Some(format!("client-{client_id}").as_str())
        )
    );
    let signing = c
        .find(Locator::Id("signing-keys"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        signing.contains(&kid) && signing.contains("ES256") && signing.contains("signing"),
        "{signing}"
    );
    let row = c
        .find(Locator::Id(&format!("client-{client_id}")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        row.contains(&client_id) && row.contains("storefront-key-1") && row.contains("OKP Ed25519"),
        "{row}"
    );
    check_page(c, "oauth", true, None).await;

    // The change is in the audit timeline.
    c.goto(&format!("{base}/console/apps/{app_id}/audit"))
        .await
        .unwrap();
    wait_for_text(c, "Verify the hash chain").await;
    c.find(Locator::LinkText("Verify the hash chain"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(c, "verified up to revision").await;
    c.find(Locator::Id("f-client"))
        .await
        .unwrap()
        .send_keys(&client_id)
        .await
        .unwrap();
    click_button(c, "Apply filters").await;
    wait_for_text(c, "client.secret_rotate").await;
    let page = c.source().await.unwrap();
    for needle in [
        "client.update",
        "client.create",
        "+ direct_access",
        "− direct_read_access",
    ] {
        assert!(page.contains(needle), "{needle} in the timeline");
    }
    check_page(c, "audit", true, None).await;

    // The access review: now, at a moment chosen with the date picker, the changes since then,
    // and the CSV downloads.
    c.find(Locator::LinkText("Access review"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(c, "Who could do what").await;
    let table = c.find(Locator::Id("review-table")).await.unwrap();
    let text = table.text().await.unwrap();
    assert!(
        text.contains("storefront") && text.contains("direct_access"),
        "{text}"
    );
    // Just after the owner was created (the picker takes UTC, to the millisecond).
    let owner_created: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT occurred_at FROM audit_events WHERE app_id = $1 AND seq = 2")
            .bind(app_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let moment = (owner_created + chrono::Duration::milliseconds(1))
        .format("%Y-%m-%dT%H:%M:%S%.3f")
        .to_string();
    let pick = |id: &'static str| {
        let moment = moment.clone();
        async move {
            c.execute(
                "document.getElementById(arguments[0]).value = arguments[1];",
                vec![json!(id), json!(moment)],
            )
            .await
            .unwrap();
        }
    };
    pick("r-at").await;
    click_button(c, "Show entitlements").await;
    wait_for_text(c, "clients: 1.").await;
    let text = c
        .find(Locator::Id("review-table"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("storefront"), "{text}");
    pick("r-from").await;
    click_button(c, "Show changes").await;
    wait_for_text(c, "client created").await;
    let changes = c
        .find(Locator::Id("changes-table"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "storefront",
        "feature granted",
        "feature revoked",
        "secret rotated",
    ] {
        assert!(changes.contains(needle), "{needle} in {changes}");
    }
    check_page(c, "review", true, None).await;
    // The download links, fetched with the browser's session (the page's CSP allows no
    // script requests).
    let cookie = c.get_named_cookie("lk_console").await.unwrap();
    let fetch = |id: &'static str| {
        let cookie = format!("lk_console={}", cookie.value());
        async move {
            let href = c
                .find(Locator::Id(id))
                .await
                .unwrap()
                .attr("href")
                .await
                .unwrap()
                .unwrap();
            let res = app
                .request(Method::GET, &href)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{href}");
            Value::String(res.text().await.unwrap())
        }
    };
    let csv = fetch("review-csv").await;
    assert_eq!(
        csv,
        json!(format!(
            "_id,name,features,ipWhitelist,accessSchemas\r\n{},owner,owner,0.0.0.0/0,\r\n",
            owner.client_id
        ))
    );
    let csv = fetch("changes-csv").await;
    let csv = csv.as_str().unwrap();
    assert!(
        csv.starts_with("at,revision,actor,client,name,kind,detail\r\n"),
        "{csv}"
    );
    assert!(csv.contains(",storefront,client_created,"), "{csv}");

    // Sign out.
    click_button(c, "Sign out").await;
    wait_for_text(c, "You are signed out.").await;
    c.goto(&format!("{base}/console/apps/{app_id}/clients"))
        .await
        .unwrap();
    wait_for_text(c, "Application owner").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/console/sign-in");

    // The operator's applications page.
    c.find(Locator::Id("operator_token"))
        .await
        .unwrap()
        .send_keys(&format!("{}{}", app.operator_token, Key::Enter))
        .await
        .unwrap();
    wait_for_text(c, "Create an application").await;
    check_page(c, "apps", false, None).await;
    click_button(c, "Sign out").await;
    wait_for_text(c, "You are signed out.").await;
}

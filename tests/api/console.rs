//! The web console over plain HTTP: sign-in, cookie flags, CSRF refusals, session expiry,
//! tenant isolation, the lock-out, and that console changes are audited like API ones.
//! (The browser tests are the `console` test target: tests/console/main.rs.)

use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::*;

/// A browser without a browser: keeps the console's cookies and the last page's CSRF token.
struct Visitor<'a> {
    app: &'a TestApp,
    session: Option<String>,
    login: Option<String>,
    /// The cookie a write's redirect leaves (`lk_console_rev`), sent back like a browser does.
    revision: Option<String>,
    csrf: String,
}

/// The value of `name=` in the response's Set-Cookie headers, and the whole header.
fn set_cookie(res: &Response, name: &str) -> Option<(String, String)> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let value = v[name.len() + 1..]
                .split(';')
                .next()
                .unwrap_or("")
                .to_owned();
            (value, v.to_owned())
        })
}

fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    html.find(marker)
        .map(|i| {
            let rest = &html[i + marker.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .unwrap_or_default()
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

impl<'a> Visitor<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            session: None,
            login: None,
            revision: None,
            csrf: String::new(),
        }
    }

    fn cookie_header(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = &self.session {
            parts.push(format!("lk_console={s}"));
        }
        if let Some(l) = &self.login {
            parts.push(format!("lk_console_login={l}"));
        }
        if let Some(r) = &self.revision {
            parts.push(format!("lk_console_rev={r}"));
        }
        parts.join("; ")
    }

    async fn get(&mut self, path: &str) -> (u16, String, Option<String>) {
        let res = self
            .app
            .request(Method::GET, path)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(res).await
    }

    async fn post(&mut self, path: &str, pairs: &[(&str, &str)]) -> (u16, String, Option<String>) {
        let res = self
            .app
            .request(Method::POST, path)
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs))
            .send()
            .await
            .unwrap();
        self.read(res).await
    }

    /// Status, body and Location; remembers cookies and the page's CSRF token.
    async fn read(&mut self, res: Response) -> (u16, String, Option<String>) {
        if let Some((v, _)) = set_cookie(&res, "lk_console") {
            self.session = (!v.is_empty()).then_some(v);
        }
        if let Some((v, _)) = set_cookie(&res, "lk_console_login") {
            self.login = (!v.is_empty()).then_some(v);
        }
        if let Some((v, _)) = set_cookie(&res, "lk_console_rev") {
            self.revision = (!v.is_empty()).then_some(v);
        }
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = res.text().await.unwrap();
        let csrf = csrf_in(&body);
        if !csrf.is_empty() {
            self.csrf = csrf;
        }
        (status, body, location)
    }

    async fn sign_in(&mut self, pairs: &[(&str, &str)]) -> (u16, String, Option<String>) {
        let (status, _, _) = self.get("/console/sign-in").await;
        assert_eq!(status, 200);
        let csrf = self.csrf.clone();
        let mut all = vec![("csrf_token", csrf.as_str())];
        all.extend_from_slice(pairs);
        self.post("/console/sign-in", &all).await
    }

    async fn sign_in_owner(&mut self, owner: &Owner) -> (u16, String, Option<String>) {
        self.sign_in(&[
            ("app_id", &owner.app_id),
            ("client_id", &owner.client_id),
            ("client_secret", &owner.secret),
        ])
        .await
    }
}

#[tokio::test]
async fn unsigned_visitors_are_sent_to_sign_in() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let mut v = Visitor::new(&app);
    for path in [
        "/console".to_owned(),
        "/console/apps".to_owned(),
        format!("/console/apps/{}/clients", owner.app_id),
        format!("/console/apps/{}/audit", owner.app_id),
    ] {
        let (status, body, location) = v.get(&path).await;
        assert_eq!(
            (status, location.as_deref()),
            (303, Some("/console/sign-in"))
        );
        assert_eq!(body, "");
    }
    let (status, body, _) = v.get("/console/sign-in").await;
    assert_eq!(status, 200);
    for field in ["app_id", "client_id", "client_secret", "operator_token"] {
        assert!(body.contains(&format!("name=\"{field}\"")), "{field}");
        assert!(
            body.contains(&format!("for=\"{field}\"")),
            "label of {field}"
        );
    }
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_session_cookie() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    // The sign-in form's own cookie.
    let res = app
        .request(Method::GET, "/console/sign-in")
        .send()
        .await
        .unwrap();
    let (_, header) = set_cookie(&res, "lk_console_login").unwrap();
    assert!(
        header.ends_with("; HttpOnly; SameSite=Strict; Path=/console"),
        "{header}"
    );
    assert_eq!(res.headers()["cache-control"].to_str().unwrap(), "no-store");
    let mut v = Visitor::new(&app);
    // Over plain HTTP: no Secure flag.
    let (status, _, location) = v.sign_in_owner(&owner).await;
    assert_eq!((status, location.as_deref()), (303, Some("/console")));
    let session = v.session.clone().unwrap();
    assert!(
        session.starts_with(&format!("c.{}.", owner.app_id)),
        "{session}"
    );
    // Only a hash of the token is stored.
    let stored: Vec<u8> = app
        .scalar("SELECT token_hash FROM console_sessions", &[])
        .await;
    assert_eq!(stored.len(), 32);
    let token = session.rsplit('.').next().unwrap();
    let digest: Vec<u8> = <sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()).to_vec();
    assert_eq!(stored, digest);

    let (status, _, location) = v.get("/console").await;
    assert_eq!(
        (status, location),
        (303, Some(format!("/console/apps/{}/clients", owner.app_id)))
    );
    let (status, body, _) = v
        .get(&format!("/console/apps/{}/clients", owner.app_id))
        .await;
    assert_eq!(status, 200);
    assert!(body.contains(&owner.client_id));

    // Behind a TLS-terminating proxy the cookie is Secure.
    let res = app
        .request(Method::GET, "/console/sign-in")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let (login, header) = set_cookie(&res, "lk_console_login").unwrap();
    assert!(header.contains("; Secure"), "{header}");
    let csrf = csrf_in(&res.text().await.unwrap());
    let res = app
        .request(Method::POST, "/console/sign-in")
        .header("x-forwarded-proto", "https")
        .header("cookie", format!("lk_console_login={login}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("csrf_token", &csrf),
            ("app_id", &owner.app_id),
            ("client_id", &owner.client_id),
            ("client_secret", &owner.secret),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let (_, header) = set_cookie(&res, "lk_console").unwrap();
    assert!(
        header.ends_with("; HttpOnly; SameSite=Strict; Secure; Path=/console"),
        "{header}"
    );
}

#[tokio::test]
async fn wrong_credentials_and_non_owners_are_refused() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let (reader, reader_secret) = app
        .make_client(&owner, "reader", &["direct_read_access"])
        .await
        .credentials();
    let mut v = Visitor::new(&app);
    let (status, body, _) = v
        .sign_in(&[
            ("app_id", &owner.app_id),
            ("client_id", &owner.client_id),
            ("client_secret", "wrong"),
        ])
        .await;
    assert_eq!(status, 401);
    assert!(body.contains(
        "Sign-in failed: the application id, client id, secret or operator token is wrong."
    ));
    assert!(v.session.is_none());
    let (status, _, _) = v.sign_in(&[("operator_token", "not-the-token")]).await;
    assert_eq!(status, 401);
    let (status, body, _) = v
        .sign_in(&[
            ("app_id", &owner.app_id),
            ("client_id", &reader),
            ("client_secret", &reader_secret),
        ])
        .await;
    assert_eq!(status, 403);
    assert!(body.contains("Only a client with the owner feature can sign in to the console."));
    assert!(v.session.is_none());
    let rows: i64 = app
        .scalar("SELECT count(*) FROM console_sessions", &[])
        .await;
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn failed_sign_ins_count_in_the_lock_out() {
    let app = spawn_app_with(|s| s.auth.failure_limit = 3).await;
    let owner = app.create_app("shop").await;
    let mut v = Visitor::new(&app);
    // Distinct guesses: a wrong secret sent again is answered from memory and not counted.
    for guess in ["wrong-1", "wrong-2", "wrong-3"] {
        let (status, _, _) = v
            .sign_in(&[
                ("app_id", &owner.app_id),
                ("client_id", &owner.client_id),
                ("client_secret", guess),
            ])
            .await;
        assert_eq!(status, 401);
    }
    // Now even the right secret is refused, in the console and in the API alike.
    let (status, body, _) = v.sign_in_owner(&owner).await;
    assert_eq!(status, 429);
    assert!(
        body.contains("Too many failed sign-ins. Try again in"),
        "{body}"
    );
    let res = app.config(&owner).list_clients("").await;
    assert_eq!(res.status, 429);
}

#[tokio::test]
async fn sign_in_without_its_form_token_is_refused() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let mut v = Visitor::new(&app);
    let (status, body, _) = v
        .post(
            "/console/sign-in",
            &[
                ("app_id", &owner.app_id),
                ("client_id", &owner.client_id),
                ("client_secret", &owner.secret),
            ],
        )
        .await;
    assert_eq!(status, 403);
    assert!(body.contains("This form has expired or did not come from this console."));
    assert!(v.session.is_none());
}

#[tokio::test]
async fn state_changing_forms_need_the_session_csrf_token() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let mut v = Visitor::new(&app);
    v.sign_in_owner(&owner).await;
    let path = format!("/console/apps/{}/clients", owner.app_id);
    let (status, _, _) = v.get(&path).await;
    assert_eq!(status, 200);
    let good = v.csrf.clone();
    assert_eq!(good.len(), 32);
    for token in ["", "0123456789abcdef0123456789abcdef"] {
        let (status, body, _) = v
            .post(
                &path,
                &[
                    ("csrf_token", token),
                    ("name", "sneaky"),
                    ("ip_whitelist", "0.0.0.0/0"),
                ],
            )
            .await;
        assert_eq!(status, 403);
        assert!(body.contains("This form has expired or did not come from this console."));
    }
    assert_eq!(client_names(&app, &owner).await, vec!["owner"]);
    // Another session's token does not fit this one.
    let mut other = Visitor::new(&app);
    other.sign_in_owner(&owner).await;
    other.get(&path).await;
    assert_ne!(other.csrf, good);
    let (status, _, _) = v
        .post(&path, &[("csrf_token", &other.csrf), ("name", "sneaky")])
        .await;
    assert_eq!(status, 403);
    // The right token works.
    let (status, body, _) = v
        .post(
            &path,
            &[
                ("csrf_token", &good),
                ("name", "web"),
                ("features", "direct_read_access"),
                ("ip_whitelist", "10.0.0.0/8\n2001:db8::/32"),
            ],
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("shown only now"));
    assert_eq!(client_names(&app, &owner).await, vec!["owner", "web"]);
}

#[tokio::test]
async fn console_changes_are_audited_and_refused_like_the_api() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let mut v = Visitor::new(&app);
    v.sign_in_owner(&owner).await;
    let path = format!("/console/apps/{}/clients", owner.app_id);
    v.get(&path).await;
    let csrf = v.csrf.clone();
    // The API's own messages.
    for (features, ips, status, message) in [
        (
            vec!["login_client", "owner"],
            "0.0.0.0/0",
            400,
            "Clients with the login_client feature cannot have any other features.",
        ),
        (
            vec!["metadata"],
            "0.0.0.0/0",
            400,
            "The metadata feature can only be applied to a client by Akamai.",
        ),
        (vec![], "10.0.0.1", 400, "Not a valid CIDR address."),
    ] {
        let mut pairs = vec![("csrf_token", csrf.as_str()), ("name", "web")];
        for f in &features {
            pairs.push(("features", f));
        }
        pairs.push(("ip_whitelist", ips));
        let (got, body, _) = v.post(&path, &pairs).await;
        assert_eq!(got, status, "{features:?}");
        assert!(body.contains(message), "{message} in {body}");
    }
    assert_eq!(app.audit_count(&owner.app_id, "client.create").await, 1);
    let (status, body, _) = v
        .post(
            &path,
            &[
                ("csrf_token", &csrf),
                ("name", "web"),
                ("features", "direct_access"),
                ("ip_whitelist", "0.0.0.0/0"),
            ],
        )
        .await;
    assert_eq!(status, 201);
    let marker = "id=\"client-id\">";
    let start = body.find(marker).unwrap() + marker.len();
    let client_id = body[start..start + 32].to_owned();
    // Removing owner from itself: the API's message.
    let own = format!("{path}/{}", owner.client_id);
    let (status, body, _) = v
        .post(
            &own,
            &[
                ("csrf_token", &csrf),
                ("name", "owner"),
                ("features", "direct_access"),
                ("ip_whitelist", "0.0.0.0/0"),
            ],
        )
        .await;
    assert_eq!(status, 403);
    assert!(body.contains("Owner feature cannot be removed from the client making the call."));
    // A change through the console is one audited event whose actor is the signed-in client.
    let (status, _, location) = v
        .post(
            &format!("{path}/{client_id}"),
            &[
                ("csrf_token", &csrf),
                ("name", "web"),
                ("features", "direct_read_access"),
                ("ip_whitelist", "0.0.0.0/0"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(
        location.unwrap(),
        format!("{path}/{client_id}?notice=saved")
    );
    let rows = app.audit_rows(&owner.app_id).await;
    let last: &Value = rows.last().unwrap();
    assert_eq!(last["action"], "client.update");
    assert_eq!(last["actor"], owner.client_id.as_str());
    assert_eq!(last["target_client_id"], client_id.as_str());
    assert_eq!(last["features_before"], json!(["direct_access"]));
    assert_eq!(last["features_after"], json!(["direct_read_access"]));
    // Deleting needs the confirmation box.
    let (status, body, _) = v
        .post(
            &format!("{path}/{client_id}/delete"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(status, 400);
    assert!(body.contains("Tick the confirmation box to delete this client."));
    let (status, _, location) = v
        .post(
            &format!("{path}/{client_id}/delete"),
            &[("csrf_token", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(
        (status, location),
        (303, Some(format!("{path}?notice=deleted")))
    );
    assert_eq!(app.audit_count(&owner.app_id, "client.delete").await, 1);
    // The timeline shows it.
    let (status, body, _) = v
        .get(&format!(
            "/console/apps/{}/audit?action=client.delete&client={client_id}",
            owner.app_id
        ))
        .await;
    assert_eq!(status, 200);
    assert!(body.contains("client.delete"));
    // The chain is walked only when asked.
    assert!(!body.contains("Hash chain verified"));
    assert!(body.contains("Verify the hash chain"));
    let (status, body, _) = v
        .get(&format!("/console/apps/{}/audit?verify=1", owner.app_id))
        .await;
    assert_eq!(status, 200);
    assert!(
        body.contains("Hash chain verified up to revision 5 (5 events)"),
        "{body}"
    );
}

#[tokio::test]
async fn sessions_expire_after_inactivity_and_on_sign_out() {
    let app = spawn_app_with(|s| s.console.idle_secs = 1).await;
    let owner = app.create_app("shop").await;
    let mut v = Visitor::new(&app);
    v.sign_in_owner(&owner).await;
    let path = format!("/console/apps/{}/clients", owner.app_id);
    assert_eq!(v.get(&path).await.0, 200);
    // Two seconds pass for the session (the idle limit is one) without the test waiting them:
    // its last use moves back. Waiting by polling cannot work here: each request is a use.
    let aged: u64 = sqlx::query(
        "UPDATE console_sessions SET last_seen_at = last_seen_at - interval '2 seconds'",
    )
    .execute(&app.pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(aged, 1);
    let (status, _, location) = v.get(&path).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/console/sign-in"))
    );

    let (app, owner) = spawn_app_with_owner("shop").await;
    let mut v = Visitor::new(&app);
    v.sign_in_owner(&owner).await;
    let path = format!("/console/apps/{}/clients", owner.app_id);
    assert_eq!(v.get(&path).await.0, 200);
    let kept = v.session.clone();
    let csrf = v.csrf.clone();
    let (status, _, location) = v.post("/console/sign-out", &[("csrf_token", &csrf)]).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/console/sign-in?signed_out=1"))
    );
    assert_eq!(v.session, None);
    // The old cookie no longer opens anything.
    v.session = kept;
    let (status, _, location) = v.get(&path).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/console/sign-in"))
    );
}

#[tokio::test]
async fn a_session_sees_only_its_own_application() {
    let (app, shop) = spawn_app_with_owner("shop").await;
    let blog = app.create_app("blog").await;
    let mut v = Visitor::new(&app);
    v.sign_in_owner(&shop).await;
    v.get(&format!("/console/apps/{}/clients", shop.app_id))
        .await;
    let csrf = v.csrf.clone();
    for path in [
        format!("/console/apps/{}/clients", blog.app_id),
        format!("/console/apps/{}/clients/{}", blog.app_id, blog.client_id),
        format!("/console/apps/{}/audit", blog.app_id),
        format!("/console/apps/{}/settings", blog.app_id),
    ] {
        let (status, body, _) = v.get(&path).await;
        assert_eq!(status, 403, "{path}");
        assert!(body.contains("This session cannot manage that application."));
        assert!(!body.contains(&blog.client_id));
    }
    let (status, _, _) = v
        .post(
            &format!("/console/apps/{}/clients", blog.app_id),
            &[("csrf_token", &csrf), ("name", "intruder")],
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(client_names(&app, &blog).await, vec!["owner"]);
    // The applications page is the operator's.
    let (status, _, _) = v.get("/console/apps").await;
    assert_eq!(status, 403);
    // The operator sees both and can create one.
    let mut op = Visitor::new(&app);
    let token = app.operator_token.clone();
    let (status, _, location) = op.sign_in(&[("operator_token", &token)]).await;
    assert_eq!((status, location.as_deref()), (303, Some("/console")));
    let (status, body, _) = op.get("/console/apps").await;
    assert_eq!(status, 200);
    assert!(body.contains(&shop.app_id) && body.contains(&blog.app_id));
    let csrf = op.csrf.clone();
    let (status, body, _) = op
        .post(
            "/console/apps",
            &[("csrf_token", &csrf), ("name", "wiki"), ("region", "eu")],
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("Owner client secret"));
    let (status, body, _) = op
        .post(
            "/console/apps",
            &[("csrf_token", &csrf), ("name", "wiki"), ("region", "eu")],
        )
        .await;
    assert_eq!(status, 409);
    assert!(body.contains("Application wiki already exists."));
}

#[tokio::test]
async fn settings_and_access_schemas_are_edited_through_the_service() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let res = app.config(&owner).post("/entityTypes", &json!({"name": "user", "attr_defs": [
            {"name": "email", "type": "string"},
            {"name": "address", "type": "object", "attr_defs": [{"name": "city", "type": "string"}]}
        ]})).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let mut v = Visitor::new(&app);
    v.sign_in_owner(&owner).await;
    let settings = format!("/console/apps/{}/settings", owner.app_id);
    v.get(&settings).await;
    let csrf = v.csrf.clone();
    let (status, _, _) = v
        .post(
            &settings,
            &[
                ("csrf_token", &csrf),
                ("key", "theme"),
                ("value", "dark"),
                ("key", "retries"),
                ("value", "3"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let body = app.config(&owner).get("/settings").await.status_is(200);
    assert_eq!(body["theme"], "dark");
    assert_eq!(body["retries"], 3);

    let access = format!(
        "/console/apps/{}/clients/{}/access",
        owner.app_id, owner.client_id
    );
    let (status, body, _) = v.get(&access).await;
    assert_eq!(status, 200);
    assert!(body.contains("value=\"address.city\""), "{body}");
    let (status, _, location) = v
        .post(
            &format!("{access}/user/read"),
            &[
                ("csrf_token", &csrf),
                ("action", "save"),
                ("attributes", "address.city"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(location.unwrap(), format!("{access}?notice=saved"));
    assert_eq!(app.audit_count(&owner.app_id, "access_schema.set").await, 1);
    let (status, body, _) = v
        .post(
            &format!("{access}/user/read"),
            &[("csrf_token", &csrf), ("attributes", "nope")],
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn the_audit_page_shows_where_the_chain_breaks_and_exports_what_it_filters() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    app.make_client(&owner, "web", &["direct_access"]).await;
    app.make_client(&owner, "cli", &[]).await;
    let mut v = Visitor::new(&app);
    v.sign_in_owner(&owner).await;
    let audit = format!("/console/apps/{}/audit", owner.app_id);
    // Exports: the API's CSV and NDJSON of the filtered events, in chain order.
    let (status, csv, _) = v
        .get(&format!("{audit}/export?format=csv&action=client.create"))
        .await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "header + owner, web, cli: {csv}");
    assert!(lines[0].starts_with("seq,occurred_at,action,"));
    assert!(lines[1..].iter().all(|l| l.contains(",client.create,")));
    let (status, ndjson, _) = v
        .get(&format!(
            "{audit}/export?format=ndjson&feature=direct_access"
        ))
        .await;
    assert_eq!(status, 200);
    let events = parse_ndjson(&ndjson);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["features_after"], json!(["direct_access"]));
    // A bad filter gets the API's message on the page.
    let (status, body, _) = v.get(&format!("{audit}?since=yesterday")).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("Invalid since: expected an RFC 3339 time such as 2024-05-01T00:00:00Z."),
        "{body}"
    );
    // An edited event: the page says where the chain breaks.
    crate::audit_util::tamper(
        &app,
        &format!(
            "UPDATE audit_events SET actor = 'someone' WHERE app_id = '{}' AND seq = 3",
            owner.app_id
        ),
    )
    .await;
    let (status, body, _) = v.get(&format!("{audit}?verify=1")).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("Hash chain broken at revision 3 (altered)"),
        "{body}"
    );
    assert!(body.contains("2 events verified before the break"));
}

#[tokio::test]
async fn an_edit_from_a_stale_page_is_refused() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let id = app.add_client(&owner, "web", &[]).await;
    let mut v = Visitor::new(&app);
    v.sign_in_owner(&owner).await;
    let page = format!("/console/apps/{}/clients/{id}", owner.app_id);
    let (_, body, _) = v.get(&page).await;
    assert!(body.contains("name=\"version\" value=\"1\""), "{body}");
    let csrf = v.csrf.clone();
    // Someone changes the client through the API meanwhile.
    app.config(&owner)
        .put_client(&id, &json!({"name": "web2"}))
        .await
        .status_is(200);
    let (status, body, _) = v
        .post(
            &page,
            &[
                ("csrf_token", &csrf),
                ("version", "1"),
                ("name", "web3"),
                ("ip_whitelist", "0.0.0.0/0"),
            ],
        )
        .await;
    assert_eq!(status, 412);
    assert!(body.contains("Precondition failed."));
    assert_eq!(client_names(&app, &owner).await, vec!["owner", "web2"]);
}

#[tokio::test]
async fn operator_sessions_end_when_the_operator_token_changes() {
    let app = spawn_app().await;
    let mut op = Visitor::new(&app);
    let token = app.operator_token.clone();
    op.sign_in(&[("operator_token", &token)]).await;
    assert_eq!(op.get("/console/apps").await.0, 200);
    // What a server started with another LATCHKEY_OPERATOR_TOKEN would compute.
    sqlx::query("UPDATE console_operator_sessions SET operator_fingerprint = sha256('other')")
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, _, location) = op.get("/console/apps").await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/console/sign-in"))
    );
}

#[tokio::test]
async fn the_oauth_page_shows_signing_keys_and_client_keys() {
    let (app, owner) = spawn_app_with_owner("shop").await;
    let a = owner.app_id.clone();
    let id = app.add_client(&owner, "signer", &["direct_access"]).await;
    let (_, jwk) =
        latchkey::auth::jose::generate(latchkey::domain::oauth::SigningAlg::EdDsa, "signer-key-1")
            .unwrap();
    let (_, jwk2) =
        latchkey::auth::jose::generate(latchkey::domain::oauth::SigningAlg::Es256, "signer-key-2")
            .unwrap();
    let res = app
        .by(&owner)
        .put(
            &format!("/config/{a}/clients/{id}/jwks"),
            &json!({ "keys": [jwk, jwk2] }),
        )
        .await;
    assert_eq!(res.status, 200);
    let mut v = Visitor::new(&app);
    v.sign_in_owner(&owner).await;
    let (status, html, _) = v.get(&format!("/console/apps/{a}/oauth")).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&format!("https://audit.example.test/oauth/{a}")),
        "{html}"
    );
    assert!(html.contains("600 s"), "{html}");
    // The signing key made on first use, as the JWKS publishes it.
    let jwks = app
        .anonymous()
        .get(&format!("/oauth/{a}/jwks"))
        .await
        .good();
    let kid = jwks["keys"][0]["kid"].as_str().unwrap();
    assert!(html.contains(kid), "{html}");
    assert!(html.contains("<strong>signing</strong>"), "{html}");
    // The client's registered keys, one row each; the client's anchor once.
    assert_eq!(
        html.matches(&format!("id=\"client-{id}\"")).count(),
        1,
        "{html}"
    );
    assert!(
        html.contains("signer-key-1") && html.contains("OKP Ed25519"),
        "{html}"
    );
    assert!(
        html.contains("signer-key-2") && html.contains("EC P-256"),
        "{html}"
    );
    // The client page links to it.
    let (_, html, _) = v.get(&format!("/console/apps/{a}/clients/{id}")).await;
    assert!(
        html.contains(&format!("/console/apps/{a}/oauth#client-{id}")),
        "{html}"
    );
}

/// The `value` of the hidden `version` input on a client page.
fn version_in(html: &str) -> String {
    let marker = "name=\"version\" value=\"";
    let start = html.find(marker).unwrap() + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// Edits a client from its page `rounds` times on `writer`, each time following the 303 at once
/// on `reader` (the same instance or a peer): the page shows the change every time.
async fn edits_show_on_the_next_page(writer: &TestApp, reader: &TestApp, rounds: usize) {
    let owner = writer.create_app("shop").await;
    let id = writer.make_client(&owner, "web", &[]).await.id;
    listening(&[writer, reader]).await;
    let mut v = Visitor::new(writer);
    v.sign_in_owner(&owner).await;
    let page = format!("/console/apps/{}/clients/{id}", owner.app_id);
    let (status, mut body, _) = v.get(&page).await;
    assert_eq!(status, 200);
    for i in 0..rounds {
        let name = format!("web {i}");
        let csrf = v.csrf.clone();
        let version = version_in(&body);
        let (status, _, location) = v
            .post(
                &page,
                &[
                    ("csrf_token", &csrf),
                    ("version", &version),
                    ("name", &name),
                    ("ip_whitelist", "0.0.0.0/0"),
                ],
            )
            .await;
        assert_eq!(status, 303, "round {i}");
        let location = location.unwrap();
        assert!(location.starts_with(&page), "{location}");
        let res = reader
            .request(Method::GET, &location)
            .header("cookie", v.cookie_header())
            .send()
            .await
            .unwrap();
        let status;
        (status, body, _) = v.read(res).await;
        assert_eq!(status, 200, "round {i}");
        assert!(
            body.contains(&format!("name=\"name\" value=\"{name}\"")),
            "round {i}: the page after the edit does not show it"
        );
    }
}

#[tokio::test]
async fn a_console_edit_shows_on_the_page_read_right_after_it() {
    let app = spawn_app().await;
    edits_show_on_the_next_page(&app, &app, 200).await;
}

#[tokio::test]
async fn a_console_edit_shows_on_a_peer_that_serves_the_redirect() {
    let app = spawn_app().await;
    let peer = app.spawn_peer(|_| {}).await;
    listening(&[&app, &peer]).await;
    edits_show_on_the_next_page(&app, &peer, 200).await;
}

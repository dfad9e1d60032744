//! The web console (`/console`): server-rendered pages (maud) over the same service layer as the
//! two APIs. A third thin adapter: it parses forms, calls one service method and renders the
//! answer; every rule and every audit event stays in `service`.
//!
//! Sessions: a random token in an HttpOnly, SameSite=Strict cookie (Secure over TLS), stored
//! hashed in PostgreSQL (`service::console`). Every POST carries a CSRF token derived from the
//! session cookie; the sign-in form carries one bound to a short-lived cookie of its own.
//! The pages are not part of the OpenAPI document: they are registered here, outside the API
//! route lists, and carry no `utoipa` annotations.

mod access;
mod apps;
mod audit;
mod auth;
mod clients;
mod forms;
mod oauth;
mod page;
mod review;
mod settings;

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use subtle::ConstantTimeEq;

use crate::http::request::{read_body, request_id, source_ip};
use crate::http::HttpState;
use crate::service::{
    csrf_token, AccessSchemaError, AppsError, Caller, ClientsError, Committed, Latchkey,
    RequestContext, ServiceError, SettingsError,
};

/// The session cookie.
pub const SESSION_COOKIE: &str = "lk_console";
/// The sign-in form's own CSRF cookie (before there is a session).
pub const LOGIN_COOKIE: &str = "lk_console_login";
/// The form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";

/// Every console route, under one `/console` scope.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/console")
            .route("", web::get().to(auth::home))
            .route("/", web::get().to(auth::home))
            .route("/assets/console.css", web::get().to(page::stylesheet))
            .route("/assets/console.js", web::get().to(page::script))
            .route("/sign-in", web::get().to(auth::sign_in_page))
            .route("/sign-in", web::post().to(auth::sign_in))
            .route("/sign-out", web::post().to(auth::sign_out))
            .route("/apps", web::get().to(apps::list))
            .route("/apps", web::post().to(apps::create))
            .route("/apps/{app_id}/clients", web::get().to(clients::list))
            .route("/apps/{app_id}/clients", web::post().to(clients::create))
            .route(
                "/apps/{app_id}/clients/{client_id}",
                web::get().to(clients::show),
            )
            .route(
                "/apps/{app_id}/clients/{client_id}",
                web::post().to(clients::update),
            )
            .route(
                "/apps/{app_id}/clients/{client_id}/secret",
                web::post().to(clients::rotate),
            )
            .route(
                "/apps/{app_id}/clients/{client_id}/delete",
                web::post().to(clients::delete),
            )
            .route(
                "/apps/{app_id}/clients/{client_id}/settings",
                web::post().to(settings::save_client),
            )
            .route(
                "/apps/{app_id}/clients/{client_id}/access",
                web::get().to(access::show),
            )
            .route(
                "/apps/{app_id}/clients/{client_id}/access/{type_name}/{access_type}",
                web::post().to(access::save),
            )
            .route("/apps/{app_id}/settings", web::get().to(settings::show))
            .route(
                "/apps/{app_id}/settings",
                web::post().to(settings::save_defaults),
            )
            .route("/apps/{app_id}/oauth", web::get().to(oauth::show))
            .route("/apps/{app_id}/audit", web::get().to(audit::timeline))
            .route("/apps/{app_id}/audit/export", web::get().to(audit::export))
            .route("/apps/{app_id}/review", web::get().to(review::show))
            .route(
                "/apps/{app_id}/review/export",
                web::get().to(review::export),
            )
            .default_service(web::to(not_found)),
    );
}

async fn not_found(session: Option<Console>) -> HttpResponse {
    page::error_page(
        session.as_ref(),
        StatusCode::NOT_FOUND,
        "No such page in the console.",
    )
}

fn state(req: &HttpRequest) -> Option<web::Data<HttpState>> {
    req.app_data::<web::Data<HttpState>>().cloned()
}

/// Whether the browser reached us over TLS (directly or as a proxy says), for `Secure`.
fn over_tls(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
}

/// A cookie of the console: HttpOnly, SameSite=Strict, scoped to `/console`, Secure over TLS.
fn cookie<'a>(req: &HttpRequest, name: &'a str, value: String) -> Cookie<'a> {
    Cookie::build(name, value)
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(over_tls(req))
        .finish()
}

fn removal<'a>(req: &HttpRequest, name: &'a str) -> Cookie<'a> {
    let mut c = cookie(req, name, String::new());
    c.make_removal();
    c
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_owned()))
        .finish()
}

/// A signed-in console user: the request context the service gets, and the page's CSRF token.
pub struct Console {
    pub ctx: RequestContext,
    pub service: Latchkey,
    pub csrf: String,
    /// The last revision this request's writes committed (see [`Console::wrote`]).
    written: std::cell::RefCell<Option<(String, i64)>>,
    /// Whether the browser reached us over TLS (the cookies' `Secure`).
    over_tls: bool,
}

/// The cookie that carries a write's revision across the console's redirect:
/// `<app_id>.<revision>`, read by the page the redirect leads to (see [`read_at_least`]).
pub const REVISION_COOKIE: &str = "lk_console_rev";

impl Console {
    /// The outcome of a write. On success its revisions are applied to this instance's
    /// snapshots (what this request reads next shows the write) and kept for the answer:
    /// [`Console::see_other`] carries the last one to the next page, and [`Console::stamp`]
    /// answers it as `X-Latchkey-Revision`.
    pub fn wrote<T, E>(&self, outcome: Result<Committed<T>, E>) -> Result<T, E> {
        let committed = outcome?;
        self.service.apply_revisions(&committed.revisions);
        if let Some(last) = committed.revisions.iter().last() {
            *self.written.borrow_mut() = Some((last.app_id.to_owned(), last.seq));
        }
        Ok(committed.value)
    }

    /// `X-Latchkey-Revision` on a page answering a write.
    pub fn stamp(&self, mut res: HttpResponse) -> HttpResponse {
        if let Some((_, revision)) = &*self.written.borrow() {
            res.headers_mut().insert(
                crate::http::revision::REVISION_HEADER,
                header::HeaderValue::from(*revision),
            );
        }
        res
    }

    /// 303 to `to` after a write. The revision goes along in a cookie ([`REVISION_COOKIE`]),
    /// so the page there is read at least as fresh as the write whichever instance serves it
    /// (the address stays the one the page has).
    pub fn see_other(&self, to: &str) -> HttpResponse {
        let mut res = self.stamp(redirect(to));
        if let Some((app_id, revision)) = &*self.written.borrow() {
            let c = Cookie::build(REVISION_COOKIE, format!("{app_id}.{revision}"))
                .path("/console")
                .http_only(true)
                .same_site(SameSite::Strict)
                .secure(self.over_tls)
                .max_age(actix_web::cookie::time::Duration::minutes(5))
                .finish();
            // A cookie built here always renders as a header value.
            let _ = res.add_cookie(&c);
        }
        res
    }

    pub fn is_operator(&self) -> bool {
        self.ctx.caller.is_operator()
    }

    /// The application a client session belongs to (`None` for the operator).
    pub fn own_app(&self) -> Option<&str> {
        match &self.ctx.caller {
            Caller::Client { app_id, .. } => Some(app_id.as_str()),
            Caller::Operator => None,
        }
    }

    /// Who is signed in, for the header.
    pub fn who(&self) -> String {
        match &self.ctx.caller {
            Caller::Operator => format!("{} (operator)", self.service.operator_name()),
            Caller::Client { client_id, .. } => format!("client {client_id}"),
        }
    }
}

type Fut<T> = Pin<Box<dyn Future<Output = Result<T, ConsoleError>>>>;

impl FromRequest for Console {
    type Error = ConsoleError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req).ok_or(ConsoleError::SignedOut)?;
            let cookie = req
                .cookie(SESSION_COOKIE)
                .map(|c| c.value().to_owned())
                .ok_or(ConsoleError::SignedOut)?;
            let source = source_ip(&req);
            let caller = state
                .service
                .console_caller(&cookie, source, state.console_idle)
                .await?
                .ok_or(ConsoleError::SignedOut)?;
            Ok(Console {
                ctx: RequestContext {
                    request_id: request_id(&req),
                    source_ip: Some(source),
                    caller,
                    read_at_least: read_at_least(&req),
                    clock: state.service.clock().clone(),
                },
                service: state.service.clone(),
                csrf: csrf_token(&cookie),
                written: Default::default(),
                over_tls: over_tls(&req),
            })
        })
    }
}

/// The revision a page of an application is read at least as fresh as: the one the last
/// write's redirect left in [`REVISION_COOKIE`], when it is of the application in the path.
/// Anything else is ignored (the page is then read as fresh as any other). A forged value can
/// only make this browser's own reads go to the database.
fn read_at_least(req: &HttpRequest) -> Option<i64> {
    let cookie = req.cookie(REVISION_COOKIE)?;
    let (app_id, revision) = cookie.value().rsplit_once('.')?;
    (req.match_info().get("app_id") == Some(app_id))
        .then(|| revision.parse::<i64>().ok())
        .flatten()
        .filter(|r| *r > 0)
}

/// `?notice=<key>` on the page a redirect leads to: which confirmation the page shows.
#[derive(serde::Deserialize, Default)]
pub struct NoticeQuery {
    #[serde(default)]
    notice: String,
}

impl NoticeQuery {
    /// The text of the notice, looked up in the page's `(key, text)` table; none when the key
    /// is absent or unknown (the query is the caller's, never echoed).
    pub fn text(&self, known: &[(&str, &'static str)]) -> Option<&'static str> {
        known
            .iter()
            .find(|(key, _)| *key == self.notice)
            .map(|(_, text)| *text)
    }
}

/// A submitted form (`application/x-www-form-urlencoded`, at most 64 KiB), as ordered pairs:
/// checkboxes repeat their name.
pub struct Form(Vec<(String, String)>);

impl Form {
    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The non-empty lines of a textarea, trimmed.
    pub fn lines(&self, name: &str) -> Vec<String> {
        self.get(name)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn csrf_matches(&self, expected: &str) -> bool {
        let given = self.get(CSRF_FIELD);
        !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
    }
}

impl FromRequest for Form {
    type Error = ConsoleError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let is_form = crate::http::request::content_type(&req)
                .is_some_and(|m| crate::http::request::is_form_urlencoded(&m));
            let body = read_body(&req, payload)
                .await
                .map_err(|_| ConsoleError::BadForm)?;
            if !is_form {
                return Err(ConsoleError::BadForm);
            }
            Ok(Form(form_urlencoded::parse(&body).into_owned().collect()))
        })
    }
}

/// A state-changing request: a live session and a form whose CSRF token is the session's.
pub struct Posted {
    pub session: Console,
    pub form: Form,
}

impl FromRequest for Posted {
    type Error = ConsoleError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let console = Console::from_request(req, &mut Payload::None);
        let form = Form::from_request(req, payload);
        Box::pin(async move {
            let session = console.await?;
            let form = form.await?;
            if !form.csrf_matches(&session.csrf) {
                return Err(ConsoleError::Csrf);
            }
            Ok(Posted { session, form })
        })
    }
}

/// Why a console request ends on an error page (or back at sign-in).
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No live session: go and sign in.
    #[error("Please sign in.")]
    SignedOut,
    #[error(
        "This form has expired or did not come from this console. Reload the page and try again."
    )]
    Csrf,
    #[error("The form could not be read.")]
    BadForm,
    #[error("{0}")]
    Service(#[from] ServiceError),
    /// A client use case's own refusal (its shared ones arrive as `Service`).
    #[error("{0}")]
    Clients(ClientsError),
    /// A settings use case's own refusal.
    #[error("{0}")]
    Settings(SettingsError),
}

// Shared refusals are mapped in one place, `service_status`.
crate::http::from_area_error!(ConsoleError: ClientsError => Clients, SettingsError => Settings);

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignedOut => StatusCode::SEE_OTHER,
            ConsoleError::Csrf => StatusCode::FORBIDDEN,
            ConsoleError::BadForm => StatusCode::BAD_REQUEST,
            ConsoleError::Service(e) => service_status(e),
            ConsoleError::Clients(e) => crate::http::config::clients_status(e),
            ConsoleError::Settings(e) => crate::http::config::settings_status(e),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ConsoleError::SignedOut => redirect("/console/sign-in"),
            other => page::error_page(None, other.status_code(), &message(other)),
        }
    }
}

/// The status of a refused service call: the Config API's, except that naming another
/// application is 403 here (the session is valid, the application is not its own).
fn service_status(e: &ServiceError) -> StatusCode {
    match e {
        ServiceError::Unauthenticated => StatusCode::FORBIDDEN,
        other => crate::http::config::status_of(other),
    }
}

/// What the page says: the service's own message (the same text as the APIs).
fn message(e: &ConsoleError) -> String {
    match e {
        ConsoleError::Service(ServiceError::Unauthenticated) => {
            "This session cannot manage that application.".to_owned()
        }
        other => other.to_string(),
    }
}

/// A refused action shown on the page it came from: status and message.
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
    /// Seconds before another try makes sense (a sign-in lock-out).
    pub retry_after: Option<u64>,
}

/// An area's refusal on the page it came from: its shared refusals as any other, its own with
/// the status the Config API answers them with (the area's `<area>_status`).
macro_rules! refusal_of_area {
    ($($area:ident => $status:path),*) => {$(
        impl From<$area> for Refusal {
            fn from(e: $area) -> Self {
                match e {
                    $area::Service(e) => e.into(),
                    own => Refusal {
                        status: $status(&own),
                        message: own.to_string(),
                        retry_after: None,
                    },
                }
            }
        }
    )*};
}

refusal_of_area!(
    AppsError => crate::http::config::apps_status,
    ClientsError => crate::http::config::clients_status,
    SettingsError => crate::http::config::settings_status,
    AccessSchemaError => crate::http::config::access_schema_status
);

impl From<ServiceError> for Refusal {
    fn from(e: ServiceError) -> Self {
        let e = ConsoleError::Service(e);
        Refusal {
            status: e.status_code(),
            message: message(&e),
            retry_after: None,
        }
    }
}

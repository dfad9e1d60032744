//! HTTP adapters. Each surface parses input, calls one service method and maps its typed error
//! into its own envelope; no rule lives here.

pub mod config;
pub mod console;
pub mod metrics;
pub mod oauth;
pub mod openapi;
pub mod ops;
pub mod registration;
pub mod request;
pub mod revision;
pub mod routes;
pub mod schemas;
pub mod wire;

use actix_web::web;
use ipnet::IpNet;

use crate::service::Latchkey;

/// An area's error (`ClientsError`, `AppsError`…) into a surface's error type: the area's
/// shared refusals (`Service(e)`) into the surface's `Service`, so each surface maps a shared
/// refusal in one place whichever area made it, and its own into the area's variant.
macro_rules! from_area_error {
    ($surface:ident: $($area:ident => $variant:ident),* $(,)?) => {$(
        impl From<$area> for $surface {
            fn from(e: $area) -> Self {
                match e {
                    $area::Service(e) => $surface::Service(e),
                    own => $surface::$variant(own),
                }
            }
        }
    )*};
}
pub(crate) use from_area_error;

/// Seconds an outage answer (503, or the Registration API's unavailable envelope) tells the
/// caller to wait before trying again (`Retry-After`): a PostgreSQL failover takes seconds.
pub const RETRY_AFTER_SECS: u32 = 2;

/// `Retry-After` for an outage answer.
pub fn retry_after(res: &mut actix_web::HttpResponse) {
    res.headers_mut().insert(
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from(RETRY_AFTER_SECS),
    );
}

/// Largest request body accepted on any route.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler can reach.
pub struct HttpState {
    pub service: Latchkey,
    pub trusted_proxies: Vec<IpNet>,
    pub metrics: std::sync::Arc<metrics::Metrics>,
    /// Longest time to receive a request body (`LATCHKEY_BODY_TIMEOUT_SECS`).
    pub body_timeout: std::time::Duration,
    /// Web console sessions end after this long without a request.
    pub console_idle: std::time::Duration,
}

/// All routes of the server: the route table (without `/metrics` when it has a listener of its
/// own) and the Swagger UI.
pub fn configure(cfg: &mut web::ServiceConfig, with_metrics: bool) {
    routes::configure(cfg, |r| with_metrics || r.path != metrics::PATH);
    openapi::routes(cfg);
    // The console's HTML pages: one scope of their own, not API routes (not in the table).
    console::routes(cfg);
}

//! HTTP adapters. Each surface parses input, calls one service method and maps its typed error
//! into its own envelope; no rule lives here.

pub mod config;
pub mod console;
pub mod metrics;
pub mod mutating;
pub mod openapi;
pub mod ops;
pub mod registration;
pub mod request;
pub mod revision;

use actix_web::web;
use ipnet::IpNet;

use crate::service::Latchkey;

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

/// All routes of the server.
pub fn routes(cfg: &mut web::ServiceConfig) {
    ops::routes(cfg);
    openapi::routes(cfg);
    config::routes(cfg);
    registration::routes(cfg);
    registration::entity_types::routes(cfg);
    console::routes(cfg);
}

//! HTTP adapters. Each surface parses input, calls one service method and maps its typed error
//! into its own envelope; no rule lives here.

pub mod config;
pub mod metrics;
pub mod mutating;
pub mod openapi;
pub mod ops;
pub mod registration;
pub mod registration_entity;
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
}

/// All routes of the server.
pub fn routes(cfg: &mut web::ServiceConfig) {
    ops::routes(cfg);
    openapi::routes(cfg);
    config::routes(cfg);
    registration::routes(cfg);
    registration_entity::routes(cfg);
}

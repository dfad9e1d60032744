//! Latchkey: self-hosted, multi-tenant management of API clients and their permissions,
//! compatible with the API-client management of Akamai Identity Cloud (Janrain Capture).
//!
//! Data flows one way: HTTP adapter → service → (domain rules, store) → PostgreSQL.

pub mod allocator;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod domain;
pub mod embedded_pg;
pub mod http;
pub mod service;
pub mod settings;
pub mod sinks;
pub mod startup;
pub mod store;
pub mod telemetry;

//! The wire types: the bodies the HTTP adapters answer that the command line prints too, built
//! from what the service returns (domain and service types; neither builds JSON). Each is
//! `Serialize`, and `ToSchema` where an HTTP route answers it, so the OpenAPI document
//! describes the very type that is sent. `http::config` (and the CLI, `src/cli`, `main.rs`)
//! use these; a body only one surface answers stays with that surface's handlers.

pub mod apps;
pub mod audit;
pub mod entitlements;
pub mod sinks;
pub mod staging;

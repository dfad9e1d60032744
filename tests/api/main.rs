//! Black-box HTTP tests: each test starts the real server on a fresh PostgreSQL database.

mod helpers;

mod audit_completeness;
mod audit_export;
mod audit_query;
mod audit_retention;
mod audit_util;
mod audit_verify;

mod config_apps;
mod config_clients;
mod config_rules;
mod security;

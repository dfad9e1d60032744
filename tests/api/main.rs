//! Black-box HTTP tests: each test starts the real server on a fresh PostgreSQL database.

// Tests (and their helpers) may panic on the unexpected; the crate's lints deny it elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod kit;

mod access_check;
mod access_schemas;
mod app_snapshot_fixture;
mod audit_completeness;
mod audit_entitlements;
mod audit_evidence;
mod audit_export;
mod audit_fixture;
mod audit_query;
mod audit_retention;
mod audit_util;
mod audit_verify;

mod cli;
mod config_apps;
mod config_clients;
mod config_rules;
mod config_settings;
mod console;
mod entity_types;
mod failover;
mod hardening;
mod hotpath;
mod malformed_ids;
mod migration;
mod oauth;
mod operations;
mod registration_clients;
mod registration_entity;
mod registration_settings;
mod registration_support;
mod replica;
mod sealing;
mod security;
mod signed_requests;
mod sinks;
mod sqlx_offline;
mod staging;

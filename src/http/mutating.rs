//! The routes that change state. Each successful call writes its audit event(s) in the same
//! transaction as the change; `tests/api/audit_completeness.rs` proves it for every entry, and
//! fails when the server answers a state-changing method on a route missing from this list.

/// `(method, path template)` of every route that changes state. Add a route here, and its
/// sample call to the table in `tests/api/audit_completeness.rs`, when you add one to the server.
pub const MUTATING_ROUTES: &[(&str, &str)] = &[
    ("POST", "/apps"),
    ("POST", "/config/{app_id}/clients"),
    ("PUT", "/config/{app_id}/clients/{client_id}"),
    ("DELETE", "/config/{app_id}/clients/{client_id}"),
    ("PUT", "/config/{app_id}/clients/{client_id}/secret"),
];

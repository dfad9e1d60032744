//! The JSON Configuration API (`/config/{appId}/…`) and the operator's `/apps` routes.

pub(crate) mod access;
pub(crate) mod apps;
pub(crate) mod audit;
pub(crate) mod changes;
pub(crate) mod clients;
pub(crate) mod entity_types;
mod error;
mod extract;
mod fields;
pub(crate) mod settings;

use actix_web::HttpResponse;

pub use apps::app_json;
pub use error::{ConfigError, ErrorBody};
pub use extract::{ConfigRequest, JsonBody, OperatorRequest};

/// A method the path does not serve.
pub async fn method_not_allowed() -> HttpResponse {
    error::error_body(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed.",
    )
}

/// Fallback for paths no route serves.
pub async fn not_found() -> HttpResponse {
    error::error_body(actix_web::http::StatusCode::NOT_FOUND, "Not found.")
}

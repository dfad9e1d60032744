//! The JSON Configuration API (`/config/{appId}/…`) and the operator's `/apps` routes.

pub(crate) mod access;
pub(crate) mod apps;
pub(crate) mod audit;
pub(crate) mod changes;
pub(crate) mod clients;
pub(crate) mod entitlements;
pub(crate) mod entity_types;
pub(crate) mod error;
pub(crate) mod evidence;
mod extract;
pub(crate) mod fields;
pub(crate) mod settings;
pub(crate) mod sinks;
pub(crate) mod staging;

use actix_web::{web, HttpResponse};

pub(crate) use audit::stream_response;
pub use error::{
    access_schema_status, apps_status, clients_status, settings_status, status_of, ConfigError,
    ErrorBody,
};
pub use extract::{ConfigRequest, JsonBody, OperatorRequest};

/// The fallback of a resource for the methods it does not serve: 405 with an `Allow` header
/// naming those it does (`allow`, e.g. `"GET, PUT"`).
pub fn method_not_allowed(allow: actix_web::http::header::HeaderValue) -> actix_web::Route {
    web::to(move || {
        let allow = allow.clone();
        async move {
            let mut res = error::error_body(
                actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed.",
            );
            res.headers_mut()
                .insert(actix_web::http::header::ALLOW, allow);
            res
        }
    })
}

/// Fallback for paths no route serves.
pub async fn not_found() -> HttpResponse {
    error::error_body(actix_web::http::StatusCode::NOT_FOUND, "Not found.")
}

//! The JSON Configuration API (`/config/{appId}/…`) and the operator's `/apps` routes.

mod access;
mod apps;
mod audit;
mod changes;
mod clients;
mod entity_types;
mod error;
mod extract;
mod fields;
mod settings;

use actix_web::{web, HttpResponse};

pub use apps::app_json;
pub(crate) use audit::stream_response;
pub use error::{status_of, ConfigError};
pub use extract::{ConfigRequest, JsonBody, OperatorRequest};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/apps")
            .route(web::get().to(apps::list))
            .route(web::post().to(apps::create))
            .default_service(method_not_allowed("GET, POST")),
    )
    .service(
        web::resource("/apps/{app_id}")
            .route(web::get().to(apps::get))
            .route(web::patch().to(apps::update))
            .default_service(method_not_allowed("GET, PATCH")),
    )
    .service(
        web::resource("/config/{app_id}/clients")
            .route(web::get().to(clients::list))
            .route(web::post().to(clients::create))
            .default_service(method_not_allowed("GET, POST")),
    )
    .service(
        web::resource("/config/{app_id}/clients/{client_id}")
            .route(web::get().to(clients::get))
            .route(web::put().to(clients::replace))
            .route(web::delete().to(clients::delete))
            .default_service(method_not_allowed("GET, PUT, DELETE")),
    )
    .service(
        web::resource("/config/{app_id}/clients/{client_id}/secret")
            .route(web::put().to(clients::rotate_secret))
            .default_service(method_not_allowed("PUT")),
    );
    settings::routes(cfg);
    entity_types::routes(cfg);
    access::routes(cfg);
    audit::routes(cfg);
    changes::routes(cfg);
}

/// The fallback of a resource for the methods it does not serve: 405 with an `Allow` header
/// naming those it does (`allow`, e.g. `"GET, PUT"`).
pub fn method_not_allowed(allow: &'static str) -> actix_web::Route {
    web::to(move || async move {
        let mut res = error::error_body(
            actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed.",
        );
        res.headers_mut().insert(
            actix_web::http::header::ALLOW,
            actix_web::http::header::HeaderValue::from_static(allow),
        );
        res
    })
}

/// Fallback for paths no route serves.
pub async fn not_found() -> HttpResponse {
    error::error_body(actix_web::http::StatusCode::NOT_FOUND, "Not found.")
}

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
mod staging;

use actix_web::{web, HttpResponse};

pub use apps::app_json;
pub use error::ConfigError;
pub use extract::{ConfigRequest, JsonBody, OperatorRequest};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/apps")
            .route(web::get().to(apps::list))
            .route(web::post().to(apps::create))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/apps/{app_id}")
            .route(web::get().to(apps::get))
            .route(web::patch().to(apps::update))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/config/{app_id}/clients")
            .route(web::get().to(clients::list))
            .route(web::post().to(clients::create))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/config/{app_id}/clients/{client_id}")
            .route(web::get().to(clients::get))
            .route(web::put().to(clients::replace))
            .route(web::delete().to(clients::delete))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/config/{app_id}/clients/{client_id}/secret")
            .route(web::put().to(clients::rotate_secret))
            .default_service(web::to(method_not_allowed)),
    );
    settings::routes(cfg);
    entity_types::routes(cfg);
    access::routes(cfg);
    audit::routes(cfg);
    changes::routes(cfg);
    staging::routes(cfg);
}

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

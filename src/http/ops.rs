//! Operational endpoints: liveness and readiness.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::HttpState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

/// The process is up and serving.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The database answers and every migration this build knows is applied.
async fn readyz(state: web::Data<HttpState>) -> HttpResponse {
    match crate::startup::pending_migrations(state.service.pool()).await {
        Ok(0) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Ok(n) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "migrations pending", "pending": n })),
        Err(_) => {
            HttpResponse::ServiceUnavailable().json(json!({ "status": "database unavailable" }))
        }
    }
}

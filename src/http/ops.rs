//! Operational endpoints: liveness and readiness.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::HttpState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/docs", web::get().to(docs));
}

/// The interactive docs live under `/docs/`; `/docs` is where people type.
async fn docs() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

/// The process is up and serving.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Longest a readiness check waits for the database: a load balancer probing it must hear
/// "not ready" quickly during an outage, not after the pool's 3 s acquire timeout.
const READY_CHECK_TIMEOUT: Duration = Duration::from_millis(800);

/// The database answers and every migration this build knows is applied.
async fn readyz(state: web::Data<HttpState>) -> HttpResponse {
    let check = crate::startup::pending_migrations(state.service.pool());
    match tokio::time::timeout(READY_CHECK_TIMEOUT, check)
        .await
        .unwrap_or(Err(sqlx::Error::PoolTimedOut))
    {
        Ok(0) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Ok(n) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "migrations pending", "pending": n })),
        Err(_) => {
            HttpResponse::ServiceUnavailable().json(json!({ "status": "database unavailable" }))
        }
    }
}

//! Operational endpoints: liveness and readiness.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::HttpState;

/// The interactive docs live under `/docs/`; `/docs` is where people type.
pub async fn docs() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

/// What `/healthz` and `/readyz` answer.
#[derive(Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "ready")]
    status: &'static str,
    /// Migrations this build knows that the database has not applied (`migrations pending`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pending: Option<usize>,
}

fn status(status: &'static str) -> Status {
    Status {
        status,
        pending: None,
    }
}

/// The process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Status, description = "`{\"status\": \"ok\"}`")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(status("ok"))
}

/// Longest a readiness check waits for the database: a load balancer probing it must hear
/// "not ready" quickly during an outage, not after the pool's 3 s acquire timeout.
const READY_CHECK_TIMEOUT: Duration = Duration::from_millis(800);

/// The database answers and every migration this build knows is applied.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Status, description = "`ready`"),
        (status = 503, body = Status, description = "`migrations pending` (with `pending`) or `database unavailable`")))]
pub async fn readyz(state: web::Data<HttpState>) -> HttpResponse {
    let check = state.service.pending_migrations();
    match tokio::time::timeout(READY_CHECK_TIMEOUT, check)
        .await
        .unwrap_or(Err(sqlx::Error::PoolTimedOut))
    {
        Ok(0) => HttpResponse::Ok().json(status("ready")),
        Ok(n) => HttpResponse::ServiceUnavailable().json(Status {
            status: "migrations pending",
            pending: Some(n),
        }),
        Err(_) => HttpResponse::ServiceUnavailable().json(status("database unavailable")),
    }
}

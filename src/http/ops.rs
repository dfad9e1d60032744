//! Operational endpoints: liveness and readiness.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::HttpState;

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

/// The database answers and every migration this build knows is applied.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Status, description = "`ready`"),
        (status = 503, body = Status, description = "`migrations pending` (with `pending`) or `database unavailable`")))]
pub async fn readyz(state: web::Data<HttpState>) -> HttpResponse {
    match crate::startup::pending_migrations(state.service.pool()).await {
        Ok(0) => HttpResponse::Ok().json(status("ready")),
        Ok(n) => HttpResponse::ServiceUnavailable().json(Status {
            status: "migrations pending",
            pending: Some(n),
        }),
        Err(_) => HttpResponse::ServiceUnavailable().json(status("database unavailable")),
    }
}

//! The operator's staging toolkit calls (issue #13), next to `/apps/{app_id}`:
//!
//! | call | does |
//! |---|---|
//! | `POST /apps/{app_id}/apply?dryRun=&prune=` | apply a fixture (JSON or YAML body) |
//! | `GET /apps/{app_id}/export?format=yaml&ids=false` | the application as a fixture |
//! | `GET /apps/{app_id}/snapshots` | list snapshots |
//! | `PUT /apps/{app_id}/snapshots/{name}` | save (replace) a snapshot |
//! | `DELETE /apps/{app_id}/snapshots/{name}` | delete one |
//! | `POST /apps/{app_id}/snapshots/{name}/restore` | restore one |

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::{method_not_allowed, ConfigError, OperatorRequest};
use crate::domain::fixture::{self, FixtureError, Format};
use crate::http::request::{read_body, BodyError};
use crate::service::{ApplyOptions, ServiceError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/apps/{app_id}/apply")
            .route(web::post().to(apply))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/apps/{app_id}/export")
            .route(web::get().to(export))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/apps/{app_id}/snapshots")
            .route(web::get().to(list_snapshots))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/apps/{app_id}/snapshots/{name}")
            .route(web::put().to(save_snapshot))
            .route(web::delete().to(delete_snapshot))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/apps/{app_id}/snapshots/{name}/restore")
            .route(web::post().to(restore_snapshot))
            .default_service(web::to(method_not_allowed)),
    );
}

/// A query parameter: absent → `None`; `true`/`false` (or `1`/`0`) else 400 naming it.
fn query_flag(req: &HttpRequest, name: &str) -> Result<Option<bool>, ConfigError> {
    let value = form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned());
    match value.as_deref() {
        None => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(_) => Err(ServiceError::from(FixtureError::new(name, "Not a valid boolean.")).into()),
    }
}

/// `POST /apps/{app_id}/apply`: the body is the document (`application/json`, or YAML with
/// `application/yaml`); at most 64 KiB like every body (larger fixtures: `latchkey apply`).
async fn apply(
    r: OperatorRequest,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ConfigError> {
    let body = read_body(&req, payload.into_inner())
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => ConfigError::BodyTooLarge,
            BodyError::Unreadable => ConfigError::InvalidJson,
        })?;
    let text = std::str::from_utf8(&body).map_err(|_| ConfigError::InvalidJson)?;
    let doc: Value = fixture::parse_text(text).map_err(ServiceError::from)?;
    let options = ApplyOptions {
        dry_run: query_flag(&req, "dryRun")?.unwrap_or(false),
        prune: query_flag(&req, "prune")?.unwrap_or(false),
    };
    let report = r
        .service
        .apply_fixture(&r.ctx, &path.into_inner(), &doc, options)
        .await?;
    Ok(HttpResponse::Ok().json(report.to_json()))
}

/// `GET /apps/{app_id}/export`: JSON, or YAML with `format=yaml`; `ids=false` leaves out `_id`.
async fn export(
    r: OperatorRequest,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ConfigError> {
    let format = match form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "format")
        .map(|(_, v)| v.into_owned())
    {
        None => Format::Json,
        Some(f) => f.parse::<Format>().map_err(|_| {
            ServiceError::from(FixtureError::new(
                "format",
                "Not a valid format (json or yaml).",
            ))
        })?,
    };
    let with_ids = query_flag(&req, "ids")?.unwrap_or(true);
    let doc = r
        .service
        .export_fixture(&r.ctx, &path.into_inner(), with_ids)
        .await?;
    let text = fixture::to_text(&doc, format).map_err(ServiceError::from)?;
    let content_type = match format {
        Format::Json => "application/json",
        Format::Yaml => "application/yaml",
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .body(text))
}

async fn list_snapshots(
    r: OperatorRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ConfigError> {
    let list = r.service.list_snapshots(&r.ctx, &path.into_inner()).await?;
    let body: Vec<Value> = list.iter().map(|s| s.to_json()).collect();
    Ok(HttpResponse::Ok().json(body))
}

async fn save_snapshot(
    r: OperatorRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConfigError> {
    let (app_id, name) = path.into_inner();
    let info = r.service.save_snapshot(&r.ctx, &app_id, &name).await?;
    Ok(HttpResponse::Ok().json(info.to_json()))
}

async fn delete_snapshot(
    r: OperatorRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConfigError> {
    let (app_id, name) = path.into_inner();
    r.service.delete_snapshot(&r.ctx, &app_id, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn restore_snapshot(
    r: OperatorRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConfigError> {
    let (app_id, name) = path.into_inner();
    let report = r.service.restore_snapshot(&r.ctx, &app_id, &name).await?;
    Ok(HttpResponse::Ok().json(report.to_json()))
}

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

use super::{ConfigError, ErrorBody, OperatorRequest};
use crate::domain::fixture::{self, FixtureError, Format};
use crate::domain::ids::{AppId, Named};
use crate::http::request::{read_body, BodyError};
use crate::http::wire::staging::{ApplyReportBody, FixtureDocument, RestoreReportBody, Snapshot};
use crate::service::{ApplyOptions, StagingError};

/// A query parameter: absent → `None`; `true`/`false` (or `1`/`0`) else 400 naming it.
fn query_flag(req: &HttpRequest, name: &str) -> Result<Option<bool>, ConfigError> {
    let value = form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned());
    match value.as_deref() {
        None => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(_) => Err(StagingError::from(FixtureError::new(name, "Not a valid boolean.")).into()),
    }
}

/// `POST /apps/{app_id}/apply`: the body is the document (`application/json`, or YAML with
/// `application/yaml`); at most 64 KiB like every body (larger fixtures: `latchkey apply`).
#[utoipa::path(post, path = "/apps/{appId}/apply", tag = "staging",
    request_body(content = FixtureDocument, content_type = "application/json"),
    params(("appId" = String, Path), ("dryRun" = Option<bool>, Query), ("prune" = Option<bool>, Query)),
    responses((status = 200, body = ApplyReportBody),
        (status = 409, body = ErrorBody, description = "A pinned client id is taken in another application")))]
pub async fn apply(
    r: OperatorRequest,
    req: HttpRequest,
    path: web::Path<Named<AppId>>,
    payload: web::Payload,
) -> Result<HttpResponse, ConfigError> {
    let body = read_body(&req, payload.into_inner())
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => ConfigError::BodyTooLarge,
            BodyError::Unreadable => ConfigError::InvalidJson,
            BodyError::TimedOut => ConfigError::BodyTimeout,
        })?;
    let text = std::str::from_utf8(&body).map_err(|_| ConfigError::InvalidJson)?;
    let doc: Value = fixture::parse_text(text).map_err(StagingError::from)?;
    let options = ApplyOptions {
        dry_run: query_flag(&req, "dryRun")?.unwrap_or(false),
        prune: query_flag(&req, "prune")?.unwrap_or(false),
    };
    let report = r
        .service
        .staging()
        .apply_fixture(&r.ctx, &path.into_inner(), &doc, options)
        .await?;
    Ok(r.answer(report, |report| {
        HttpResponse::Ok().json(ApplyReportBody::new(report))
    }))
}

/// `GET /apps/{app_id}/export`: JSON, or YAML with `format=yaml`; `ids=false` leaves out `_id`.
#[utoipa::path(get, path = "/apps/{appId}/export", tag = "staging",
    params(("appId" = String, Path),
        ("format" = Option<String>, Query, description = "json (default) or yaml"),
        ("ids" = Option<bool>, Query, description = "false: leave out the clients' _id")),
    responses((status = 200, description = "The application as a fixture document: JSON, or YAML with `format=yaml`",
            content((FixtureDocument = "application/json"), (FixtureDocument = "application/yaml"))),
        (status = 400, body = ErrorBody)))]
pub async fn export(
    r: OperatorRequest,
    req: HttpRequest,
    path: web::Path<Named<AppId>>,
) -> Result<HttpResponse, ConfigError> {
    let format = match form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "format")
        .map(|(_, v)| v.into_owned())
    {
        None => Format::Json,
        Some(f) => f.parse::<Format>().map_err(|_| {
            StagingError::from(FixtureError::new(
                "format",
                "Not a valid format (json or yaml).",
            ))
        })?,
    };
    let with_ids = query_flag(&req, "ids")?.unwrap_or(true);
    let app = r
        .service
        .staging()
        .export_fixture(&r.ctx, &path.into_inner())
        .await?;
    let doc = FixtureDocument::export(app, with_ids);
    let text = fixture::to_text(&doc, format).map_err(StagingError::from)?;
    let content_type = match format {
        Format::Json => "application/json",
        Format::Yaml => "application/yaml",
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .body(text))
}

#[utoipa::path(get, path = "/apps/{appId}/snapshots", tag = "staging",
    params(("appId" = String, Path)),
    responses((status = 200, body = Vec<Snapshot>)))]
pub async fn list_snapshots(
    r: OperatorRequest,
    path: web::Path<Named<AppId>>,
) -> Result<HttpResponse, ConfigError> {
    let list = r
        .service
        .staging()
        .list_snapshots(&r.ctx, &path.into_inner())
        .await?;
    let body: Vec<Snapshot> = list.into_iter().map(Snapshot::new).collect();
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(put, path = "/apps/{appId}/snapshots/{name}", tag = "staging",
    params(("appId" = String, Path), ("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$")),
    responses((status = 200, body = Snapshot),
        (status = 400, body = ErrorBody)))]
pub async fn save_snapshot(
    r: OperatorRequest,
    path: web::Path<(Named<AppId>, String)>,
) -> Result<HttpResponse, ConfigError> {
    let (app_id, name) = path.into_inner();
    let info = r
        .service
        .staging()
        .save_snapshot(&r.ctx, &app_id, &name)
        .await?;
    Ok(r.answer(info, |info| HttpResponse::Ok().json(Snapshot::new(info))))
}

#[utoipa::path(delete, path = "/apps/{appId}/snapshots/{name}", tag = "staging",
    params(("appId" = String, Path), ("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$")),
    responses((status = 204, description = "Deleted"),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "No such application or snapshot")))]
pub async fn delete_snapshot(
    r: OperatorRequest,
    path: web::Path<(Named<AppId>, String)>,
) -> Result<HttpResponse, ConfigError> {
    let (app_id, name) = path.into_inner();
    let done = r
        .service
        .staging()
        .delete_snapshot(&r.ctx, &app_id, &name)
        .await?;
    Ok(r.answer(done, |()| HttpResponse::NoContent().finish()))
}

#[utoipa::path(post, path = "/apps/{appId}/snapshots/{name}/restore", tag = "staging",
    params(("appId" = String, Path), ("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$")),
    responses((status = 200, body = RestoreReportBody),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "No such application or snapshot")))]
pub async fn restore_snapshot(
    r: OperatorRequest,
    path: web::Path<(Named<AppId>, String)>,
) -> Result<HttpResponse, ConfigError> {
    let (app_id, name) = path.into_inner();
    let report = r
        .service
        .staging()
        .restore_snapshot(&r.ctx, &app_id, &name)
        .await?;
    Ok(r.answer(report, |report| {
        HttpResponse::Ok().json(RestoreReportBody::new(report))
    }))
}

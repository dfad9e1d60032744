//! Access reviews over HTTP (docs/audit.md, "Access reviews"):
//!
//! * `GET /config/{appId}/audit/entitlements?at=`: every client at a moment, as it was (JSON,
//!   or one CSV row per client with `format=csv`);
//! * `GET /config/{appId}/audit/entitlements/changes?from=&to=`: what changed between two.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

use super::evidence::{get, params};
use super::{ConfigError, ConfigRequest, ErrorBody};
use crate::domain::audit_query::{parse_time, AuditInputError};
use crate::http::wire::entitlements::{
    changes_csv, entitlements_csv, ChangesBody, EntitlementsBody,
};
use crate::service::ServiceError;

/// JSON (the default) or CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

fn format_of(p: &[(&'static str, String)]) -> Result<Format, ServiceError> {
    match get(p, "format") {
        None | Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(_) => Err(AuditInputError::BadReviewFormat.into()),
    }
}

fn time(
    p: &[(&'static str, String)],
    name: &'static str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ServiceError> {
    Ok(get(p, name).map(|t| parse_time(name, t)).transpose()?)
}

fn csv(body: String, filename: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8; header=present")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(body)
}

/// A file name part from a time: `2024-06-30T00-00-00Z`.
fn file_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H-%M-%SZ").to_string()
}

/// Every client of the application at `at` (default: now), exactly as it was: features, IP
/// allow list and access schemas, reconstructed from the audit log. A moment before the
/// retained history is refused, naming the earliest one answered for.
#[utoipa::path(get, path = "/config/{appId}/audit/entitlements", tag = "audit",
    params(("appId" = String, Path),
        ("at" = Option<String>, Query, format = DateTime, description = "RFC 3339 (or a date, midnight UTC); default now; not in the future"),
        ("format" = Option<String>, Query, description = "`json` (default) or `csv`: one row per client, lists joined with a space, access schemas as `<type>:<read|write>=<attr> <attr>` joined with `; `")),
    responses((status = 200, description = "The clients at that moment",
            content((EntitlementsBody = "application/json"), (String = "text/csv; charset=utf-8; header=present"))),
        (status = 400, body = ErrorBody, description = "`at` unparseable, in the future or before the retained history; an unknown parameter or format")))]
pub async fn at(r: ConfigRequest, req: HttpRequest) -> Result<HttpResponse, ConfigError> {
    let p = params(&req, &["at", "format"])?;
    let at = time(&p, "at")?;
    let format = format_of(&p)?;
    let e = r
        .service
        .audit()
        .entitlements_at(&r.ctx, &r.app_id, at)
        .await?;
    if format == Format::Csv {
        let name = format!(
            "entitlements-{}-{}.csv",
            r.app_id.as_str(),
            file_time(&e.at)
        );
        return Ok(csv(entitlements_csv(&e), name));
    }
    Ok(HttpResponse::Ok().json(EntitlementsBody::of(e)))
}

/// What changed in the application's entitlements after `from`, up to and including `to`
/// (default: now): the changes that lead from the entitlements at `from` to those at `to`,
/// ordered by revision.
#[utoipa::path(get, path = "/config/{appId}/audit/entitlements/changes", tag = "audit",
    params(("appId" = String, Path),
        ("from" = String, Query, format = DateTime, description = "RFC 3339 (or a date), exclusive; not before the retained history"),
        ("to" = Option<String>, Query, format = DateTime, description = "RFC 3339 (or a date), inclusive; default now; not in the future"),
        ("format" = Option<String>, Query, description = "`json` (default) or `csv` (`detail` as JSON)")),
    responses((status = 200, description = "The changes",
            content((ChangesBody = "application/json"), (String = "text/csv; charset=utf-8; header=present"))),
        (status = 400, body = ErrorBody, description = "`from` missing; a time unparseable, in the future or before the retained history; `from` after `to`")))]
pub async fn changes(r: ConfigRequest, req: HttpRequest) -> Result<HttpResponse, ConfigError> {
    let p = params(&req, &["from", "to", "format"])?;
    let from = time(&p, "from")?;
    let to = time(&p, "to")?;
    let format = format_of(&p)?;
    let from = from.ok_or(ServiceError::from(AuditInputError::Missing {
        name: "from",
    }))?;
    let c = r
        .service
        .audit()
        .entitlement_changes(&r.ctx, &r.app_id, from, to)
        .await?;
    if format == Format::Csv {
        let name = format!(
            "entitlement-changes-{}-{}-{}.csv",
            r.app_id.as_str(),
            file_time(&c.from),
            file_time(&c.to)
        );
        return Ok(csv(changes_csv(&c), name));
    }
    Ok(HttpResponse::Ok().json(ChangesBody::of(c)))
}

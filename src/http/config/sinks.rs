//! Operator routes: `/sinks`, where the audit log is streamed (docs/streaming.md).

use actix_web::{web, HttpResponse};
use utoipa::ToSchema;

use super::fields::{
    optional_bool, optional_integer, optional_string, optional_string_list, required_string,
};
use super::{ConfigError, ErrorBody, JsonBody, OperatorRequest};
use crate::domain::audit_query::parse_time;
use crate::domain::ids::Named;
use crate::domain::sink::{RewindTo, SinkDraft};
use crate::http::wire::sinks::SinkBody;
use crate::service::SinkError;

/// The body of `POST /sinks`. Other fields are ignored.
#[derive(ToSchema)]
#[schema(as = SinkInput)]
#[allow(
    dead_code,
    reason = "documents the body the handler reads field by field"
)]
pub struct SinkFields {
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    name: String,
    #[schema(pattern = "^(webhook|splunk_hec|syslog)$")]
    kind: String,
    /// webhook (https, or http to a loopback address) and splunk_hec.
    url: Option<String>,
    /// syslog: `host:port`.
    address: Option<String>,
    /// splunk_hec: the HEC token (sealed at rest, never shown again).
    token: Option<String>,
    /// syslog: TLS (RFC 5425).
    tls: Option<bool>,
    /// syslog with TLS: a PEM file of the CA(s) that sign the receiver's certificate.
    ca_file: Option<String>,
    /// splunk_hec: default `latchkey:audit`.
    sourcetype: Option<String>,
    /// splunk_hec: the index (default: the token's).
    index: Option<String>,
    /// webhook, splunk_hec: events per request, 1 to 1000 (default 1).
    #[schema(minimum = 1, maximum = 1000)]
    batch_max: Option<i64>,
    /// Application ids; absent: every application.
    apps: Option<Vec<String>>,
    /// Action names (e.g. `client.update`); absent: every action.
    actions: Option<Vec<String>>,
    /// Deliver the applications' whole logs, not only what happens from now on (default false).
    from_beginning: Option<bool>,
}

/// The body of `POST /sinks/{name}/rewind`: a revision of one application, or a time.
#[derive(ToSchema)]
#[schema(as = SinkRewindInput)]
#[allow(
    dead_code,
    reason = "documents the body the handler reads field by field"
)]
pub struct RewindFields {
    /// The application (needed with `revision`; with `time`, absent means every one).
    app_id: Option<String>,
    /// Deliver again from this revision (included).
    #[schema(minimum = 1)]
    revision: Option<i64>,
    /// Deliver again every event at or after this time (RFC 3339, or a date).
    time: Option<String>,
}

/// Creates a sink. A webhook's signing secret is in the answer, and never again.
#[utoipa::path(post, path = "/sinks", tag = "sinks",
    request_body = SinkFields,
    responses((status = 201, body = SinkBody, headers(("Location" = String))),
        (status = 400, body = ErrorBody, description = "Bad configuration, one line: e.g. `A syslog address needs a port (host:port): \"logs\".`"),
        (status = 409, body = ErrorBody, description = "A sink with this name exists")))]
pub async fn create(r: OperatorRequest, body: JsonBody) -> Result<HttpResponse, ConfigError> {
    let b = &body.0;
    let draft = SinkDraft {
        name: required_string(b, "name")?,
        kind: required_string(b, "kind")?,
        url: optional_string(b, "url")?,
        address: optional_string(b, "address")?,
        token: optional_string(b, "token")?,
        tls: optional_bool(b, "tls")?.unwrap_or(false),
        ca_file: optional_string(b, "ca_file")?,
        sourcetype: optional_string(b, "sourcetype")?,
        index: optional_string(b, "index")?,
        batch_max: optional_integer(b, "batch_max")?,
        apps: optional_string_list(b, "apps")?,
        actions: optional_string_list(b, "actions")?,
        from_beginning: optional_bool(b, "from_beginning")?.unwrap_or(false),
    };
    let created = r.service.sinks().create(&r.ctx, draft).await?;
    Ok(r.answer(created, |created| {
        HttpResponse::Created()
            .insert_header(("Location", format!("/sinks/{}", created.sink.name)))
            .json(SinkBody::created(created))
    }))
}

/// Every sink.
#[utoipa::path(get, path = "/sinks", tag = "sinks",
    responses((status = 200, body = Vec<SinkBody>)))]
pub async fn list(r: OperatorRequest) -> Result<HttpResponse, ConfigError> {
    let sinks = r.service.sinks().list(&r.ctx).await?;
    let body: Vec<SinkBody> = sinks.into_iter().map(|s| SinkBody::new(s, None)).collect();
    Ok(HttpResponse::Ok().json(body))
}

/// A sink with its lag and its cursor per application.
#[utoipa::path(get, path = "/sinks/{name}", tag = "sinks",
    params(("name" = String, Path)),
    responses((status = 200, body = SinkBody)))]
pub async fn get(r: OperatorRequest, name: web::Path<String>) -> Result<HttpResponse, ConfigError> {
    let sink = r.service.sinks().get(&r.ctx, &name).await?;
    Ok(HttpResponse::Ok().json(SinkBody::new(sink, None)))
}

/// Deletes a sink and its cursors (audited in each application it covered).
#[utoipa::path(delete, path = "/sinks/{name}", tag = "sinks",
    params(("name" = String, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(
    r: OperatorRequest,
    name: web::Path<String>,
) -> Result<HttpResponse, ConfigError> {
    let deleted = r.service.sinks().delete(&r.ctx, &name).await?;
    Ok(r.answer(deleted, |()| HttpResponse::NoContent().finish()))
}

/// Stops delivery (the cursor stays; nothing is lost while the audit log keeps the events).
#[utoipa::path(post, path = "/sinks/{name}/pause", tag = "sinks",
    params(("name" = String, Path)),
    responses((status = 200, body = SinkBody)))]
pub async fn pause(
    r: OperatorRequest,
    name: web::Path<String>,
) -> Result<HttpResponse, ConfigError> {
    let sink = r.service.sinks().set_paused(&r.ctx, &name, true).await?;
    Ok(r.answer(sink, |s| HttpResponse::Ok().json(SinkBody::new(s, None))))
}

/// Resumes delivery from the cursor (also after a receiver's 4xx paused the sink).
#[utoipa::path(post, path = "/sinks/{name}/resume", tag = "sinks",
    params(("name" = String, Path)),
    responses((status = 200, body = SinkBody)))]
pub async fn resume(
    r: OperatorRequest,
    name: web::Path<String>,
) -> Result<HttpResponse, ConfigError> {
    let sink = r.service.sinks().set_paused(&r.ctx, &name, false).await?;
    Ok(r.answer(sink, |s| HttpResponse::Ok().json(SinkBody::new(s, None))))
}

/// Delivers again from a revision of one application, or from a time.
#[utoipa::path(post, path = "/sinks/{name}/rewind", tag = "sinks",
    params(("name" = String, Path)),
    request_body = RewindFields,
    responses((status = 200, body = SinkBody),
        (status = 400, body = ErrorBody, description = "Neither or both of `revision` and `time`, a bad time, a revision without `app_id`")))]
pub async fn rewind(
    r: OperatorRequest,
    name: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ConfigError> {
    let b = &body.0;
    let app = optional_string(b, "app_id")?.map(|s| Named::parse(&s));
    let to = match (
        optional_integer(b, "revision")?,
        optional_string(b, "time")?,
    ) {
        (Some(rev), None) => RewindTo::Revision(rev),
        (None, Some(t)) => RewindTo::Time(parse_time("time", &t).map_err(SinkError::from)?),
        _ => return Err(SinkError::RewindTarget.into()),
    };
    let sink = r
        .service
        .sinks()
        .rewind(&r.ctx, &name, app.as_ref(), to)
        .await?;
    Ok(r.answer(sink, |s| HttpResponse::Ok().json(SinkBody::new(s, None))))
}

/// A new signing secret for a webhook sink; the old one stops at once. Shown only here.
#[utoipa::path(put, path = "/sinks/{name}/secret", tag = "sinks",
    params(("name" = String, Path)),
    responses((status = 200, body = SinkBody),
        (status = 400, body = ErrorBody, description = "`Only webhook sinks have a secret to rotate.`")))]
pub async fn rotate_secret(
    r: OperatorRequest,
    name: web::Path<String>,
) -> Result<HttpResponse, ConfigError> {
    let created = r.service.sinks().rotate_secret(&r.ctx, &name).await?;
    Ok(r.answer(created, |c| HttpResponse::Ok().json(SinkBody::created(c))))
}

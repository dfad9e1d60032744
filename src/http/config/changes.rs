//! `GET /config/{appId}/changes`: the application's changes as Server-Sent Events, for owners
//! and the operator. `id:` is the revision, `event:` the action, `data:` the audit event's
//! JSON (as the audit log gives it: no secrets). Resumes after `Last-Event-ID` or `?after=`.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};

use super::{ConfigError, ConfigRequest, ErrorBody};
use crate::domain::{Field, ValidationError};
use crate::service::FeedItem;

fn revision(value: &str, field: &'static str) -> Result<i64, ConfigError> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            ValidationError::InvalidRevision {
                field: Field::Wire(field),
            }
            .into()
        })
}

/// Where to resume: `Last-Event-ID` (what a reconnecting EventSource sends) wins over
/// `?after=`; neither: from the beginning of the log.
fn resume_after(req: &HttpRequest) -> Result<i64, ConfigError> {
    if let Some(value) = req.headers().get("last-event-id") {
        let text = value.to_str().map_err(|_| {
            ConfigError::from(ValidationError::InvalidRevision {
                field: Field::Wire("Last-Event-ID"),
            })
        })?;
        return revision(text, "Last-Event-ID");
    }
    let mut after = 0;
    for (k, v) in form_urlencoded::parse(req.query_string().as_bytes()) {
        if k == "after" {
            after = revision(&v, "after")?;
        }
    }
    Ok(after)
}

fn frame(item: FeedItem) -> Bytes {
    match item {
        FeedItem::Heartbeat => Bytes::from_static(b": heartbeat\n\n"),
        FeedItem::Change(e) => {
            let mut out = String::with_capacity(700);
            out.push_str("id: ");
            out.push_str(&e.event.seq.to_string());
            out.push_str("\nevent: ");
            // Actions are fixed names (`client.update`, no control characters).
            out.push_str(e.event.action.as_str());
            out.push_str("\ndata: ");
            e.write_record(&mut out);
            out.push_str("\n\n");
            Bytes::from(out)
        }
    }
}

/// Server-Sent Events, one per committed change in revision order: `id:` the revision, `event:`
/// the action, `data:` the audit event. Heartbeat comments on a quiet feed.
#[utoipa::path(get, path = "/config/{appId}/changes", tag = "audit",
    params(("appId" = String, Path),
        ("after" = Option<i64>, Query, minimum = 0, description = "Resume after this revision (`Last-Event-ID` wins)"),
        ("Last-Event-ID" = Option<i64>, Header, minimum = 0, description = "The id of the last event received")),
    responses((status = 200, description = "An endless event stream", content_type = "text/event-stream", body = String),
        (status = 400, body = ErrorBody, description = "A revision that is not a non-negative integer"),
        (status = 503, body = ErrorBody, description = "The database is unreachable, or the subscriber limit is reached")))]
pub async fn stream_changes(
    r: ConfigRequest,
    req: HttpRequest,
) -> Result<HttpResponse, ConfigError> {
    let after = resume_after(&req)?;
    let rx = r.service.change_feed(&r.ctx, &r.app_id, after).await?;
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|item| (Ok::<_, std::convert::Infallible>(frame(item)), rx))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

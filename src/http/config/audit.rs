//! `/config/{appId}/audit…`: the audit log of an application, for its owners and the operator.
//!
//! * `GET /config/{appId}/audit`: filtered events, newest (or oldest) first, in keyset-paginated
//!   JSON pages, or the whole filtered result streamed as NDJSON or CSV (`Accept` or `format=`).
//! * `GET /config/{appId}/audit/verify`: walks the hash chain and reports where it breaks.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::value::RawValue;

use super::{ConfigError, ConfigRequest, ErrorBody};
use crate::domain::audit_query::{
    write_csv_row, AuditInputError, AuditQuery, Format, Order, CSV_HEADER,
};
use crate::domain::audit_verify::Anchor;
use crate::http::wire::audit::VerdictBody;
use crate::service::{AuditStream, ServiceError};

fn pairs(req: &HttpRequest) -> Vec<(String, String)> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect()
}

/// A JSON page of `GET /config/{appId}/audit`. Each event is its canonical record (members
/// sorted, exactly as exports write it), kept verbatim.
#[derive(Serialize)]
struct Page {
    events: Vec<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

/// The same query with a new cursor: the `next` link of a page.
fn next_link(app_id: &str, pairs: &[(String, String)], cursor: &str) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(k, _)| k != "cursor") {
        q.append_pair(k, v);
    }
    q.append_pair("cursor", cursor);
    format!("/config/{app_id}/audit?{}", q.finish())
}

/// Filtered events: a JSON page (newest first by default), or the whole filtered result
/// streamed as NDJSON or CSV (oldest first by default) with `format` or `Accept`.
#[utoipa::path(get, path = "/config/{appId}/audit", tag = "audit",
    params(("appId" = String, Path),
        ("client" = Option<String>, Query, description = "Events about this client"),
        ("actor" = Option<String>, Query, description = "A client id, or `operator`"),
        ("action" = Option<String>, Query, description = "`client.update`, …"),
        ("feature" = Option<String>, Query, description = "Events that added or removed it"),
        ("since" = Option<String>, Query, format = DateTime, description = "RFC 3339, inclusive; before `until`"),
        ("until" = Option<String>, Query, format = DateTime, description = "RFC 3339, exclusive"),
        ("order" = Option<String>, Query),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "JSON pages only; default 100"),
        ("cursor" = Option<String>, Query, pattern = "^[A-Za-z0-9_-]+$", description = "JSON pages only: from a page's `next` link"),
        ("format" = Option<String>, Query)),
    responses((status = 200, description = "A page `{events, next?}`; with ndjson or csv the whole filtered result",
            content((serde_json::Value = "application/json"), (String = "application/x-ndjson"), (String = "text/csv; charset=utf-8; header=present"))),
        (status = 400, body = ErrorBody, description = "A parameter refused: the message says which")))]
pub async fn query(r: ConfigRequest, req: HttpRequest) -> Result<HttpResponse, ConfigError> {
    let pairs = pairs(&req);
    let q =
        AuditQuery::from_pairs(pairs.iter().map(|(k, v)| (k, v))).map_err(ServiceError::from)?;
    let format = q.format.unwrap_or_else(|| {
        req.headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .map_or(Format::Json, Format::from_accept)
    });
    if format == Format::Json {
        let page = r
            .service
            .audit()
            .page(&r.ctx, &r.app_id, &q.filter, q.order, q.after, q.limit)
            .await?;
        let events = page
            .events
            .iter()
            .map(|e| {
                let mut record = String::with_capacity(600);
                e.write_record(&mut record);
                RawValue::from_string(record)
            })
            .collect::<Result<_, _>>()
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let body = Page {
            events,
            next: page
                .next
                .map(|next| next_link(r.app_id.as_str(), &pairs, &next.encode())),
        };
        return Ok(HttpResponse::Ok()
            .content_type(Format::Json.content_type())
            .body(
                serde_json::to_string(&body).map_err(|e| ServiceError::Internal(e.to_string()))?,
            ));
    }
    if q.paging_given {
        return Err(ServiceError::from(AuditInputError::PagingInStream).into());
    }
    // Streams default to chain order, so what they produce can be verified as it is.
    let order = if q.order_given {
        q.order
    } else {
        Order::OldestFirst
    };
    let stream = r
        .service
        .audit()
        .stream(&r.ctx, &r.app_id, q.filter, order)
        .await?;
    Ok(stream_response(r.app_id.as_str(), format, stream))
}

/// A whole filtered log as an NDJSON or CSV download (also the web console's export links).
pub(crate) fn stream_response(app_id: &str, format: Format, stream: AuditStream) -> HttpResponse {
    let body = stream.map(move |batch| {
        batch.map(|events| {
            let mut out = String::with_capacity(events.len() * 600);
            for e in &events {
                match format {
                    Format::Csv => write_csv_row(&mut out, &e.event, &e.prev_hash, &e.hash),
                    _ => {
                        e.write_record(&mut out);
                        out.push('\n');
                    }
                }
            }
            Bytes::from(out)
        })
    });
    let (extension, header_chunk) = match format {
        Format::Csv => ("csv", Some(Bytes::from_static(CSV_HEADER.as_bytes()))),
        _ => ("ndjson", None),
    };
    let head = futures_util::stream::iter(header_chunk.map(Ok::<_, ServiceError>));
    HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"audit-{app_id}.{extension}\""),
        ))
        .streaming(head.chain(body))
}

/// Walks the hash chain: `status` `intact` (with `count`, `head_seq`, `head_hash`, the
/// anchors' statuses) or `broken` (with `seq`, `problem`, `message`).
#[utoipa::path(get, path = "/config/{appId}/audit/verify", tag = "audit",
    params(("appId" = String, Path),
        ("anchor" = Option<Vec<String>>, Query, explode, description = "Repeatable: `SEQ:HASH` noted earlier, which must still be in the chain")),
    responses((status = 200, body = VerdictBody, description = "The verdict"),
        (status = 400, body = ErrorBody, description = "An anchor or parameter refused")))]
pub async fn verify(r: ConfigRequest, req: HttpRequest) -> Result<HttpResponse, ConfigError> {
    let mut anchors = Vec::new();
    for (k, v) in pairs(&req) {
        if k != "anchor" {
            return Err(ServiceError::from(AuditInputError::UnknownParameter { name: k }).into());
        }
        anchors.push(v.parse::<Anchor>().map_err(ServiceError::from)?);
    }
    let verdict = r.service.audit().verify(&r.ctx, &r.app_id, anchors).await?;
    Ok(HttpResponse::Ok().json(VerdictBody::new(verdict, r.app_id.as_str())))
}

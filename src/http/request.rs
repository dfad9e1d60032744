//! Per-request plumbing shared by both surfaces: request ids, source address, body reading.

use std::net::IpAddr;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest};
use futures_util::StreamExt;
use tracing::Instrument;

use super::{HttpState, MAX_BODY_BYTES};
use crate::auth::source::source_address;
use crate::domain::ids::new_request_id;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The request id (16 characters of `[a-z0-9]`), set by [`request_id_middleware`].
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Gives every request an id, echoes it in `X-Request-Id`, runs the request inside a tracing
/// span carrying it (so every log line names it) and logs one line when it ends.
pub async fn request_id_middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = new_request_id();
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    let metrics = req
        .app_data::<web::Data<HttpState>>()
        .map(|s| s.metrics.clone());
    let method = req.method().to_string();
    let mut res = next.call(req).instrument(span.clone()).await?;
    if let Some(metrics) = metrics {
        // The route template (`/config/{app_id}/clients`), never the raw path: bounded labels.
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".into());
        metrics.observe(
            &route,
            &method,
            res.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    span.in_scope(|| {
        tracing::info!(
            status = res.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request finished"
        )
    });
    Ok(res)
}

pub fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_else(new_request_id)
}

/// The caller's address: the TCP peer, or what trusted proxies say it is.
pub fn source_ip(req: &HttpRequest) -> IpAddr {
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let trusted = req
        .app_data::<web::Data<HttpState>>()
        .map(|s| s.trusted_proxies.as_slice())
        .unwrap_or(&[]);
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    source_address(peer, forwarded, trusted)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    TooLarge,
    Unreadable,
    /// The whole body did not arrive within `LATCHKEY_BODY_TIMEOUT_SECS`.
    TimedOut,
}

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`] (early when Content-Length says
/// so, otherwise as soon as the stream passes the limit) and a body that takes longer than the
/// configured body timeout to arrive, however it trickles.
pub async fn read_body(req: &HttpRequest, payload: Payload) -> Result<Vec<u8>, BodyError> {
    let limit = req
        .app_data::<web::Data<HttpState>>()
        .map_or(std::time::Duration::from_secs(10), |s| s.body_timeout);
    tokio::time::timeout(limit, read_whole_body(req, payload))
        .await
        .unwrap_or(Err(BodyError::TimedOut))
}

async fn read_whole_body(req: &HttpRequest, mut payload: Payload) -> Result<Vec<u8>, BodyError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

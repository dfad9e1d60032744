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
use crate::auth::random::new_request_id;
use crate::auth::source::source_address;

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

/// The request's `Content-Type`, parsed (`None`: absent or not a media type). Each surface
/// decides which types it takes.
pub fn content_type(req: &HttpRequest) -> Option<mime::Mime> {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Whether the body is labelled `application/x-www-form-urlencoded` (parameters ignored).
pub fn is_form_urlencoded(m: &mime::Mime) -> bool {
    m.essence_str() == mime::APPLICATION_WWW_FORM_URLENCODED.essence_str()
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

/// Parses JSON text as [`serde_json::from_slice`] does, but refuses an object that names a
/// member twice (at any depth) instead of keeping the last value: which one the caller meant
/// cannot be known. Used for every JSON input (Config API bodies, Registration API JSON
/// parameters).
pub fn parse_json(text: &[u8]) -> Result<serde_json::Value, serde_json::Error> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_slice(text);
    let value = strict_json::Strict.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

mod strict_json {
    use std::fmt;

    use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Number, Value};

    /// A JSON value without duplicate member names.
    pub struct Strict;

    impl<'de> DeserializeSeed<'de> for Strict {
        type Value = Value;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Strict {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON value")
        }

        fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
            Ok(Value::Bool(b))
        }

        fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
            Ok(Value::Number(n.into()))
        }

        fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
            Ok(Value::Number(n.into()))
        }

        fn visit_f64<E: Error>(self, n: f64) -> Result<Value, E> {
            Number::from_f64(n)
                .map(Value::Number)
                .ok_or_else(|| E::custom("not a JSON number"))
        }

        fn visit_str<E>(self, s: &str) -> Result<Value, E> {
            Ok(Value::String(s.to_owned()))
        }

        fn visit_string<E>(self, s: String) -> Result<Value, E> {
            Ok(Value::String(s))
        }

        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
            while let Some(item) = seq.next_element_seed(Strict)? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut members = Map::new();
            while let Some(name) = map.next_key::<String>()? {
                if members.contains_key(&name) {
                    return Err(A::Error::custom(format!("duplicate member {name:?}")));
                }
                let value = map.next_value_seed(Strict)?;
                members.insert(name, value);
            }
            Ok(Value::Object(members))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::super::parse_json;
        use serde_json::json;

        #[test]
        fn parses_like_serde_json_but_refuses_duplicate_members() {
            let text = br#"{"a":[1,-2,3.5,1e300,true,null,"x\u00e9"],"b":{"c":{}},"n":18446744073709551615}"#;
            assert_eq!(
                parse_json(text).unwrap(),
                serde_json::from_slice::<serde_json::Value>(text).unwrap()
            );
            assert_eq!(parse_json(b" [] ").unwrap(), json!([]));
            for bad in [
                &br#"{"a":1,"a":2}"#[..],
                br#"{"x":[{"k":1,"k":1}]}"#,
                br#"{"a":1} x"#,
                b"",
                br#"{"a":"#,
            ] {
                assert!(parse_json(bad).is_err(), "{}", String::from_utf8_lossy(bad));
            }
            let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
            assert!(
                parse_json(deep.as_bytes()).is_err(),
                "serde_json's depth limit holds"
            );
        }
    }
}

//! Extractors: the authenticated caller and the JSON body.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use serde_json::Value;

use super::ConfigError;
use crate::auth::credentials::parse_authorization;
use crate::domain::entity_type::SchemaError;
use crate::domain::ids::{AppId, Named};
use crate::domain::{is_storable_text, Field, ValidationError};
use crate::http::request::{parse_json, read_body, request_id, source_ip, BodyError};
use crate::http::HttpState;
use crate::service::{AuthError, Committed, Latchkey, RequestContext, ServiceError};

type Fut<T> = Pin<Box<dyn Future<Output = Result<T, ConfigError>>>>;

/// A Config API request whose caller is authenticated for the application in the path.
pub struct ConfigRequest {
    pub app_id: Named<AppId>,
    pub ctx: RequestContext,
    pub service: Latchkey,
}

impl FromRequest for ConfigRequest {
    type Error = ConfigError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let app_id = req
                .match_info()
                .get("app_id")
                .unwrap_or_default()
                .to_owned();
            let credentials = presented_credentials(&req);
            let (ctx, service) = authenticate(&req, Some(&app_id), credentials).await?;
            Ok(ConfigRequest {
                app_id: Named::parse(&app_id),
                ctx,
                service,
            })
        })
    }
}

impl ConfigRequest {
    /// A write's answer: its revisions applied to this instance's snapshots, `respond(value)`
    /// stamped with `X-Latchkey-Revision` (see `http::revision`).
    pub fn answer<T>(
        &self,
        committed: Committed<T>,
        respond: impl FnOnce(T) -> actix_web::HttpResponse,
    ) -> actix_web::HttpResponse {
        crate::http::revision::answer(&self.service, committed, respond)
    }
}

/// An operator-only request (`/apps`): a client's credentials are refused like bad ones.
pub struct OperatorRequest {
    pub ctx: RequestContext,
    pub service: Latchkey,
}

impl FromRequest for OperatorRequest {
    type Error = ConfigError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let credentials = presented_credentials(&req)
                .filter(|c| matches!(c, crate::auth::Credentials::Bearer(_)));
            let (ctx, service) = authenticate(&req, None, credentials).await?;
            Ok(OperatorRequest { ctx, service })
        })
    }
}

impl OperatorRequest {
    /// As [`ConfigRequest::answer`].
    pub fn answer<T>(
        &self,
        committed: Committed<T>,
        respond: impl FnOnce(T) -> actix_web::HttpResponse,
    ) -> actix_web::HttpResponse {
        crate::http::revision::answer(&self.service, committed, respond)
    }
}

/// A path segment PostgreSQL cannot hold (U+0000, sent as `%00`) names nothing that exists:
/// answered, after authentication, as that segment's "not found", for every Config API route
/// at once and before any query sees it.
fn unstorable_path_segment(req: &HttpRequest) -> Result<(), ServiceError> {
    match req
        .match_info()
        .iter()
        .find(|(_, value)| !is_storable_text(value))
    {
        None => Ok(()),
        Some(("app_id", _)) => Err(ServiceError::AppNotFound),
        Some(("client_id", _)) => Err(ServiceError::ClientNotFound),
        Some(("type_name", value)) => Err(ServiceError::EntityTypeNotFound {
            name: value.replace('\0', ""),
        }),
        Some(("access_type", _)) => Err(SchemaError::InvalidAccessType.into()),
        Some(_) => Err(ValidationError::NotAString {
            field: Field::Wire("path"),
        }
        .into()),
    }
}

/// The shared state; startup always registers it, so its absence is an internal error.
fn state(req: &HttpRequest) -> Result<web::Data<HttpState>, AuthError> {
    req.app_data::<web::Data<HttpState>>()
        .cloned()
        .ok_or(AuthError::Internal)
}

fn presented_credentials(req: &HttpRequest) -> Option<crate::auth::Credentials> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    parse_authorization(value).ok().flatten()
}

/// The request's context once `credentials` authenticate its caller (for `app_id`, or for no
/// application: the operator's routes), and the service; a path segment no table can hold is
/// then refused. The one place both extractors ([`ConfigRequest`], [`OperatorRequest`]) do it.
async fn authenticate(
    req: &HttpRequest,
    app_id: Option<&str>,
    credentials: Option<crate::auth::Credentials>,
) -> Result<(RequestContext, Latchkey), ConfigError> {
    let state = state(req)?;
    let service = &state.service;
    let source = source_ip(req);
    let caller = service.authenticate(app_id, credentials, source).await?;
    unstorable_path_segment(req)?;
    let ctx = RequestContext {
        request_id: request_id(req),
        source_ip: Some(source),
        caller,
        read_at_least: None,
        clock: service.clock().clone(),
    };
    Ok((ctx, service.clone()))
}

/// A JSON object body: `Content-Type: application/json` (or `…+json`), at most 64 KiB.
pub struct JsonBody(pub serde_json::Map<String, Value>);

impl FromRequest for JsonBody {
    type Error = ConfigError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let is_json = crate::http::request::content_type(&req).is_some_and(|m| {
                m.type_() == mime::APPLICATION
                    && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
            });
            let body = read_body(&req, payload).await.map_err(|e| match e {
                BodyError::TooLarge => ConfigError::BodyTooLarge,
                BodyError::Unreadable => ConfigError::InvalidJson,
                BodyError::TimedOut => ConfigError::BodyTimeout,
            })?;
            if !is_json {
                return Err(ConfigError::InvalidJson);
            }
            match parse_json(&body) {
                Ok(Value::Object(map)) => Ok(JsonBody(map)),
                _ => Err(ConfigError::InvalidJson),
            }
        })
    }
}

//! Reading a Registration API call: its parameters and its authenticated caller.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, HttpRequest};

use super::error::RegError;
use super::params::Params;
use crate::auth::credentials::parse_authorization;
use crate::auth::signature::is_signature_scheme;
use crate::auth::Credentials;
use crate::domain::ids::{AppId, ClientId, Named};
use crate::http::request::{read_body, request_id, source_ip, BodyError};
use crate::http::routes::Effect;
use crate::http::HttpState;
use crate::service::{AuthError, Caller, Latchkey, Operation, RequestContext, SignedRequest};

/// An authenticated call: who calls, for which application, with which parameters.
pub struct Call {
    pub ctx: RequestContext,
    /// The caller's own application (for the operator: the one `application_id` names).
    pub app_id: Named<AppId>,
    pub params: Params,
    pub service: Latchkey,
}

fn is_form(req: &HttpRequest) -> bool {
    // curl and most libraries label form bodies; an unlabelled body is read as one.
    !req.headers().contains_key(header::CONTENT_TYPE)
        || crate::http::request::content_type(req)
            .is_some_and(|m| crate::http::request::is_form_urlencoded(&m))
}

/// An `Authorization: Signature …` header (a `janrain-signed` request), if that is what came.
fn signature_header(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()
        .filter(|v| is_signature_scheme(v))
}

/// What the request presents as credentials. An `Authorization` header wins over parameters
/// (and a header that holds no usable credential is no credential: it does not fall back);
/// without a header, the `client_id` and `client_secret` parameters.
fn credentials(req: &HttpRequest, params: &Params) -> Result<Option<Credentials>, RegError> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let Ok(value) = value.to_str() else {
            return Ok(None);
        };
        return parse_authorization(value).map_err(|e| match e {
            crate::auth::credentials::AuthorizationError::Unsupported { scheme } => {
                RegError::AuthMethod { scheme }
            }
        });
    }
    Ok(
        match (params.get("client_id"), params.get("client_secret")) {
            (Some(client_id), Some(secret)) => Some(Credentials::Client {
                client_id: client_id.to_owned(),
                secret: secret.to_owned(),
            }),
            _ => None,
        },
    )
}

impl Call {
    /// `effect`: the route table's mark of the operation called.
    pub async fn read(
        req: &HttpRequest,
        payload: Payload,
        effect: Effect,
    ) -> Result<Call, RegError> {
        let state = req
            .app_data::<web::Data<HttpState>>()
            .cloned()
            // Startup always registers it: its absence is an internal error.
            .ok_or(RegError::Auth(AuthError::Internal))?;
        let body = read_body(req, payload).await.map_err(|e| match e {
            BodyError::TooLarge => {
                RegError::BadRequest("the request body is larger than 65536 bytes")
            }
            BodyError::Unreadable => RegError::BadRequest("the request body could not be read"),
            BodyError::TimedOut => RegError::BodyTimeout,
        })?;
        if !body.is_empty() && !is_form(req) {
            return Err(RegError::BadRequest(
                "the request body must be application/x-www-form-urlencoded",
            ));
        }
        let params = Params::parse(req.query_string(), &body)?;
        let source = source_ip(req);
        let caller = match signature_header(req) {
            Some(authorization) => {
                let signed = SignedRequest {
                    authorization,
                    date: req
                        .headers()
                        .get(header::DATE)
                        .and_then(|v| v.to_str().ok()),
                    path: req.path(),
                    params: params.pairs().collect(),
                    operation: match effect {
                        Effect::Reads => Operation::Read,
                        Effect::Writes => Operation::Write,
                    },
                };
                state
                    .service
                    .authenticate_signed(signed, source)
                    .await
                    .map_err(RegError::Signature)?
            }
            None => {
                let credentials = credentials(req, &params)?;
                state
                    .service
                    .authenticate(None, credentials, source)
                    .await?
            }
        };
        let app_id = match &caller {
            // The application is always the caller's own; naming another one is refused.
            Caller::Client { app_id, .. } => match params.get("application_id") {
                Some(named) if named != app_id.as_str() => {
                    return Err(RegError::UnknownApplication)
                }
                _ => Named::Id(app_id.clone()),
            },
            // The operator belongs to no application: it must say which one it acts on.
            Caller::Operator => Named::parse(params.required("application_id")?),
        };
        Ok(Call {
            ctx: RequestContext {
                request_id: request_id(req),
                source_ip: Some(source),
                caller,
                read_at_least: None,
                clock: state.service.clock().clone(),
            },
            app_id,
            params,
            service: state.service.clone(),
        })
    }

    /// `for_client_id`, which defaults to the caller (the operator has no default).
    pub fn target_client(&self) -> Result<Named<ClientId>, RegError> {
        match self.params.get("for_client_id") {
            Some(id) => Ok(Named::parse(id)),
            None => self
                .ctx
                .caller
                .client_id()
                .map(|id| Named::Id(id.clone()))
                .ok_or(RegError::Missing("for_client_id")),
        }
    }
}

//! The Registration API (spec §4): the vendor's legacy form-encoded RPC calls at the server
//! root (`/clients/add`, `/settings/get`, …). A second adapter over the same use cases as the
//! Config API: parse the parameters, call one service method, shape the vendor's answer.
//!
//! Every answer is HTTP 200: `{"stat":"ok", …}` or the error envelope of [`error`].

pub(crate) mod clients;
pub mod entity_types;
pub mod error;
pub mod extract;
pub mod params;
pub(crate) mod settings;

use std::future::Future;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

pub use error::{ArgNames, RegError};
pub use extract::Call;
pub use params::Params;

use crate::http::request::request_id;
use crate::http::routes::Effect;

/// What a call answers on success: the fields next to `"stat":"ok"`.
pub type Reply = Result<Map<String, Value>, RegError>;

/// Runs one call (`op`) for GET (query string) and POST (query string and form body), as the
/// route table registers it, with the row's effect (a signed read may be repeated inside its
/// window, a signed write may not: `service::Operation`).
pub async fn serve<F, Fut>(
    req: HttpRequest,
    payload: web::Payload,
    effect: Effect,
    op: F,
) -> HttpResponse
where
    F: FnOnce(Call) -> Fut,
    Fut: Future<Output = Reply>,
{
    let result = match Call::read(&req, payload.into_inner(), effect).await {
        Ok(call) => op(call).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(mut fields) => {
            fields.insert("stat".into(), Value::from("ok"));
            HttpResponse::Ok().json(Value::Object(fields))
        }
        Err(e) => {
            // Nothing this call appended was committed: no revision to answer with.
            crate::cache::journal::discard();
            let mut res = error::respond(&e, &request_id(&req));
            if matches!(e, RegError::BodyTimeout) {
                // No call was made: like a wrong method, the status says so (the vendor's
                // clients read the envelope).
                *res.status_mut() = actix_web::http::StatusCode::REQUEST_TIMEOUT;
            }
            res
        }
    }
}

/// Neither GET nor POST: the vendor's envelope, but with HTTP 405, since no call was made.
pub async fn wrong_method(req: HttpRequest) -> HttpResponse {
    let mut res = error::respond(
        &RegError::BadRequest("use GET or POST for Registration API calls"),
        &request_id(&req),
    );
    *res.status_mut() = actix_web::http::StatusCode::METHOD_NOT_ALLOWED;
    res.headers_mut().insert(
        actix_web::http::header::ALLOW,
        actix_web::http::header::HeaderValue::from_static("GET, POST"),
    );
    res
}

/// A reply from a typed answer: its fields go next to `"stat":"ok"`.
pub fn answer<T: serde::Serialize>(answer: &T) -> Reply {
    match serde_json::to_value(answer) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(other) => Err(RegError::from(crate::service::ServiceError::Internal(
            format!("a Registration answer must be an object, not {other}"),
        ))),
        Err(e) => Err(RegError::from(crate::service::ServiceError::Internal(
            e.to_string(),
        ))),
    }
}

/// An answer with nothing but `"stat":"ok"`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Done {}

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
use crate::http::revision;
use crate::http::routes::Effect;
use crate::service::{Committed, Revisions};

/// What a call answers on success: the fields next to `"stat":"ok"`, and the revisions it wrote.
pub type Reply = Result<Answer, RegError>;

/// A successful call's answer.
pub struct Answer {
    fields: Map<String, Value>,
    /// Applied to this instance's snapshots and answered as `X-Latchkey-Revision` by [`serve`].
    revisions: Revisions,
}

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
        Ok(call) => {
            let service = call.service.clone();
            op(call).await.map(|answer| (service, answer))
        }
        Err(e) => Err(e),
    };
    match result {
        Ok((
            service,
            Answer {
                mut fields,
                revisions,
            },
        )) => {
            fields.insert("stat".into(), Value::from("ok"));
            let committed = Committed {
                value: fields,
                revisions,
            };
            revision::answer(&service, committed, |fields| {
                HttpResponse::Ok().json(Value::Object(fields))
            })
        }
        Err(e) => {
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
        Ok(Value::Object(fields)) => Ok(Answer {
            fields,
            revisions: Revisions::default(),
        }),
        Ok(other) => Err(RegError::from(crate::service::ServiceError::Internal(
            format!("a Registration answer must be an object, not {other}"),
        ))),
        Err(e) => Err(RegError::from(crate::service::ServiceError::Internal(
            e.to_string(),
        ))),
    }
}

/// The reply to a call that wrote: the typed answer's fields, and the revisions it committed.
pub fn wrote<T: serde::Serialize>(committed: Committed<T>) -> Reply {
    let mut reply = answer(&committed.value)?;
    reply.revisions = committed.revisions;
    Ok(reply)
}

/// An answer with nothing but `"stat":"ok"`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Done {}

//! `X-Latchkey-Revision` on every successful write, on both surfaces, and the request's own
//! writes applied to this instance's snapshots before it answers (so whoever sent the write
//! reads it back from any later request, without waiting for the notification).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

use super::HttpState;
use crate::cache::journal;

pub const REVISION_HEADER: HeaderName = HeaderName::from_static("x-latchkey-revision");

pub async fn revision_middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<HttpState>>().cloned();
    let (res, writes) = journal::scope(next.call(req)).await;
    let mut res = res?;
    // A failed request rolled its transaction back: what it appended never happened.
    if !res.status().is_success() {
        return Ok(res);
    }
    if let Some(state) = state {
        for (app_id, revision) in &writes {
            state.service.snapshots().observe(app_id, *revision);
            state.service.note_write(app_id);
        }
    }
    if let Some((_, revision)) = writes.last() {
        res.headers_mut()
            .insert(REVISION_HEADER, HeaderValue::from(*revision));
    }
    Ok(res)
}

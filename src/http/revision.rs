//! The way back from a write: the revisions a use case committed (`service::Committed`) are
//! applied to this instance's snapshots before the answer leaves (so whoever sent the write
//! reads it back from any later request, without waiting for the notification), and the last
//! one is answered as `X-Latchkey-Revision`. Each surface calls this through one helper of its
//! own: `ConfigRequest::answer`/`OperatorRequest::answer` (Config API), `registration::serve`
//! (Registration API), `Console::wrote` (console); the CLI has no snapshots to keep.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::HttpResponse;

use crate::service::{Committed, Latchkey, Revisions};

pub const REVISION_HEADER: HeaderName = HeaderName::from_static("x-latchkey-revision");

/// `X-Latchkey-Revision: <last revision>` on `res` (nothing when nothing was written).
pub fn stamp(res: &mut HttpResponse, revisions: &Revisions) {
    if let Some(revision) = revisions.last() {
        res.headers_mut()
            .insert(REVISION_HEADER, HeaderValue::from(revision));
    }
}

/// Applies `committed` and answers with `respond(value)`, stamped with its revision.
pub fn answer<T>(
    service: &Latchkey,
    committed: Committed<T>,
    respond: impl FnOnce(T) -> HttpResponse,
) -> HttpResponse {
    service.apply_revisions(&committed.revisions);
    let mut res = respond(committed.value);
    stamp(&mut res, &committed.revisions);
    res
}

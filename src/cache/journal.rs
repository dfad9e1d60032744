//! The revisions written by the request being served: `store::audit::append` notes each one,
//! the HTTP layer reads them when the handler is done (to answer `X-Latchkey-Revision` and to
//! apply the request's own writes to this instance's snapshots before answering).

use std::future::Future;
use std::sync::{Arc, Mutex};

tokio::task_local! {
    static WRITES: Journal;
}

/// `(app_id, revision)` of each audit event appended, in order.
#[derive(Debug, Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<(String, i64)>>>);

impl Journal {
    fn with<T>(&self, f: impl FnOnce(&mut Vec<(String, i64)>) -> T) -> T {
        // A panic while holding this lock cannot leave the list half-written; keep using it.
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }
}

/// Records an appended event. Outside a request (the command line) it does nothing.
pub fn note(app_id: &str, revision: i64) {
    let _ = WRITES.try_with(|j| j.with(|w| w.push((app_id.to_owned(), revision))));
}

/// Forgets what was noted: the request failed after appending (its transaction rolled back).
pub fn discard() {
    let _ = WRITES.try_with(|j| j.with(Vec::clear));
}

/// Runs `f` with a fresh journal and returns what it noted.
pub async fn scope<F: Future>(f: F) -> (F::Output, Vec<(String, i64)>) {
    let journal = Journal::default();
    let out = WRITES.scope(journal.clone(), f).await;
    let writes = journal.with(std::mem::take);
    (out, writes)
}

//! A write transaction that knows the revisions it appends.
//!
//! Every change writes its audit event through [`crate::store::audit::append`], which takes a
//! [`WriteTx`] and notes the event's `(app_id, seq)` here. [`WriteTx::commit`] hands them back
//! only once PostgreSQL has committed: a transaction dropped (rolled back) reports nothing, so
//! a revision that never happened can never be announced.

use std::ops::{Deref, DerefMut};
use std::time::Instant;

use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::StoreResult;

/// The notification channel every write transaction announces itself on (at commit), once per
/// appended change: payload `"<seq> <app_id> <from> <client_id>"`, the application's revision
/// having moved from `from` to `seq` by a change that reached only that client, or, with
/// [`WHOLE_APPLICATION`] for the client, possibly every entry of the application.
/// (`"<seq> <app_id>"`, what releases before 4 December 2026 sent, says no more than that the
/// revision exists.)
pub const CHANNEL: &str = "latchkey_changes";

/// The client part of a notification for a change that may reach the whole application.
pub const WHOLE_APPLICATION: &str = "*";

/// One change a transaction appended: the application's revision moved from `from` to `seq`
/// (one event, or a batch of them, `store::audit::append_all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revision<'a> {
    pub app_id: &'a str,
    pub from: i64,
    pub seq: i64,
    /// The one client the change reached (`AuditEvent::only_client`); `None`: any entry of the
    /// application.
    pub only_client: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Written {
    app_id: String,
    from: i64,
    seq: i64,
    only_client: Option<String>,
}

/// The revisions a committed transaction wrote, in the order it appended them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revisions {
    written: Vec<Written>,
    /// When the (first) transaction began: `crate::cache` trusts what these say a change
    /// reached only when its listener was already listening then (a transaction begun before
    /// a failover may have committed on a primary whose revisions the new one reuses).
    began: Option<Instant>,
}

impl Revisions {
    pub fn iter(&self) -> impl Iterator<Item = Revision<'_>> {
        self.written.iter().map(|w| Revision {
            app_id: &w.app_id,
            from: w.from,
            seq: w.seq,
            only_client: w.only_client.as_deref(),
        })
    }

    /// The last revision written (what `X-Latchkey-Revision` answers), if any.
    pub fn last(&self) -> Option<i64> {
        self.written.last().map(|w| w.seq)
    }

    pub fn is_empty(&self) -> bool {
        self.written.is_empty()
    }

    /// When the transaction (the earliest of them, after [`Revisions::extend`]) began.
    pub fn began(&self) -> Option<Instant> {
        self.began
    }

    /// Revisions as a transaction begun at `began` would report `(app_id, from, seq,
    /// only_client)`.
    #[cfg(test)]
    pub(crate) fn for_tests(began: Instant, written: &[(&str, i64, i64, Option<&str>)]) -> Self {
        Self {
            written: written
                .iter()
                .map(|&(app_id, from, seq, only_client)| Written {
                    app_id: app_id.to_owned(),
                    from,
                    seq,
                    only_client: only_client.map(str::to_owned),
                })
                .collect(),
            began: Some(began),
        }
    }

    /// These followed by `other` (two use cases in one request).
    pub fn extend(&mut self, other: Revisions) {
        self.written.extend(other.written);
        self.began = match (self.began, other.began) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// How every write transaction begins: one round trip that also turns sequential scans off for
/// the transaction's own statements.
///
/// Why: every write of an application updates the same rows (its audit-chain head, the client),
/// in tables that are one page at first. A pooled connection keeps the plan it made then, a
/// sequential scan, for its life, while the hot rows' dead versions grow the table; every write
/// then scans them all inside the chain head's lock (measured in bench/README.md, "4 December
/// 2026, third session"; docs/operations.md). With sequential scans off, the plans made and
/// cached here use the indexes that the writes' lookups match (`app_id` first, then the key).
/// A statement no index can serve is still planned, as a sequential scan.
///
/// `SET LOCAL` ends with the transaction, so no other statement on the connection is affected.
pub const WRITE_BEGIN: &str = "BEGIN; SET LOCAL enable_seqscan = off";

/// A transaction that writes audit events (and so announces revisions).
pub struct WriteTx {
    tx: Transaction<'static, Postgres>,
    written: Vec<Written>,
    began: Instant,
}

impl WriteTx {
    pub async fn begin(pool: &PgPool) -> StoreResult<Self> {
        let began = Instant::now();
        Ok(Self {
            tx: pool.begin_with(WRITE_BEGIN).await?,
            written: Vec::new(),
            began,
        })
    }

    /// Commits; the revisions appended, which exist from now on.
    pub async fn commit(self) -> StoreResult<Revisions> {
        self.tx.commit().await?;
        Ok(Revisions {
            began: Some(self.began).filter(|_| !self.written.is_empty()),
            written: self.written,
        })
    }

    /// Ends the transaction now, writing nothing (dropping it also does, but only when the
    /// connection is next used; locks taken are freed at once here).
    pub async fn rollback(self) -> StoreResult<()> {
        self.tx.rollback().await?;
        Ok(())
    }

    /// The chain head of `app_id` moved from `from` to `seq` in this transaction
    /// (`store::audit`), reaching `only_client` or (`None`) the whole application.
    pub(super) fn wrote(&mut self, app_id: &str, from: i64, seq: i64, only_client: Option<&str>) {
        self.written.push(Written {
            app_id: app_id.to_owned(),
            from,
            seq,
            only_client: only_client.map(str::to_owned),
        });
    }
}

impl Deref for WriteTx {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

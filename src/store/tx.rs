//! A write transaction that knows the revisions it appends.
//!
//! Every change writes its audit event through [`crate::store::audit::append`], which takes a
//! [`WriteTx`] and notes the event's `(app_id, seq)` here. [`WriteTx::commit`] hands them back
//! only once PostgreSQL has committed: a transaction dropped (rolled back) reports nothing, so
//! a revision that never happened can never be announced.

use std::ops::{Deref, DerefMut};

use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::StoreResult;

/// The notification channel every write transaction announces itself on (at commit).
pub const CHANNEL: &str = "latchkey_changes";

/// One appended audit event: the application's revision after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revision<'a> {
    pub app_id: &'a str,
    pub seq: i64,
}

/// The revisions a committed transaction wrote, in the order it appended them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revisions(Vec<(String, i64)>);

impl Revisions {
    pub fn iter(&self) -> impl Iterator<Item = Revision<'_>> {
        self.0
            .iter()
            .map(|(app_id, seq)| Revision { app_id, seq: *seq })
    }

    /// The last revision written (what `X-Latchkey-Revision` answers), if any.
    pub fn last(&self) -> Option<i64> {
        self.0.last().map(|(_, seq)| *seq)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// These followed by `other` (two use cases in one request).
    pub fn extend(&mut self, other: Revisions) {
        self.0.extend(other.0);
    }
}

/// A transaction that writes audit events (and so announces revisions).
pub struct WriteTx {
    tx: Transaction<'static, Postgres>,
    written: Vec<(String, i64)>,
}

impl WriteTx {
    pub async fn begin(pool: &PgPool) -> StoreResult<Self> {
        Ok(Self {
            tx: pool.begin().await?,
            written: Vec::new(),
        })
    }

    /// Commits; the revisions appended, which exist from now on.
    pub async fn commit(self) -> StoreResult<Revisions> {
        self.tx.commit().await?;
        Ok(Revisions(self.written))
    }

    /// Ends the transaction now, writing nothing (dropping it also does, but only when the
    /// connection is next used; locks taken are freed at once here).
    pub async fn rollback(self) -> StoreResult<()> {
        self.tx.rollback().await?;
        Ok(())
    }

    /// The chain head of `app_id` moved to `seq` in this transaction (`store::audit`).
    pub(super) fn wrote(&mut self, app_id: &str, seq: i64) {
        self.written.push((app_id.to_owned(), seq));
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

//! The change feed (`GET /config/{appId}/changes`): every committed change of an application in
//! revision order, read from the audit table (so it resumes from any revision with no gap and
//! no duplicate) and followed live through this instance's change notifications.

use std::time::Duration;

use tokio::sync::mpsc;

use super::{Latchkey, RequestContext, ServiceError};
use crate::cache::FeedPlace;
use crate::domain::audit::StoredEvent;
use crate::domain::ids::{AppId, Named};
use crate::store;

/// Events read from the audit table per query.
const BATCH: i64 = 200;
/// A subscriber whose buffer stays full this long is disconnected (it resumes from its last
/// event id; nothing is lost, the audit table is the source).
const SLOW_SUBSCRIBER: Duration = Duration::from_secs(5);

/// What a feed subscriber receives.
#[derive(Debug)]
pub enum FeedItem {
    /// A committed change; its `seq` is the revision.
    Change(Box<StoredEvent>),
    /// Nothing happened for a while: the connection is alive.
    Heartbeat,
}

impl Latchkey {
    /// Starts a feed of the application's changes after revision `after`. Owner or operator.
    /// The receiver ends when the subscriber is too slow or the database fails.
    pub async fn change_feed(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        after: i64,
    ) -> Result<mpsc::Receiver<FeedItem>, ServiceError> {
        ctx.owner()?;
        self.ensure_app(ctx, app_id).await?;
        let place = self
            .snapshots
            .feed_place()
            .ok_or(ServiceError::Unavailable)?;
        let (tx, rx) = mpsc::channel(self.snapshots.config().feed_buffer);
        tokio::spawn(self.clone().follow(app_id.to_string(), after, tx, place));
        Ok(rx)
    }

    async fn follow(
        self,
        app_id: String,
        mut cursor: i64,
        tx: mpsc::Sender<FeedItem>,
        _place: FeedPlace,
    ) {
        let heartbeat = self.snapshots.config().feed_heartbeat;
        let mut changed = self.snapshots.watch(&app_id);
        if !send(&tx, FeedItem::Heartbeat).await {
            return;
        }
        loop {
            // Whatever is announced from here on wakes the wait below.
            changed.borrow_and_update();
            loop {
                let rows = match store::audit::list(&self.pool, &app_id, cursor, BATCH).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::warn!(error = %e, "change feed cannot read the audit log");
                        return;
                    }
                };
                let full_batch = rows.len() as i64 == BATCH;
                for row in rows {
                    let seq = row.seq;
                    let stored = match row.into_stored() {
                        Ok(stored) => stored,
                        Err(e) => {
                            tracing::warn!(error = %e, "change feed cannot read the audit log");
                            return;
                        }
                    };
                    if !send(&tx, FeedItem::Change(Box::new(stored))).await {
                        return;
                    }
                    cursor = seq;
                }
                if !full_batch {
                    break;
                }
            }
            tokio::select! {
                woken = changed.changed() => {
                    if woken.is_err() {
                        return;
                    }
                }
                // Quiet: a heartbeat, then read the log again (which also covers a change whose
                // notification was lost).
                _ = tokio::time::sleep(heartbeat) => {
                    if !send(&tx, FeedItem::Heartbeat).await {
                        return;
                    }
                }
                _ = tx.closed() => return,
            }
        }
    }
}

/// Queues an item; `false` when the subscriber is gone or too slow.
async fn send(tx: &mpsc::Sender<FeedItem>, item: FeedItem) -> bool {
    match tokio::time::timeout(SLOW_SUBSCRIBER, tx.send(item)).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            tracing::info!("change-feed subscriber too slow: disconnected");
            false
        }
    }
}

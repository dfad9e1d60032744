//! Audit reporting: query, stream, verify, report, retention and pruning of an application's
//! audit log. Reading is for the application's owners and the operator; retention and pruning
//! (which destroy evidence) are for the operator only.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use sqlx::PgPool;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::apps::AppDirectory;
use super::replica::{self, Replica};
use super::{commit, commit_audited, Committed, Latchkey, RequestContext, ServiceError};
use crate::domain::audit::{AuditAction, AuditEvent, StoredEvent};
use crate::domain::audit_changes::{self as changes_of, Payload};

use crate::domain::audit::format_time;
use crate::domain::audit_query::{parse_keep_days, AuditFilter, AuditInputError, Cursor, Order};
use crate::domain::audit_report::{
    client_permissions, AuditReport, ClientHistory, ClientPermissions,
};
use crate::domain::audit_verify::{Anchor, ChainHead, ChainVerifier, Checkpoint, Verdict};
use crate::domain::ids::{AppId, Named};
use crate::store::{self, audit::EventQuery, audit::SeqBounds, WriteTx};

/// Events per message between the database reader and the writer of a stream.
const STREAM_BATCH: usize = 256;
/// Batches in flight: with the batch size, this bounds a stream's memory.
const STREAM_DEPTH: usize = 4;
/// Whole-log reads (exports, verifications) running at once per process; more wait their turn,
/// so a burst of exports cannot take every database connection.
const MAX_LOG_READERS: usize = 4;
/// How long a whole-log read waits for its turn before the caller gets 503.
const LOG_READER_WAIT: Duration = Duration::from_secs(30);
/// A stream whose reader takes nothing for this long is abandoned (its slot and connection
/// are freed; the response ends early, which the client sees as a broken transfer).
const STALLED_READER: Duration = Duration::from_secs(60);

fn log_readers() -> Arc<Semaphore> {
    static READERS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    READERS
        .get_or_init(|| Arc::new(Semaphore::new(MAX_LOG_READERS)))
        .clone()
}

async fn log_reader_permit() -> Result<OwnedSemaphorePermit, ServiceError> {
    match tokio::time::timeout(LOG_READER_WAIT, log_readers().acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => {
            tracing::warn!("all whole-log readers busy; refusing an audit export or verification");
            Err(ServiceError::Unavailable)
        }
    }
}

/// One page of events and where the next one starts (`None` on the last page).
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub events: Vec<StoredEvent>,
    pub next: Option<Cursor>,
}

/// Every matching event, in batches, read by a background task with bounded buffering: memory
/// stays constant however long the log. Dropping the stream stops the read.
pub struct AuditStream {
    rx: mpsc::Receiver<Result<Vec<StoredEvent>, ServiceError>>,
}

impl Stream for AuditStream {
    type Item = Result<Vec<StoredEvent>, ServiceError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// What `latchkey audit prune` did for one application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneOutcome {
    pub app_id: String,
    pub keep_days: Option<i32>,
    /// Events removed (0: nothing had expired, or no retention is set).
    pub pruned: u64,
    pub through_seq: Option<i64>,
    /// The checkpoint event written before the removal.
    pub checkpoint_seq: Option<i64>,
}

/// Who may read an application's audit log, its evidence and its entitlements: its owners, and
/// the operator. A function of the application check, not a method, so that both audit structs
/// (`AuditService`, `EvidenceService`) make the same one.
pub(super) async fn ensure_reader(
    apps: &AppDirectory,
    ctx: &RequestContext,
    app_id: &Named<AppId>,
) -> Result<(), ServiceError> {
    ctx.owner()?;
    apps.ensure(ctx, app_id).await
}

/// The audit log's use cases, reached as `service.audit()`: reading it (pages, streams,
/// verification, the report), retention and pruning, and the entitlements it is folded into
/// (`src/service/entitlements.rs`: the same reader check and read pool, and a prune keeps their
/// states). They hold the pool, the read replica (access reviews and exports may read there)
/// and the application check; not the sealing key nor the checkpoint host, which only the
/// evidence (`EvidenceService`) needs.
#[derive(Clone)]
pub struct AuditService<'a> {
    pub(super) pool: &'a PgPool,
    pub(super) apps: &'a AppDirectory,
    pub(super) replica: Option<&'a Replica>,
}

impl Latchkey {
    /// The audit log area (reads, retention, pruning, entitlements).
    pub fn audit(&self) -> AuditService<'_> {
        AuditService {
            pool: &self.pool,
            apps: &self.directory,
            replica: self.replica.as_deref(),
        }
    }
}

impl<'a> AuditService<'a> {
    /// The pool for a read of `app_id` that may come from the replica.
    pub(super) fn read_pool(&self, app_id: &str) -> &'a PgPool {
        replica::read_pool(self.pool, self.replica, app_id)
    }

    /// Owners of the application, and the operator.
    pub(super) async fn reader(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
    ) -> Result<(), ServiceError> {
        ensure_reader(self.apps, ctx, app_id).await
    }

    /// One page, keyset-paginated by `seq`: a page never repeats or skips an event, even while
    /// new events arrive (they commit in `seq` order).
    pub async fn page(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        filter: &AuditFilter,
        order: Order,
        after: Option<i64>,
        limit: u32,
    ) -> Result<AuditPage, ServiceError> {
        filter.check_period()?;
        self.reader(ctx, app_id).await?;
        let limit = limit.clamp(1, crate::domain::audit_query::MAX_LIMIT);
        let mut conn = self.read_pool(app_id.as_str()).acquire().await?;
        let bounds = store::audit::seq_bounds(&mut conn, app_id.as_str(), filter).await?;
        let rows = EventQuery::new(
            app_id.as_str(),
            filter,
            bounds,
            order,
            after,
            Some(i64::from(limit) + 1),
        )
        .fetch_all(&mut *conn)
        .await?;
        let more = rows.len() > limit as usize;
        let events: Vec<StoredEvent> = rows
            .into_iter()
            .take(limit as usize)
            .map(|r| r.into_stored())
            .collect::<Result<_, _>>()?;
        let next = more.then(|| Cursor {
            order,
            seq: events.last().map_or(0, |e| e.event.seq),
        });
        Ok(AuditPage { events, next })
    }

    /// Every event matching `filter`, as a stream (exports and the ndjson/csv API).
    pub async fn stream(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        filter: AuditFilter,
        order: Order,
    ) -> Result<AuditStream, ServiceError> {
        filter.check_period()?;
        self.reader(ctx, app_id).await?;
        let permit = log_reader_permit().await?;
        let pool = self.read_pool(app_id.as_str()).clone();
        let bounds =
            store::audit::seq_bounds(&mut *pool.acquire().await?, app_id.as_str(), &filter).await?;
        let (tx, rx) = mpsc::channel(STREAM_DEPTH);
        let app_id = app_id.to_owned();
        tokio::spawn(async move {
            let _permit = permit;
            let mut query = EventQuery::new(app_id.as_str(), &filter, bounds, order, None, None);
            let mut rows = query.fetch(&pool);
            let mut batch = Vec::with_capacity(STREAM_BATCH);
            while let Some(row) = rows.next().await {
                match row {
                    Ok(row) => {
                        let stored = match row.into_stored() {
                            Ok(stored) => stored,
                            Err(e) => {
                                let _ = tx.send_timeout(Err(e.into()), STALLED_READER).await;
                                return;
                            }
                        };
                        batch.push(stored);
                        if batch.len() == STREAM_BATCH {
                            let full =
                                std::mem::replace(&mut batch, Vec::with_capacity(STREAM_BATCH));
                            if tx.send_timeout(Ok(full), STALLED_READER).await.is_err() {
                                return; // the reader went away, or stopped reading
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.send_timeout(Err(e.into()), STALLED_READER).await;
                        return;
                    }
                }
            }
            if !batch.is_empty() {
                let _ = tx.send_timeout(Ok(batch), STALLED_READER).await;
            }
        });
        Ok(AuditStream { rx })
    }

    /// Walks the whole chain of `app_id` in one consistent snapshot and reports the first broken
    /// or missing `seq`, or the head and count when intact.
    pub async fn verify(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        anchors: Vec<Anchor>,
    ) -> Result<Verdict, ServiceError> {
        self.reader(ctx, app_id).await?;
        let _permit = log_reader_permit().await?;
        let mut tx = store::begin_snapshot(self.pool).await?;
        let head = store::audit::head(&mut *tx, app_id.as_str())
            .await?
            .map(|(seq, hash)| ChainHead { seq, hash });
        let mut checkpoints = Vec::new();
        for row in store::audit::checkpoints(&mut *tx, app_id.as_str()).await? {
            checkpoints.extend(Checkpoint::from_event(&row.event()?));
        }
        let mut verifier = ChainVerifier::new(checkpoints, anchors);
        let mut query = EventQuery::new(
            app_id.as_str(),
            &AuditFilter::default(),
            SeqBounds::ALL,
            Order::OldestFirst,
            None,
            None,
        );
        {
            let mut rows = query.fetch(&mut *tx);
            while let Some(row) = rows.next().await {
                let s = row?.into_stored()?;
                if !verifier.push(&s.event, &s.prev_hash, &s.hash) {
                    break;
                }
            }
        }
        // Read only: nothing to commit, and ending here skips rows a break left unread.
        drop(tx);
        Ok(verifier.finish(head.as_ref()))
    }

    /// Per client: features at `since` and at `until`, and each grant or revocation between.
    pub async fn report(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<AuditReport, ServiceError> {
        if since >= until {
            return Err(AuditInputError::EmptyPeriod.into());
        }
        self.reader(ctx, app_id).await?;
        let app = store::apps::get(self.pool, app_id.as_str())
            .await?
            .ok_or(ServiceError::AppNotFound)?;
        // One snapshot, so the current state and the log agree.
        let mut tx = store::begin_snapshot(self.read_pool(app_id.as_str())).await?;
        let current = store::clients::list(&mut *tx, app_id.as_str()).await?;
        let mut first_since: HashMap<String, AuditEvent> = HashMap::new();
        for row in
            store::audit::first_feature_events_since(&mut *tx, app_id.as_str(), since).await?
        {
            if let Some(c) = row.target_client_id.clone() {
                first_since.insert(c, row.event()?);
            }
        }
        let mut in_period: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for row in store::audit::permission_events(&mut *tx, app_id.as_str(), since, until).await? {
            if let Some(c) = row.target_client_id.clone() {
                in_period.entry(c).or_default().push(row.event()?);
            }
        }
        let mut names: HashMap<String, String> = current
            .iter()
            .map(|c| (c.client_id.clone(), c.name.clone()))
            .collect();
        let mut ids: Vec<String> = names.keys().cloned().collect();
        ids.extend(first_since.keys().cloned());
        ids.extend(in_period.keys().cloned());
        ids.extend(
            in_period
                .values()
                .flatten()
                .map(|e| e.actor.clone())
                .filter(|a| a != crate::domain::audit::OPERATOR_ACTOR),
        );
        ids.sort();
        ids.dedup();
        let unnamed: Vec<String> = ids
            .iter()
            .filter(|id| !names.contains_key(*id))
            .cloned()
            .collect();
        if !unnamed.is_empty() {
            names.extend(
                store::audit::last_recorded_names(&mut *tx, app_id.as_str(), &unnamed).await?,
            );
        }
        drop(tx);
        let clients = report_clients(&ids, &names, &current, &first_since, &in_period);
        Ok(AuditReport {
            app_id: app_id.to_string(),
            app_name: app.name,
            since,
            until,
            clients,
        })
    }

    /// Retention in days (`None`: keep forever).
    pub async fn retention(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
    ) -> Result<Option<i32>, ServiceError> {
        self.reader(ctx, app_id).await?;
        Ok(store::audit::retention(self.pool, app_id.as_str()).await?)
    }

    /// Sets (`Some(days)`) or removes (`None`: keep forever) the retention period. Operator only:
    /// it decides how long evidence lives. Audited as `audit.retention_set`.
    pub async fn set_retention(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        keep_days: Option<i64>,
    ) -> Result<Committed<Option<i32>>, ServiceError> {
        let keep_days = keep_days.map(parse_keep_days).transpose()?;
        ctx.operator()?;
        self.apps.ensure(ctx, app_id).await?;
        let mut tx = WriteTx::begin(self.pool).await?;
        let before = store::audit::set_retention(&mut tx, app_id.as_str(), keep_days).await?;
        if before == keep_days {
            return Ok(Committed::unchanged(keep_days));
        }
        let mut event = ctx.audit_event(app_id.as_str(), AuditAction::AuditRetentionSet);
        event.changes = changes_of::RetentionChanged {
            keep_days: changes_of::FromTo {
                from: before,
                to: keep_days,
            },
        }
        .into_changes();
        commit_audited(tx, event, keep_days).await
    }

    /// Applications with a retention period (what `latchkey audit prune` walks). Operator only.
    pub async fn apps_with_retention(
        &self,
        ctx: &RequestContext,
    ) -> Result<Vec<AppId>, ServiceError> {
        ctx.operator()?;
        Ok(store::audit::apps_with_retention(self.pool)
            .await?
            .into_iter()
            .map(|(a, _)| AppId::from_trusted(a))
            .collect())
    }

    /// Removes the events of `app_id` older than its retention period, as of `now`. First
    /// appends a checkpoint event (`audit.prune`) recording the pruned prefix's last `seq` and
    /// hash, so the remaining chain still verifies; both happen in one transaction. Operator only.
    /// `dry_run`: only say what would go.
    pub async fn prune(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Committed<PruneOutcome>, ServiceError> {
        self.prune_with(ctx, app_id, now, dry_run, false).await
    }

    /// [`Self::prune`], which refuses (`SinksOwe`) to remove events that an active sink
    /// covering the application has not delivered yet, unless `force`: then the checkpoint
    /// event records the sinks that lose events (`"forcedPastSinks"`).
    pub async fn prune_with(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        now: DateTime<Utc>,
        dry_run: bool,
        force: bool,
    ) -> Result<Committed<PruneOutcome>, ServiceError> {
        ctx.operator()?;
        self.apps.ensure(ctx, app_id).await?;
        let mut outcome = PruneOutcome {
            app_id: app_id.to_string(),
            keep_days: None,
            pruned: 0,
            through_seq: None,
            checkpoint_seq: None,
        };
        let mut tx = WriteTx::begin(self.pool).await?;
        // Locks the retention row: a second prune of this application waits, then finds
        // nothing left to do.
        let Some(keep_days) = store::audit::lock_retention(&mut tx, app_id.as_str()).await? else {
            return Ok(Committed::unchanged(outcome));
        };
        if let Some(until) = store::evidence::hold(&mut *tx, app_id.as_str()).await? {
            if until > now {
                // Ended now, not when the connection is next used: a later prune waits for it.
                tx.rollback().await?;
                return Err(ServiceError::AuditHold {
                    app_id: app_id.to_string(),
                    until: format_time(&until),
                });
            }
        }
        outcome.keep_days = Some(keep_days);
        let cutoff = now - chrono::Duration::days(i64::from(keep_days));
        let Some((first, through, hash, count)) =
            store::audit::expired_prefix(&mut tx, app_id.as_str(), cutoff).await?
        else {
            return Ok(Committed::unchanged(outcome));
        };
        let hash = hash.ok_or(ServiceError::AuditChainDamaged { seq: through })?;
        let owing = store::sinks::owing(&mut *tx, app_id.as_str(), through).await?;
        if !owing.is_empty() && !force {
            // As for a hold: the retention row's lock ends now.
            tx.rollback().await?;
            return Err(ServiceError::SinksOwe {
                sinks: owing,
                through,
            });
        }
        if dry_run {
            outcome.pruned = count as u64;
            outcome.through_seq = Some(through);
            return Ok(Committed::unchanged(outcome));
        }
        // The entitlements at the prune point stay answerable (docs/audit.md "Access
        // reviews"): their state is stored before the events that make it go.
        super::entitlements::keep_state_at(&mut tx, app_id.as_str(), through).await?;
        // Delete first, then append: the append locks the chain head, and holding that lock
        // through a long delete would stall every change to the application.
        let deleted = store::audit::delete_prefix(&mut tx, app_id.as_str(), through).await?;
        if deleted != count as u64 {
            return Err(ServiceError::AuditChainDamaged { seq: first });
        }
        super::entitlements::drop_states_before(&mut tx, app_id.as_str(), through).await?;
        let mut event = ctx.audit_event(app_id.as_str(), AuditAction::AuditPrune);
        let mut pruned = changes_of::Pruned::new(first, through, &hash, count, &cutoff, keep_days);
        pruned.forced_past_sinks = owing;
        event.changes = (&pruned).into_changes();
        let checkpoint = store::audit::append(&mut tx, event).await?;
        outcome.pruned = deleted;
        outcome.through_seq = Some(through);
        outcome.checkpoint_seq = Some(checkpoint.seq);
        commit(tx, outcome).await
    }
}

/// The report's clients: each of `ids` that exists now or has events from `since` on, with its
/// permissions at both ends of the period and between, sorted by name.
fn report_clients(
    ids: &[String],
    names: &HashMap<String, String>,
    current: &[store::clients::ClientRow],
    first_since: &HashMap<String, AuditEvent>,
    in_period: &BTreeMap<String, Vec<AuditEvent>>,
) -> Vec<ClientPermissions> {
    let features: HashMap<&str, Vec<String>> = current
        .iter()
        .map(|c| {
            (
                c.client_id.as_str(),
                crate::domain::FeatureSet::from_stored(&c.features).names(),
            )
        })
        .collect();
    let empty = Vec::new();
    let mut clients: Vec<_> = ids
        .iter()
        .filter(|id| {
            features.contains_key(id.as_str())
                || first_since.contains_key(*id)
                || in_period.contains_key(*id)
        })
        .filter_map(|id| {
            client_permissions(
                ClientHistory {
                    client_id: id,
                    name: names.get(id).cloned(),
                    first_since: first_since.get(id),
                    current: features.get(id.as_str()).map(Vec::as_slice),
                    in_period: in_period.get(id).unwrap_or(&empty),
                },
                |actor| names.get(actor).cloned(),
            )
        })
        .collect();
    clients.sort_by(|a, b| (&a.name, &a.client_id).cmp(&(&b.name, &b.client_id)));
    clients
}

//! The audit log: appending to an application's hash chain, reading it back (pages, streams,
//! the whole chain for verification), retention and pruning.

use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder};

use super::{StoreResult, WriteTx};
use crate::domain::audit::{
    canonical_from_text, AuditAction, AuditEvent, StoredEvent, GENESIS_HASH,
};
use crate::domain::audit_query::{AuditFilter, Order};

/// Starts an application's chain (in the transaction that creates the application).
pub async fn init_chain(db: impl PgExecutor<'_>, app_id: &str) -> StoreResult<()> {
    sqlx::query!(
        "INSERT INTO audit_heads (app_id, seq, hash) VALUES ($1, 0, $2)",
        app_id,
        &GENESIS_HASH[..],
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Appends `event` to its application's chain, filling in `seq`. Locks the chain head until the
/// transaction ends, so call it last in a transaction to hold the lock briefly.
///
/// Two properties the readers rely on follow from that lock: events commit in `seq` order (a
/// reader that has seen `seq` n never later sees a new event below n), and `occurred_at` never
/// decreases along `seq` (an event stamped before a concurrent one that won the lock takes the
/// winner's time), so a time range is a `seq` range.
pub async fn append(tx: &mut WriteTx, mut event: AuditEvent) -> StoreResult<AuditEvent> {
    let conn: &mut PgConnection = tx;
    // One statement locks the chain head, takes the next `seq` and time from it, hashes the
    // event onto the head's hash, inserts it, moves the head and announces the change: the
    // head's row lock is then held for this statement and COMMIT only. Every round trip while
    // it is held makes every other writer of this application wait (bench (b)); reading the
    // head first and hashing here cost one more, and on a busy server the answer of the read
    // also waited for a worker thread before the write could be sent.
    //
    // PostgreSQL computes the hash of the canonical form (domain::audit, "The hash recipe")
    // from the parts the event gives, with the head's `occurred_at` and `seq` put in
    // (`CanonicalParts`); the time is printed as `format_time` prints it. Debug builds (every
    // test) recompute it here and compare.
    //
    // `FOR UPDATE` in READ COMMITTED returns the head as the writer it waited for left it; the
    // UPDATE below then finds that same, newest row version (locked by this statement) and
    // writes it. The Merkle trigger on audit_events does not read audit_heads.
    let parts = event.canonical_parts();
    let row = sqlx::query!(
        r#"WITH old AS (
             SELECT seq, hash, occurred_at FROM audit_heads WHERE app_id = $1 FOR UPDATE),
         next AS (
             SELECT old.seq + 1 AS seq, old.hash AS prev_hash,
                    greatest($3::timestamptz, old.occurred_at) AS occurred_at
             FROM old),
         chained AS (
             SELECT next.seq, next.prev_hash, next.occurred_at,
                    sha256(next.prev_hash || convert_to(
                        $12::text
                        || to_char(next.occurred_at AT TIME ZONE 'UTC',
                                   'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
                        || $13::text || next.seq::text || $14::text, 'UTF8')) AS hash
             FROM next),
         event AS (
             INSERT INTO audit_events (app_id, seq, event_id, occurred_at, actor, actor_ip,
                 request_id, action, target_client_id, features_before, features_after,
                 changes, prev_hash, hash)
             SELECT $1, c.seq, $2, c.occurred_at, $4, $5::text::inet, $6, $7, $8, $9, $10,
                    $11, c.prev_hash, c.hash
             FROM chained c
             RETURNING app_id, seq, occurred_at, prev_hash, hash),
         head AS (
             UPDATE audit_heads h SET seq = c.seq, hash = c.hash, occurred_at = c.occurred_at
             FROM chained c WHERE h.app_id = $1
             RETURNING h.app_id, h.seq)
         SELECT e.seq AS "seq!", e.occurred_at AS "occurred_at!", e.prev_hash AS "prev_hash!",
                e.hash AS "hash!"
         FROM head JOIN event e USING (app_id, seq)
         CROSS JOIN LATERAL (SELECT pg_notify($15, head.seq::text || ' ' || head.app_id || ' '
                                              || (head.seq - 1)::text || ' ' || $16)) n"#,
        &event.app_id,
        event.event_id,
        event.occurred_at,
        &event.actor,
        event.actor_ip.as_deref(),
        &event.request_id,
        event.action.as_str(),
        event.target_client_id.as_deref(),
        event.features_before.as_deref(),
        event.features_after.as_deref(),
        &event.changes,
        parts.before,
        parts.between,
        parts.after,
        super::tx::CHANNEL,
        event.only_client().unwrap_or(super::tx::WHOLE_APPLICATION),
    )
    .fetch_one(&mut *conn)
    .await?;
    event.seq = row.seq;
    event.occurred_at = row.occurred_at;
    debug_assert_eq!(
        event.chain_hash(&row.prev_hash)[..],
        row.hash[..],
        "PostgreSQL hashed another text than domain::audit's canonical form"
    );
    tx.wrote(&event.app_id, event.seq - 1, event.seq, event.only_client());
    Ok(event)
}

/// Moves the chain head to the events just inserted by [`append_all`] ([`append`] does the
/// same within its INSERT). Every write passes here or there, so this is where the change is
/// announced: PostgreSQL delivers the notification at commit (never for a
/// rolled-back transaction) to every instance listening (`crate::cache`); the payload is
/// described at [`super::tx::CHANNEL`]. A batch may reach any client: it names none.
async fn advance_head(
    conn: &mut PgConnection,
    app_id: &str,
    from: i64,
    seq: i64,
    hash: &[u8],
    occurred_at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query!(
        "WITH head AS (
             UPDATE audit_heads SET seq = $2, hash = $3, occurred_at = $4 WHERE app_id = $1
             RETURNING app_id, seq)
         SELECT pg_notify($5, seq::text || ' ' || app_id || ' ' || $6::int8::text || ' ' || $7)
         FROM head",
        app_id,
        seq,
        hash,
        occurred_at,
        super::tx::CHANNEL,
        from,
        super::tx::WHOLE_APPLICATION,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Appends several events of one application, in order, as [`append`] does each, but with one
/// lock of the chain head, one INSERT and one head update for them all (a restore or a fixture
/// writes thousands). Every event gets the time of the latest one before it if that is later.
pub async fn append_all(
    tx: &mut WriteTx,
    mut events: Vec<AuditEvent>,
) -> StoreResult<Vec<AuditEvent>> {
    let conn: &mut PgConnection = tx;
    let Some(app_id) = events.first().map(|e| e.app_id.clone()) else {
        return Ok(events);
    };
    let head = sqlx::query!(
        "SELECT seq, hash, occurred_at FROM audit_heads WHERE app_id = $1 FOR UPDATE",
        &app_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    let (mut seq, mut prev_hash, mut last_time) = (head.seq, head.hash, head.occurred_at);
    let mut rows = Vec::with_capacity(events.len());
    for event in &mut events {
        seq += 1;
        event.seq = seq;
        if let Some(last) = last_time {
            event.occurred_at = event.occurred_at.max(last);
        }
        last_time = Some(event.occurred_at);
        let hash = event.chain_hash(&prev_hash);
        rows.push(serde_json::json!({
            "app_id": event.app_id,
            "seq": event.seq,
            "event_id": event.event_id,
            "occurred_at": event.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "actor": event.actor,
            "actor_ip": event.actor_ip,
            "request_id": event.request_id,
            "action": event.action,
            "target_client_id": event.target_client_id,
            "features_before": event.features_before,
            "features_after": event.features_after,
            "changes": event.changes,
            "prev_hash": format!("\\x{}", hex::encode(&prev_hash)),
            "hash": format!("\\x{}", hex::encode(hash)),
        }));
        prev_hash = hash.to_vec();
    }
    sqlx::query!(
        "INSERT INTO audit_events (app_id, seq, event_id, occurred_at, actor, actor_ip,
             request_id, action, target_client_id, features_before, features_after, changes,
             prev_hash, hash)
         SELECT app_id, seq, event_id, occurred_at, actor, actor_ip, request_id, action,
                target_client_id, features_before, features_after, changes, prev_hash, hash
         FROM jsonb_populate_recordset(NULL::audit_events, $1)
         ORDER BY seq",
        serde_json::Value::Array(rows),
    )
    .execute(&mut *conn)
    .await?;
    // One notification for the whole batch.
    if let Some(last) = last_time {
        advance_head(conn, &app_id, head.seq, seq, &prev_hash, last).await?;
        tx.wrote(&app_id, head.seq, seq, None);
    }
    Ok(events)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub app_id: String,
    pub seq: i64,
    pub event_id: uuid::Uuid,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub actor_ip: Option<String>,
    pub request_id: String,
    pub action: String,
    pub target_client_id: Option<String>,
    pub features_before: Option<Vec<String>>,
    pub features_after: Option<Vec<String>>,
    /// The stored JSON as text: decoded in [`AuditRow::into_stored`], where a value too deep
    /// for serde_json is kept as canonical text instead of failing the whole read.
    pub changes: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

impl AuditRow {
    pub fn event(&self) -> StoreResult<AuditEvent> {
        Ok(self.clone().into_stored()?.event)
    }

    /// The chained event with its `prev_hash` and `hash`. An action this release does not
    /// know (written by a later one) is an error, not a guess.
    pub fn into_stored(self) -> StoreResult<StoredEvent> {
        let action: AuditAction = self
            .action
            .parse()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        // The event was hashed with the address as Rust prints it; PostgreSQL may print the
        // same inet differently (e.g. IPv4-compatible IPv6), so print it the Rust way again.
        let actor_ip = self.actor_ip.map(|ip| {
            ip.parse::<std::net::IpAddr>()
                .map(|a| a.to_string())
                .unwrap_or(ip)
        });
        let (changes, changes_text) = match serde_json::from_str(&self.changes) {
            Ok(value) => (value, None),
            Err(_) => {
                let text = canonical_from_text(&self.changes).unwrap_or(self.changes);
                (serde_json::Value::Null, Some(text))
            }
        };
        Ok(StoredEvent {
            event: AuditEvent {
                app_id: self.app_id,
                seq: self.seq,
                event_id: self.event_id,
                occurred_at: self.occurred_at,
                actor: self.actor,
                actor_ip,
                request_id: self.request_id,
                action,
                target_client_id: self.target_client_id,
                features_before: self.features_before,
                features_after: self.features_after,
                changes,
                changes_text,
            },
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// The columns of an [`AuditRow`] from `audit_events e`, for the filtered reads (the checked
/// queries below spell them out).
const E_COLUMNS: &str = "e.app_id, e.seq, e.event_id, e.occurred_at, e.actor,
    host(e.actor_ip) AS actor_ip, e.request_id, e.action, e.target_client_id, e.features_before,
    e.features_after, e.changes::text AS changes, e.prev_hash, e.hash";

/// Events of an application in chain order, from `after_seq` (exclusive), at most `limit`.
pub async fn list(
    db: impl PgExecutor<'_>,
    app_id: &str,
    after_seq: i64,
    limit: i64,
) -> StoreResult<Vec<AuditRow>> {
    Ok(sqlx::query_as!(
        AuditRow,
        r#"SELECT app_id, seq, event_id, occurred_at, actor, host(actor_ip) AS actor_ip,
                  request_id, action, target_client_id, features_before, features_after,
                  changes::text AS "changes!", prev_hash, hash
             FROM audit_events WHERE app_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"#,
        app_id,
        after_seq,
        limit,
    )
    .fetch_all(db)
    .await?)
}

/// The `seq` range a time filter covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqBounds {
    /// No event is inside the time range.
    Nothing,
    Range {
        from: Option<i64>,
        to: Option<i64>,
    },
}

impl SeqBounds {
    pub const ALL: SeqBounds = SeqBounds::Range {
        from: None,
        to: None,
    };
}

/// Turns `since`/`until` into the `seq` range holding them, through the time index (two index
/// probes). Exact because `occurred_at` never decreases along `seq`. Passed to the main query as
/// values, so PostgreSQL plans a range walk of the log, whatever the width of the window.
pub async fn seq_bounds(
    conn: &mut PgConnection,
    app_id: &str,
    filter: &AuditFilter,
) -> StoreResult<SeqBounds> {
    let from = match filter.since {
        None => None,
        Some(since) => match sqlx::query_scalar!(
            "SELECT seq FROM audit_events WHERE app_id = $1 AND occurred_at >= $2
             ORDER BY occurred_at, seq LIMIT 1",
            app_id,
            since,
        )
        .fetch_optional(&mut *conn)
        .await?
        {
            None => return Ok(SeqBounds::Nothing),
            some => some,
        },
    };
    let to = match filter.until {
        None => None,
        Some(until) => match sqlx::query_scalar!(
            "SELECT seq FROM audit_events WHERE app_id = $1 AND occurred_at < $2
             ORDER BY occurred_at DESC, seq DESC LIMIT 1",
            app_id,
            until,
        )
        .fetch_optional(&mut *conn)
        .await?
        {
            None => return Ok(SeqBounds::Nothing),
            some => some,
        },
    };
    Ok(SeqBounds::Range { from, to })
}

/// A filtered, ordered read of one application's events (keyset by `seq`).
///
/// Each filter uses an index that is already in `seq` order (`client`, `actor`, `action`, and
/// `feature` through `audit_feature_changes`); `since`/`until` arrive as `seq` bounds (see
/// [`seq_bounds`]) and stay as conditions too, so the result is exact whatever plan PostgreSQL
/// picks. Queries are planned
/// for their actual values on every call (no cached generic plan): how selective each value is
/// decides which index to walk.
pub struct EventQuery {
    qb: QueryBuilder<'static, Postgres>,
}

impl EventQuery {
    /// `bounds`: from [`seq_bounds`] for the same filter. `after`: continue after this seq in the
    /// walking order. `limit`: `None` for every event.
    pub fn new(
        app_id: &str,
        filter: &AuditFilter,
        bounds: SeqBounds,
        order: Order,
        after: Option<i64>,
        limit: Option<i64>,
    ) -> Self {
        // Dynamic SQL (the filters present decide the joins and conditions): a QueryBuilder,
        // not a compile-time checked query.
        let mut qb = QueryBuilder::new(format!("SELECT {E_COLUMNS} FROM audit_events e"));
        if let Some(f) = &filter.feature {
            // One row per event that changed the feature, walked (or looked up) by its btree.
            qb.push(" JOIN audit_feature_changes f ON f.app_id = e.app_id AND f.seq = e.seq AND f.feature = ")
                .push_bind(f.clone());
        }
        qb.push(" WHERE e.app_id = ").push_bind(app_id.to_owned());
        if let Some(c) = &filter.client {
            qb.push(" AND e.target_client_id = ").push_bind(c.clone());
        }
        if let Some(a) = &filter.actor {
            qb.push(" AND e.actor = ").push_bind(a.clone());
        }
        if let Some(a) = &filter.action {
            qb.push(" AND e.action = ").push_bind(a.clone());
        }
        if let Some(since) = filter.since {
            qb.push(" AND e.occurred_at >= ").push_bind(since);
        }
        if let Some(until) = filter.until {
            qb.push(" AND e.occurred_at < ").push_bind(until);
        }
        match bounds {
            SeqBounds::Nothing => {
                qb.push(" AND false");
            }
            SeqBounds::Range { from, to } => {
                if let Some(from) = from {
                    qb.push(" AND e.seq >= ").push_bind(from);
                }
                if let Some(to) = to {
                    qb.push(" AND e.seq <= ").push_bind(to);
                }
            }
        }
        let (cmp, dir) = match order {
            Order::NewestFirst => (" AND e.seq < ", " ORDER BY e.seq DESC"),
            Order::OldestFirst => (" AND e.seq > ", " ORDER BY e.seq"),
        };
        if let Some(after) = after {
            qb.push(cmp).push_bind(after);
        }
        qb.push(dir);
        if let Some(limit) = limit {
            qb.push(" LIMIT ").push_bind(limit);
        }
        Self { qb }
    }

    pub async fn fetch_all(&mut self, db: impl PgExecutor<'_>) -> StoreResult<Vec<AuditRow>> {
        Ok(self
            .qb
            .build_query_as::<AuditRow>()
            .persistent(false)
            .fetch_all(db)
            .await?)
    }

    /// Rows as PostgreSQL sends them: constant memory however many match.
    pub fn fetch<'e>(
        &'e mut self,
        db: impl PgExecutor<'e> + 'e,
    ) -> BoxStream<'e, StoreResult<AuditRow>> {
        self.qb
            .build_query_as::<AuditRow>()
            .persistent(false)
            .fetch(db)
            .map(|r| r.map_err(Into::into))
            .boxed()
    }
}

/// The chain head as `audit_heads` records it: `(seq, hash)`.
pub async fn head(db: impl PgExecutor<'_>, app_id: &str) -> StoreResult<Option<(i64, Vec<u8>)>> {
    Ok(sqlx::query!(
        "SELECT seq, hash FROM audit_heads WHERE app_id = $1",
        app_id
    )
    .fetch_optional(db)
    .await?
    .map(|r| (r.seq, r.hash)))
}

/// Every checkpoint event (`audit.prune`) still stored, oldest first.
pub async fn checkpoints(db: impl PgExecutor<'_>, app_id: &str) -> StoreResult<Vec<AuditRow>> {
    Ok(sqlx::query_as!(
        AuditRow,
        r#"SELECT app_id, seq, event_id, occurred_at, actor, host(actor_ip) AS actor_ip,
                  request_id, action, target_client_id, features_before, features_after,
                  changes::text AS "changes!", prev_hash, hash
             FROM audit_events WHERE app_id = $1 AND action = $2 ORDER BY seq"#,
        app_id,
        AuditAction::AuditPrune.as_str(),
    )
    .fetch_all(db)
    .await?)
}

/// Per client, its first event at or after `since` that records features (the report reads the
/// client's features at `since` from that event's `features_before`).
pub async fn first_feature_events_since(
    db: impl PgExecutor<'_>,
    app_id: &str,
    since: DateTime<Utc>,
) -> StoreResult<Vec<AuditRow>> {
    Ok(sqlx::query_as!(
        AuditRow,
        r#"SELECT DISTINCT ON (target_client_id)
                  app_id, seq, event_id, occurred_at, actor, host(actor_ip) AS actor_ip,
                  request_id, action, target_client_id, features_before, features_after,
                  changes::text AS "changes!", prev_hash, hash
             FROM audit_events
            WHERE app_id = $1 AND occurred_at >= $2 AND target_client_id IS NOT NULL
              AND features_before IS NOT NULL AND features_after IS NOT NULL
            ORDER BY target_client_id, seq"#,
        app_id,
        since,
    )
    .fetch_all(db)
    .await?)
}

/// Events in `[since, until)` that granted or revoked a feature, or created or deleted a
/// client, by client and then in chain order.
pub async fn permission_events(
    db: impl PgExecutor<'_>,
    app_id: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> StoreResult<Vec<AuditRow>> {
    Ok(sqlx::query_as!(
        AuditRow,
        r#"SELECT app_id, seq, event_id, occurred_at, actor, host(actor_ip) AS actor_ip,
                  request_id, action, target_client_id, features_before, features_after,
                  changes::text AS "changes!", prev_hash, hash
         FROM audit_events
         WHERE app_id = $1 AND target_client_id IS NOT NULL
           AND occurred_at >= $2 AND occurred_at < $3
           AND features_before IS NOT NULL AND features_after IS NOT NULL
           AND (action IN ('client.create', 'client.delete')
                OR EXISTS (SELECT 1 FROM audit_feature_changes f
                           WHERE f.app_id = audit_events.app_id AND f.seq = audit_events.seq))
         ORDER BY target_client_id, seq"#,
        app_id,
        since,
        until,
    )
    .fetch_all(db)
    .await?)
}

/// The last name the log records for each of `client_ids` (`to` of a rename or creation, `from`
/// of its deletion), in one query: how the report names clients that no longer exist. Clients
/// the log names nowhere are left out.
pub async fn last_recorded_names(
    db: impl PgExecutor<'_>,
    app_id: &str,
    client_ids: &[String],
) -> StoreResult<Vec<(String, String)>> {
    let rows = sqlx::query!(
        r#"SELECT DISTINCT ON (target_client_id) target_client_id AS "id!",
                coalesce(changes->'name'->>'to', changes->'name'->>'from') AS name
         FROM audit_events
         WHERE app_id = $1 AND target_client_id = ANY($2) AND changes ? 'name'
         ORDER BY target_client_id, seq DESC"#,
        app_id,
        client_ids,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| Some((r.id, r.name?)))
        .collect())
}

/// Retention in days; `None`: keep forever.
pub async fn retention(db: impl PgExecutor<'_>, app_id: &str) -> StoreResult<Option<i32>> {
    Ok(sqlx::query_scalar!(
        "SELECT keep_days FROM audit_retention WHERE app_id = $1",
        app_id
    )
    .fetch_optional(db)
    .await?)
}

/// Retention in days, locking the setting until the transaction ends (one prune at a time per
/// application).
pub async fn lock_retention(conn: &mut PgConnection, app_id: &str) -> StoreResult<Option<i32>> {
    Ok(sqlx::query_scalar!(
        "SELECT keep_days FROM audit_retention WHERE app_id = $1 FOR UPDATE",
        app_id
    )
    .fetch_optional(conn)
    .await?)
}

/// Sets (or with `None` removes) the retention of an application; returns the previous one.
pub async fn set_retention(
    conn: &mut PgConnection,
    app_id: &str,
    keep_days: Option<i32>,
) -> StoreResult<Option<i32>> {
    let before = lock_retention(&mut *conn, app_id).await?;
    match keep_days {
        Some(days) => {
            sqlx::query!(
                "INSERT INTO audit_retention (app_id, keep_days) VALUES ($1, $2)
                 ON CONFLICT (app_id) DO UPDATE SET keep_days = $2, updated_at = now()",
                app_id,
                days,
            )
            .execute(&mut *conn)
            .await?;
        }
        None => {
            sqlx::query!("DELETE FROM audit_retention WHERE app_id = $1", app_id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(before)
}

/// Applications that have a retention period, with it. Operator-wide by design: `latchkey audit
/// prune` without `--app` walks every application.
pub async fn apps_with_retention(db: impl PgExecutor<'_>) -> StoreResult<Vec<(String, i32)>> {
    Ok(
        sqlx::query!("SELECT app_id, keep_days FROM audit_retention ORDER BY app_id")
            .fetch_all(db)
            .await?
            .into_iter()
            .map(|r| (r.app_id, r.keep_days))
            .collect(),
    )
}

/// The expired prefix of a chain: `(first stored seq, last seq to prune, its hash, count)`,
/// or `None` when nothing before `cutoff` can go (the hash is `None` if that event is missing). Only a prefix is ever pruned: it ends before
/// the first event at or after `cutoff`.
pub async fn expired_prefix(
    conn: &mut PgConnection,
    app_id: &str,
    cutoff: DateTime<Utc>,
) -> StoreResult<Option<(i64, i64, Option<Vec<u8>>, i64)>> {
    let first: Option<i64> = sqlx::query_scalar!(
        "SELECT min(seq) FROM audit_events WHERE app_id = $1",
        app_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let Some(first) = first else { return Ok(None) };
    // Last candidate by time, then the exact end: the prefix stops before any event at or after
    // the cutoff, even one whose time were out of order.
    let candidate: Option<i64> = sqlx::query_scalar!(
        "SELECT seq FROM audit_events WHERE app_id = $1 AND occurred_at < $2
         ORDER BY occurred_at DESC, seq DESC LIMIT 1",
        app_id,
        cutoff,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(candidate) = candidate else {
        return Ok(None);
    };
    let keep_from: Option<i64> = sqlx::query_scalar!(
        "SELECT min(seq) FROM audit_events WHERE app_id = $1 AND seq <= $2 AND occurred_at >= $3",
        app_id,
        candidate,
        cutoff,
    )
    .fetch_one(&mut *conn)
    .await?;
    let through = keep_from.map_or(candidate, |k| k - 1);
    if through < first {
        return Ok(None);
    }
    let prefix = sqlx::query!(
        r#"SELECT (SELECT hash FROM audit_events WHERE app_id = $1 AND seq = $2) AS hash,
                (SELECT count(*) FROM audit_events WHERE app_id = $1 AND seq <= $2) AS "count!""#,
        app_id,
        through,
    )
    .fetch_one(&mut *conn)
    .await?;
    let (hash, count) = (prefix.hash, prefix.count);
    Ok(Some((first, through, hash, count)))
}

/// Deletes events up to `through` (a prefix the caller has just checkpointed), past the
/// append-only trigger by announcing exactly that range in a transaction-local setting.
pub async fn delete_prefix(
    conn: &mut PgConnection,
    app_id: &str,
    through: i64,
) -> StoreResult<u64> {
    sqlx::query!(
        "SELECT set_config('latchkey.audit_prune', $1, true)",
        format!("{app_id}:{through}"),
    )
    .fetch_one(&mut *conn)
    .await?;
    let deleted = sqlx::query!(
        "DELETE FROM audit_events WHERE app_id = $1 AND seq <= $2",
        app_id,
        through,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query!("SELECT set_config('latchkey.audit_prune', '', true)")
        .fetch_one(&mut *conn)
        .await?;
    Ok(deleted)
}

/// Changes per day (UTC) of an application's audit log since `since`, oldest first.
pub async fn daily_changes(
    db: impl PgExecutor<'_>,
    app_id: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> StoreResult<Vec<(chrono::NaiveDate, i64)>> {
    Ok(sqlx::query!(
        r#"SELECT (occurred_at AT TIME ZONE 'UTC')::date AS "day!", count(*) AS "count!"
         FROM audit_events WHERE app_id = $1 AND occurred_at >= $2
         GROUP BY 1 ORDER BY 1"#,
        app_id,
        since,
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| (r.day, r.count))
    .collect())
}

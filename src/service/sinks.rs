//! Sinks (docs/streaming.md): the operator's management of where the audit log is streamed.
//! Delivery itself runs beside the server (`crate::sinks`); these use cases only change what
//! it delivers. Every change is audited in the chain of each application the sink covers at
//! that moment (`sink.create`, `sink.pause`, …): a tenant's log shows who streams its evidence
//! where. Secrets (a webhook's `whsec_…`, a Splunk token) are sealed at rest; a webhook secret
//! is shown once, when it is made.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use zeroize::Zeroizing;

use super::{commit, Committed, Latchkey, RequestContext, ServiceError, SinkError};
use crate::auth::sealing::{KeyRing, Sealed};
use crate::domain::audit_action::AuditAction;
use crate::domain::audit_changes::{Payload, SinkChanged};
use crate::domain::ids::{AppId, Named};
use crate::domain::sink::{
    new_webhook_secret, parse_sink_name, RewindTo, SinkDraft, SinkKind, SinkTarget,
};
use crate::service::sealing::SINK_SEAL_SCOPE;
use crate::store::sinks::{AppProgress, NewSinkRow, SinkRow};
use crate::store::{self, Constraint, StoreError, WriteTx};

/// A sink as the operator sees it (never its secret).
#[derive(Debug, Clone)]
pub struct SinkView {
    pub name: String,
    pub kind: SinkKind,
    /// The URL or `host:port`.
    pub destination: String,
    pub tls: bool,
    pub ca_file: Option<String>,
    pub sourcetype: Option<String>,
    pub index: Option<String>,
    pub batch_max: i32,
    pub apps: Option<Vec<String>>,
    pub actions: Option<Vec<String>>,
    pub paused: bool,
    pub paused_reason: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub delivered_total: i64,
    pub created_at: DateTime<Utc>,
    /// Per covered application: the cursor and the chain head (`sinks show` only).
    pub progress: Option<Vec<AppProgress>>,
}

impl SinkView {
    /// Events not yet delivered (or passed by the filter), over every covered application.
    pub fn lag(&self) -> Option<i64> {
        self.progress.as_ref().map(|p| {
            p.iter()
                .map(|a| (a.head_seq - a.delivered_seq).max(0))
                .sum()
        })
    }
}

/// A new sink and, for a webhook, its signing secret (shown only now).
#[derive(Debug, Clone)]
pub struct CreatedSink {
    pub sink: SinkView,
    pub secret: Option<String>,
}

/// What a delivery worker needs of a sink: its row and its opened secret.
pub struct DeliverySink {
    pub row: SinkRow,
    pub target: SinkTarget,
    pub secret: Option<Zeroizing<String>>,
}

impl SinkView {
    fn from_row(row: SinkRow, progress: Option<Vec<AppProgress>>) -> Result<Self, SinkError> {
        let target = target_of(&row)?;
        Ok(Self {
            kind: target.kind(),
            destination: target.destination(),
            name: row.name,
            tls: row.tls,
            ca_file: row.ca_file,
            sourcetype: row.sourcetype,
            index: row.hec_index,
            batch_max: row.batch_max,
            apps: row.apps,
            actions: row.actions,
            paused: row.paused,
            paused_reason: row.paused_reason,
            last_error: row.last_error,
            last_error_at: row.last_error_at,
            last_success_at: row.last_success_at,
            delivered_total: row.delivered_total,
            created_at: row.created_at,
            progress,
        })
    }
}

/// The stored configuration read back through the same rules it was written with.
pub fn target_of(row: &SinkRow) -> Result<SinkTarget, ServiceError> {
    let draft = SinkDraft {
        name: row.name.clone(),
        kind: row.kind.clone(),
        url: row.url.clone(),
        address: row.address.clone(),
        // Only its presence is checked here; the real one stays sealed.
        token: (row.kind == "splunk_hec").then(|| "sealed".to_owned()),
        tls: row.tls,
        ca_file: row.ca_file.clone(),
        sourcetype: row.sourcetype.clone(),
        index: row.hec_index.clone(),
        batch_max: (row.kind != "syslog").then_some(i64::from(row.batch_max)),
        apps: None,
        actions: None,
        from_beginning: false,
    };
    draft
        .check()
        .map(|spec| spec.target)
        .map_err(|e| ServiceError::Internal(format!("stored sink {} is invalid: {e}", row.name)))
}

/// The sink named `name`, locked until the transaction ends (its writes take turns).
async fn locked_sink(conn: &mut sqlx::PgConnection, name: &str) -> Result<SinkRow, SinkError> {
    store::sinks::lock(conn, name)
        .await?
        .ok_or(SinkError::NotFound)
}

/// The sinks use cases, reached as `service.sinks()`. They hold the pool and the sealing key
/// ring (a sink's secret is sealed when it is made and opened for delivery), nothing else: a
/// sink is the operator's, covering applications by name, so no application check either.
#[derive(Clone)]
pub struct SinksService<'a> {
    pool: &'a PgPool,
    sealer: Option<&'a KeyRing>,
}

impl Latchkey {
    /// The sinks area (where the audit log is streamed).
    pub fn sinks(&self) -> SinksService<'_> {
        SinksService {
            pool: &self.pool,
            sealer: self.sealer.as_deref(),
        }
    }
}

impl SinksService<'_> {
    fn seal_secret(&self, name: &str, secret: &str) -> Result<Sealed, SinkError> {
        let ring = self.sealer.ok_or(SinkError::SealingKeyMissing)?;
        ring.seal(SINK_SEAL_SCOPE, name, secret).map_err(|e| {
            tracing::error!(error = %e, "sealing a sink secret failed");
            ServiceError::Internal(e.to_string()).into()
        })
    }

    /// Appends one event per application the sink covers now, in application order (so two
    /// sink changes lock chain heads in the same order).
    async fn audit_change(
        &self,
        tx: &mut WriteTx,
        ctx: &RequestContext,
        apps: Option<&[String]>,
        action: AuditAction,
        changes: SinkChanged<'_>,
    ) -> Result<(), SinkError> {
        let changes = changes.into_changes();
        for app_id in store::sinks::covered_apps(&mut **tx, apps).await? {
            let mut event = ctx.audit_event(&app_id, action);
            event.changes = changes.clone();
            store::audit::append(tx, event).await?;
        }
        Ok(())
    }

    /// Creates a sink. Refuses bad configuration with one line and changes nothing then.
    pub async fn create(
        &self,
        ctx: &RequestContext,
        draft: SinkDraft,
    ) -> Result<Committed<CreatedSink>, SinkError> {
        let from_beginning = draft.from_beginning;
        let spec = draft.check()?;
        ctx.operator()?;
        if let SinkTarget::Syslog {
            ca_file: Some(path),
            ..
        } = &spec.target
        {
            crate::sinks::tls::load_ca(path).map_err(|reason| SinkError::CaFile {
                path: path.clone(),
                reason,
            })?;
        }
        let secret = match spec.target.kind() {
            SinkKind::Webhook => Some(new_webhook_secret()),
            SinkKind::SplunkHec => spec.token.clone(),
            SinkKind::Syslog => None,
        };
        let sealed = secret
            .as_deref()
            .map(|s| self.seal_secret(&spec.name, s))
            .transpose()?;
        let mut tx = WriteTx::begin(self.pool).await?;
        if let Some(apps) = &spec.apps {
            let known = store::sinks::covered_apps(&mut *tx, Some(apps)).await?;
            if let Some(missing) = apps.iter().find(|a| !known.contains(a)) {
                return Err(SinkError::UnknownApp {
                    app_id: missing.clone(),
                });
            }
        }
        let (url, sourcetype, index, address, tls, ca_file) = match &spec.target {
            SinkTarget::Webhook { url } => (Some(url.as_str()), None, None, None, false, None),
            SinkTarget::SplunkHec {
                url,
                sourcetype,
                index,
            } => (
                Some(url.as_str()),
                Some(sourcetype.as_str()),
                index.as_deref(),
                None,
                false,
                None,
            ),
            SinkTarget::Syslog { tls, ca_file, .. } => (
                None,
                None,
                None,
                Some(spec.target.destination()),
                *tls,
                ca_file.as_deref(),
            ),
        };
        store::sinks::insert(
            &mut *tx,
            NewSinkRow {
                name: &spec.name,
                kind: spec.target.kind().as_str(),
                url,
                address: address.as_deref(),
                tls,
                ca_file,
                sourcetype,
                hec_index: index,
                batch_max: spec.batch_max,
                apps: spec.apps.as_deref(),
                actions: spec.actions.as_deref(),
                sealed: sealed.as_ref(),
            },
        )
        .await
        .map_err(|e| match e {
            StoreError::Duplicate(Constraint::SinkName) => SinkError::Duplicate {
                name: spec.name.clone(),
            },
            other => other.into(),
        })?;
        // The cursors start at the heads before the sink's own events: the receiver's first
        // event is the sink's creation.
        store::sinks::init_cursors(&mut tx, &spec.name, spec.apps.as_deref(), from_beginning)
            .await?;
        self.audit_change(
            &mut tx,
            ctx,
            spec.apps.as_deref(),
            AuditAction::SinkCreate,
            SinkChanged::created(
                &spec.name,
                spec.target.kind().as_str(),
                spec.target.destination(),
                spec.actions.as_deref(),
                from_beginning,
            ),
        )
        .await?;
        let row = store::sinks::get(&mut *tx, &spec.name)
            .await?
            .ok_or(SinkError::NotFound)?;
        let secret = match spec.target.kind() {
            SinkKind::Webhook => secret,
            _ => None,
        };
        let created = CreatedSink {
            sink: SinkView::from_row(row, None)?,
            secret,
        };
        Ok(commit(tx, created).await?)
    }

    pub async fn list(&self, ctx: &RequestContext) -> Result<Vec<SinkView>, SinkError> {
        ctx.operator()?;
        store::sinks::list(self.pool)
            .await?
            .into_iter()
            .map(|r| SinkView::from_row(r, None))
            .collect()
    }

    /// A sink with its cursor and lag per covered application.
    pub async fn get(&self, ctx: &RequestContext, name: &str) -> Result<SinkView, SinkError> {
        ctx.operator()?;
        let row = store::sinks::get(self.pool, name)
            .await?
            .ok_or(SinkError::NotFound)?;
        let progress =
            store::sinks::progress(self.pool, &row.name, row.apps.as_deref(), false, true).await?;
        SinkView::from_row(row, Some(progress))
    }

    /// Pauses (`true`) or resumes a sink. Audited; a call that changes nothing writes nothing.
    pub async fn set_paused(
        &self,
        ctx: &RequestContext,
        name: &str,
        paused: bool,
    ) -> Result<Committed<SinkView>, SinkError> {
        ctx.operator()?;
        let mut tx = WriteTx::begin(self.pool).await?;
        let row = locked_sink(&mut tx, name).await?;
        if row.paused != paused {
            store::sinks::set_paused(&mut *tx, name, paused, None).await?;
            let action = if paused {
                AuditAction::SinkPause
            } else {
                AuditAction::SinkResume
            };
            let changes = SinkChanged::paused_or_resumed(
                name,
                (!paused).then_some(row.paused_reason.as_deref()),
            );
            self.audit_change(&mut tx, ctx, row.apps.as_deref(), action, changes)
                .await?;
        }
        let row = store::sinks::get(&mut *tx, name)
            .await?
            .ok_or(SinkError::NotFound)?;
        let view = SinkView::from_row(row, None)?;
        Ok(commit(tx, view).await?)
    }

    /// A new signing secret for a webhook sink (the old one stops at once); shown only now.
    pub async fn rotate_secret(
        &self,
        ctx: &RequestContext,
        name: &str,
    ) -> Result<Committed<CreatedSink>, SinkError> {
        ctx.operator()?;
        let mut tx = WriteTx::begin(self.pool).await?;
        let row = locked_sink(&mut tx, name).await?;
        if row.kind != SinkKind::Webhook.as_str() {
            return Err(SinkError::NoSecretToRotate);
        }
        let secret = new_webhook_secret();
        let sealed = self.seal_secret(name, &secret)?;
        store::sinks::set_secret(&mut *tx, name, &sealed).await?;
        self.audit_change(
            &mut tx,
            ctx,
            row.apps.as_deref(),
            AuditAction::SinkSecretRotate,
            SinkChanged::secret_rotated(name),
        )
        .await?;
        let created = CreatedSink {
            sink: SinkView::from_row(row, None)?,
            secret: Some(secret),
        };
        Ok(commit(tx, created).await?)
    }

    /// Replays from a revision of one application, or from a time (every covered application,
    /// or `app` alone). Audited in each application whose cursor it moved.
    pub async fn rewind(
        &self,
        ctx: &RequestContext,
        name: &str,
        app: Option<&Named<AppId>>,
        to: RewindTo,
    ) -> Result<Committed<SinkView>, SinkError> {
        if let RewindTo::Revision(r) = to {
            if r < 1 {
                return Err(SinkError::BadRevision);
            }
            if app.is_none() {
                return Err(SinkError::RewindNeedsApp);
            }
        }
        ctx.operator()?;
        let mut tx = WriteTx::begin(self.pool).await?;
        let row = locked_sink(&mut tx, name).await?;
        let covered = store::sinks::covered_apps(&mut *tx, row.apps.as_deref()).await?;
        let apps: Vec<String> = match app {
            Some(a) if covered.iter().any(|c| c == a.as_str()) => vec![a.to_string()],
            Some(_) => return Err(SinkError::AppNotCovered),
            None => covered,
        };
        for app_id in &apps {
            let first = match to {
                RewindTo::Revision(r) => r,
                RewindTo::Time(t) => {
                    match store::sinks::first_seq_since(&mut *tx, app_id, t).await? {
                        Some(seq) => seq,
                        None => match store::audit::head(&mut *tx, app_id).await? {
                            Some((head, _)) => head + 1,
                            None => continue,
                        },
                    }
                }
            };
            store::sinks::rewind_to_seq(&mut *tx, app_id, name, first).await?;
            let mut event = ctx.audit_event(app_id, AuditAction::SinkRewind);
            event.changes = SinkChanged::rewound(name, first, &to).into_changes();
            store::audit::append(&mut tx, event).await?;
        }
        let committed = commit(tx, ()).await?;
        let view = self.get(ctx, name).await?;
        Ok(committed.map(|()| view))
    }

    /// Deletes a sink and its cursors. Audited in each application it covered.
    pub async fn delete(
        &self,
        ctx: &RequestContext,
        name: &str,
    ) -> Result<Committed<()>, SinkError> {
        ctx.operator()?;
        parse_sink_name(name).map_err(|_| SinkError::NotFound)?;
        let mut tx = WriteTx::begin(self.pool).await?;
        let row = locked_sink(&mut tx, name).await?;
        store::sinks::delete(&mut *tx, name).await?;
        self.audit_change(
            &mut tx,
            ctx,
            row.apps.as_deref(),
            AuditAction::SinkDelete,
            SinkChanged::deleted(name, &row.kind),
        )
        .await?;
        Ok(commit(tx, ()).await?)
    }

    /// The sinks to deliver now (not paused), each with its opened secret. A sink whose secret
    /// cannot be opened (its sealing key is gone) is reported by its last error.
    pub async fn for_delivery(&self) -> Result<Vec<DeliverySink>, SinkError> {
        let mut out = Vec::new();
        for row in store::sinks::list(self.pool).await? {
            if row.paused {
                continue;
            }
            let target = target_of(&row)?;
            let secret = match row.sealed() {
                None => None,
                Some(sealed) => {
                    let opened = self
                        .sealer
                        .ok_or(SinkError::SealingKeyMissing)
                        .and_then(|ring| {
                            ring.open(SINK_SEAL_SCOPE, &row.name, &sealed)
                                .map_err(|e| ServiceError::Internal(e.to_string()).into())
                        });
                    match opened {
                        Ok(s) => Some(s),
                        Err(e) => {
                            let msg = format!("cannot open the sink's secret: {e}");
                            store::sinks::record_error(self.pool, &row.name, &msg).await?;
                            continue;
                        }
                    }
                }
            };
            out.push(DeliverySink {
                row,
                target,
                secret,
            });
        }
        Ok(out)
    }
}

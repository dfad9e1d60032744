//! Use cases: one method per operation. Each opens its transaction, checks the rules (domain),
//! writes the change and its audit event (store), and commits. Both HTTP surfaces call these
//! and only these.

mod access;
mod app_snapshots;
mod app_state;
mod apps;
mod audit;
mod auth;
mod changes;
mod clients;
pub mod clock;
mod console;
mod entitlements;
mod entity_types;
mod error;
mod evidence;
mod fixtures;
mod migration;
pub mod oauth;
pub mod replica;
mod sealing;
mod settings;
mod signed;
mod sinks;
mod snapshots;
mod staging;
pub mod vendor;

use std::marker::PhantomData;
use std::net::IpAddr;
use std::sync::Arc;

use sqlx::PgPool;

pub use access::{
    added_reserved_notice, AccessCheck, AccessSchemaView, AccessSchemasService, SchemaKey,
};
pub use app_snapshots::{RestoreReport, SnapshotInfo};
pub use app_state::ChangeSummary;
pub use apps::{AppSummary, AppsService, CheckedApp, NewApp};
pub use audit::{AuditPage, AuditService, AuditStream, PruneOutcome};
pub use auth::AuthError;
pub use changes::FeedItem;
pub use clients::{ClientChange, ClientDraft, ClientView, ClientsService, CreatedClient};
pub use clock::Clock;
pub use console::{csrf_token, ConsoleLogin, ConsoleSession, SignInError};
pub use entitlements::{run_entitlement_states, EntitlementChanges, EntitlementsAt};
pub use entity_types::EntityTypesService;
pub use error::{
    AccessSchemaError, AppsError, ClientsError, DuplicateClientName, EntityTypesError,
    ServiceError, SettingsError, SinkError, StagingError,
};
pub use evidence::{
    run_checkpoints, AuditKeyInfo, ConsistencyProof, EvidenceService, InclusionProof,
    MAX_CHECKPOINTS,
};
pub use fixtures::{AppExport, ApplyOptions, ApplyReport, ExportedClient, ExportedSchema};
pub use migration::{ClientComparison, Comparison, Difference, SecretCheck};
pub use sealing::{AppOptions, NewSecret, ResealReport, ShownSecrets};
pub use settings::{AllSettings, SettingsService, SettingsTarget};
pub use signed::{Operation, SignatureError, SignedRequest};
pub use sinks::{target_of, CreatedSink, DeliverySink, SinkView, SinksService};
pub use snapshots::{Consistency, Decided};
pub use staging::StagingService;

use crate::auth::credentials::OperatorToken;
use crate::auth::limiter::FailureLimiter;
use crate::auth::sealing::KeyRing;
use crate::auth::SecretHasher;
use crate::cache::{SnapshotConfig, Snapshots};
use crate::domain::audit::{AuditAction, AuditEvent, OPERATOR_ACTOR};
use crate::domain::ids::{AppId, ClientId};
use crate::domain::{Feature, FeatureSet};
use crate::store::WriteTx;
pub use crate::store::{Revision, Revisions};

/// What a use case that writes returns: its value and the revisions its transaction appended,
/// which exist only once it committed. The adapter applies them to this instance's snapshots
/// and answers with the last one (`X-Latchkey-Revision`); see `http::revision`.
#[must_use = "apply the revisions to the snapshots (the adapter's helper does)"]
#[derive(Debug)]
pub struct Committed<T> {
    pub value: T,
    pub revisions: Revisions,
}

impl<T> Committed<T> {
    /// A call that wrote nothing (the change was already in place, or it was refused early).
    pub fn unchanged(value: T) -> Self {
        Self {
            value,
            revisions: Revisions::default(),
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Committed<U> {
        Committed {
            value: f(self.value),
            revisions: self.revisions,
        }
    }

    /// Two use cases of one request: both values, the revisions of both in order.
    pub fn and<U>(mut self, other: Committed<U>) -> Committed<(T, U)> {
        self.revisions.extend(other.revisions);
        Committed {
            value: (self.value, other.value),
            revisions: self.revisions,
        }
    }
}

/// Commits `tx`: `value` with the revisions the transaction appended.
pub(crate) async fn commit<T>(tx: WriteTx, value: T) -> Result<Committed<T>, ServiceError> {
    let revisions = tx.commit().await?;
    Ok(Committed { value, revisions })
}

/// How a write with one audit event ends: the event appended (it is what announces the
/// revision), then the commit.
pub(crate) async fn commit_audited<T>(
    mut tx: WriteTx,
    event: AuditEvent,
    value: T,
) -> Result<Committed<T>, ServiceError> {
    crate::store::audit::append(&mut tx, event).await?;
    commit(tx, value).await
}

/// Who is calling, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The platform operator: every application, no allow list, no owner/metadata rules.
    Operator,
    /// A client of `app_id`, with its features as they were when the request was authenticated.
    Client {
        app_id: AppId,
        client_id: ClientId,
        features: FeatureSet,
    },
}

impl Caller {
    pub fn is_operator(&self) -> bool {
        matches!(self, Caller::Operator)
    }

    pub fn client_id(&self) -> Option<&ClientId> {
        match self {
            Caller::Client { client_id, .. } => Some(client_id),
            Caller::Operator => None,
        }
    }

    pub fn has(&self, f: Feature) -> bool {
        match self {
            Caller::Operator => true,
            Caller::Client { features, .. } => features.contains(f),
        }
    }

    fn actor(&self) -> String {
        match self {
            Caller::Operator => OPERATOR_ACTOR.to_owned(),
            Caller::Client { client_id, .. } => client_id.as_str().to_owned(),
        }
    }
}

/// Proof that the request's caller passed the check for role `R` ([`Operator`], [`Owner`]).
/// Only [`RequestContext::operator`] and [`RequestContext::owner`] make one, so a function
/// that takes an `Authorized<R>` cannot be reached without the check.
#[derive(Debug, Clone, Copy)]
pub struct Authorized<R>(PhantomData<R>);

/// The platform operator's role.
#[derive(Debug, Clone, Copy)]
pub struct Operator;

/// An application owner's role (a client with `owner`, or the operator).
#[derive(Debug, Clone, Copy)]
pub struct Owner;

/// Everything a use case knows about the request besides its arguments.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    /// The caller's address (`None` for the command line).
    pub source_ip: Option<IpAddr>,
    pub caller: Caller,
    /// Reads of this request that may come from the snapshots are at least as fresh as this
    /// revision of the application (the console carries the revision of a write across its
    /// redirect, so the page after it shows the write whichever instance serves it).
    pub read_at_least: Option<i64>,
    /// Where the request's audit events take their time from (the service's clock).
    pub clock: Clock,
}

impl RequestContext {
    /// The operator acting from the command line (`latchkey apps create`).
    pub fn command_line() -> Self {
        Self {
            request_id: crate::auth::random::new_request_id(),
            source_ip: None,
            caller: Caller::Operator,
            read_at_least: None,
            clock: Clock::system(),
        }
    }

    /// The one operator check: the platform operator, or `Forbidden`.
    pub fn operator(&self) -> Result<Authorized<Operator>, ServiceError> {
        match self.caller {
            Caller::Operator => Ok(Authorized(PhantomData)),
            Caller::Client { .. } => Err(ServiceError::Forbidden),
        }
    }

    /// The one owner check: a client with `owner`, or the operator (who may do what an owner
    /// may); else `Forbidden`. The Config API and the client-management calls.
    pub fn owner(&self) -> Result<Authorized<Owner>, ServiceError> {
        if self.caller.has(Feature::Owner) {
            Ok(Authorized(PhantomData))
        } else {
            Err(ServiceError::Forbidden)
        }
    }

    /// A blank audit event for this request; the use case fills in what changed.
    pub(crate) fn audit_event(&self, app_id: &str, action: AuditAction) -> AuditEvent {
        AuditEvent {
            app_id: app_id.to_owned(),
            seq: 0,
            event_id: uuid::Uuid::now_v7(),
            occurred_at: self.clock.now(),
            actor: self.caller.actor(),
            actor_ip: self.source_ip.map(|ip| ip.to_string()),
            request_id: self.request_id.clone(),
            action,
            target_client_id: None,
            features_before: None,
            features_after: None,
            changes: serde_json::Value::Object(Default::default()),
            changes_text: None,
        }
    }
}

/// The service: the database, the secret hasher and the operator's identity.
#[derive(Clone)]
pub struct Latchkey {
    pub(crate) pool: PgPool,
    pub(crate) hasher: Arc<SecretHasher>,
    pub(crate) operator_token: OperatorToken,
    pub(crate) operator_name: Arc<str>,
    pub(crate) limiter: Arc<FailureLimiter>,
    /// Seals and opens secrets of applications with signed requests or show_secrets.
    pub(crate) sealer: Option<Arc<KeyRing>>,
    /// How far the Date of a signed request may be from this server's clock.
    pub(crate) signature_window: std::time::Duration,
    pub(crate) snapshots: Arc<Snapshots>,
    /// The host naming this server's audit logs in signed checkpoints (`<host>/audit/<appId>`).
    pub(crate) audit_host: Arc<str>,
    /// The read replica, when `LATCHKEY_READ_DATABASE_URL` is set.
    pub(crate) replica: Option<Arc<replica::Replica>>,
    /// The time audit events take (see `RequestContext::clock`).
    pub(crate) clock: Clock,
    /// The application check every area makes (the same pool and snapshots as above), made
    /// once here so that a request does not build one (see `apps::AppDirectory`).
    pub(crate) directory: apps::AppDirectory,
}

impl Latchkey {
    pub fn new(
        pool: PgPool,
        hasher: Arc<SecretHasher>,
        operator_token: Option<&str>,
        operator_name: &str,
        limiter: FailureLimiter,
    ) -> Self {
        let snapshots = Arc::new(Snapshots::new(SnapshotConfig::strict()));
        Self {
            directory: apps::AppDirectory::new(pool.clone(), snapshots.clone()),
            pool,
            hasher,
            operator_token: OperatorToken::new(operator_token),
            operator_name: Arc::from(operator_name),
            limiter: Arc::new(limiter),
            sealer: None,
            signature_window: std::time::Duration::from_secs(300),
            snapshots,
            audit_host: Arc::from("localhost"),
            replica: None,
            clock: Clock::system(),
        }
    }

    /// Takes "now" from `clock` instead of the system clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Migrations this build knows that the database has not applied (readiness).
    pub async fn pending_migrations(&self) -> Result<usize, sqlx::Error> {
        crate::store::pending_migrations(&self.pool).await
    }

    /// The sealing key ring (if any) and the Date window of signed requests.
    pub fn with_sealing(mut self, keys: Option<KeyRing>, window: std::time::Duration) -> Self {
        self.sealer = keys.map(Arc::new);
        self.signature_window = window;
        self
    }

    /// Serves reads from these snapshots (see `crate::cache`); without, every read is strict.
    /// The host of `LATCHKEY_PUBLIC_URL`, naming the audit logs in checkpoints.
    pub fn with_audit_host(mut self, host: &str) -> Self {
        self.audit_host = Arc::from(host);
        self
    }

    pub fn with_snapshots(mut self, snapshots: Arc<Snapshots>) -> Self {
        self.directory = apps::AppDirectory::new(self.pool.clone(), snapshots.clone());
        self.snapshots = snapshots;
        self
    }

    pub fn snapshots(&self) -> &Arc<Snapshots> {
        &self.snapshots
    }

    /// Makes this instance's snapshots at least as fresh as what a use case committed (each
    /// adapter calls it with `Committed::revisions` before it answers).
    pub fn apply_revisions(&self, revisions: &Revisions) {
        self.snapshots.committed(revisions);
        for r in revisions.iter() {
            self.note_write(r.app_id);
        }
    }

    /// Argon2 and credential-cache counters, for metrics.
    pub fn hasher_stats(&self) -> crate::auth::secrets::HasherStats {
        self.hasher.stats()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Statements refused as read-only since start (`store::primary`), for metrics.
    pub fn read_only_refusals(&self) -> u64 {
        crate::store::primary::refusals()
    }

    /// How full PostgreSQL's notification queue is (0 to 1), or `None` when the database did
    /// not answer within half a second (metrics must not wait for an outage).
    pub async fn notification_queue_usage(&self) -> Option<f64> {
        let usage = crate::store::snapshots::notification_queue_usage(&self.pool);
        tokio::time::timeout(std::time::Duration::from_millis(500), usage)
            .await
            .ok()?
            .ok()
    }

    /// The name used for the platform operator in messages ("Akamai" by default).
    pub fn operator_name(&self) -> &str {
        &self.operator_name
    }
}

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
mod console;
mod entity_types;
mod error;
mod fixtures;
mod migration;
pub mod oauth;
mod sealing;
mod settings;
mod signed;
mod snapshots;
pub mod vendor;

use std::net::IpAddr;
use std::sync::Arc;

use sqlx::PgPool;

pub use access::{added_reserved_notice, AccessCheck, AccessSchemaView};
pub use app_snapshots::{RestoreReport, SnapshotInfo};
pub use apps::{AppSummary, NewApp};
pub use audit::{AuditPage, AuditStream, PruneOutcome};
pub use auth::AuthError;
pub use changes::FeedItem;
pub use clients::{ClientChange, ClientDraft, ClientView, CreatedClient};
pub use console::{csrf_token, ConsoleLogin, ConsoleSession, SignInError};
pub use error::ServiceError;
pub use fixtures::{ApplyOptions, ApplyReport};
pub use migration::{ClientComparison, Comparison, Difference, SecretCheck};
pub use sealing::{AppOptions, NewSecret, ResealReport, ShownSecrets};
pub use settings::{AllSettings, SettingsTarget};
pub use signed::{Operation, SignatureError, SignedRequest};
pub use snapshots::{Consistency, Decided};

use crate::auth::credentials::OperatorToken;
use crate::auth::limiter::FailureLimiter;
use crate::auth::sealing::KeyRing;
use crate::auth::SecretHasher;
use crate::cache::{SnapshotConfig, Snapshots};
use crate::domain::audit::{now_micros, AuditEvent, OPERATOR_ACTOR};
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

/// Who is calling, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The platform operator: every application, no allow list, no owner/metadata rules.
    Operator,
    /// A client of `app_id`, with its features as they were when the request was authenticated.
    Client {
        app_id: String,
        client_id: String,
        features: FeatureSet,
    },
}

impl Caller {
    pub fn is_operator(&self) -> bool {
        matches!(self, Caller::Operator)
    }

    pub fn client_id(&self) -> Option<&str> {
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
            Caller::Client { client_id, .. } => client_id.clone(),
        }
    }
}

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
}

impl RequestContext {
    /// The operator acting from the command line (`latchkey apps create`).
    pub fn command_line() -> Self {
        Self {
            request_id: crate::domain::ids::new_request_id(),
            source_ip: None,
            caller: Caller::Operator,
            read_at_least: None,
        }
    }

    /// Owner (or operator) only: the Config API and the client-management calls.
    pub fn require_owner(&self) -> Result<(), ServiceError> {
        if self.caller.has(Feature::Owner) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden)
        }
    }

    /// A blank audit event for this request; the use case fills in what changed.
    pub(crate) fn audit_event(&self, app_id: &str, action: &str) -> AuditEvent {
        AuditEvent {
            app_id: app_id.to_owned(),
            seq: 0,
            event_id: uuid::Uuid::now_v7(),
            occurred_at: now_micros(),
            actor: self.caller.actor(),
            actor_ip: self.source_ip.map(|ip| ip.to_string()),
            request_id: self.request_id.clone(),
            action: action.to_owned(),
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
}

impl Latchkey {
    pub fn new(
        pool: PgPool,
        hasher: Arc<SecretHasher>,
        operator_token: Option<&str>,
        operator_name: &str,
        limiter: FailureLimiter,
    ) -> Self {
        Self {
            pool,
            hasher,
            operator_token: OperatorToken::new(operator_token),
            operator_name: Arc::from(operator_name),
            limiter: Arc::new(limiter),
            sealer: None,
            signature_window: std::time::Duration::from_secs(300),
            snapshots: Arc::new(Snapshots::new(SnapshotConfig::strict())),
        }
    }

    /// The sealing key ring (if any) and the Date window of signed requests.
    pub fn with_sealing(mut self, keys: Option<KeyRing>, window: std::time::Duration) -> Self {
        self.sealer = keys.map(Arc::new);
        self.signature_window = window;
        self
    }

    /// Serves reads from these snapshots (see `crate::cache`); without, every read is strict.
    pub fn with_snapshots(mut self, snapshots: Arc<Snapshots>) -> Self {
        self.snapshots = snapshots;
        self
    }

    pub fn snapshots(&self) -> &Arc<Snapshots> {
        &self.snapshots
    }

    /// Makes this instance's snapshots at least as fresh as what a use case committed (each
    /// adapter calls it with `Committed::revisions` before it answers).
    pub fn apply_revisions(&self, revisions: &Revisions) {
        for r in revisions.iter() {
            self.snapshots.observe(r.app_id, r.seq);
        }
    }

    /// Argon2 and credential-cache counters, for metrics.
    pub fn hasher_stats(&self) -> crate::auth::secrets::HasherStats {
        self.hasher.stats()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The name used for the platform operator in messages ("Akamai" by default).
    pub fn operator_name(&self) -> &str {
        &self.operator_name
    }
}

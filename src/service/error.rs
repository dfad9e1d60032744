use std::sync::Arc;

use crate::auth::secrets::HashError;
use crate::domain::entity_type::SchemaError;
use crate::domain::{Field, ValidationError};
use crate::store::StoreError;

/// Every way a use case can refuse. Messages (the Display texts) are written here once; each
/// HTTP surface decides only the status/code it answers with. Rules about the platform operator
/// carry its configured name ("Akamai" by default).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("Client ID not found.")]
    ClientNotFound,
    #[error("Application not found.")]
    AppNotFound,
    #[error("Forbidden")]
    Forbidden,
    #[error("Authentication required.")]
    Unauthenticated,
    #[error("Service unavailable.")]
    Unavailable,
    #[error("Unexpected internal error.")]
    Internal(String),
    // Entity types and access schemas (entity_types.rs, access.rs).
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("Entity type not found.")]
    EntityTypeNotFound { name: String },
    /// Signed requests or show_secrets were asked for (or a sealing operation), but this server
    /// has no sealing key: the request cannot succeed here as sent (400 on the Config API).
    #[error("Signed requests and show_secrets need a sealing key: set LATCHKEY_SEALING_KEY or LATCHKEY_SEALING_KEY_FILE.")]
    SealingKeyMissing,
    /// An application that keeps sealed secrets was used on a server without the sealing key
    /// (startup refuses that, so only a race with another instance gets here): this server's
    /// configuration is at fault, not the request (500 on every surface).
    #[error("An application keeps sealed secrets but this server has no sealing key (LATCHKEY_SEALING_KEY or LATCHKEY_SEALING_KEY_FILE).")]
    SealingKeyUnavailable,
    /// A bad audit query or retention value (`GET /config/{appId}/audit`, the audit CLI).
    #[error(transparent)]
    AuditInput(#[from] crate::domain::audit_query::AuditInputError),
    /// Pruning found the chain damaged where it must cut it; `latchkey audit verify` says more.
    #[error(
        "The audit log is damaged at event {seq}; run `latchkey audit verify` before pruning."
    )]
    AuditChainDamaged { seq: i64 },
    /// A proof asked for sizes or revisions the tree cannot answer.
    #[error(transparent)]
    ProofInput(crate::domain::merkle::ProofInputError),
    /// The Merkle tree lacks nodes for this size: events pruned before the tree existed.
    #[error("The Merkle tree of this application does not cover events pruned before signed checkpoints existed; no root or proof of this size can be given.")]
    AuditTreeIncomplete,
    #[error(
        "No checkpoint yet: one is signed within LATCHKEY_CHECKPOINT_SECS of the first event."
    )]
    NoCheckpointYet,
    /// Checkpoints are signed with a key sealed under the sealing key, which this server lacks.
    #[error("Signed audit checkpoints need a sealing key: set LATCHKEY_SEALING_KEY or LATCHKEY_SEALING_KEY_FILE.")]
    CheckpointKeyMissing,
    /// Prune refused: the application is under legal hold.
    #[error("Application {app_id} is under legal hold until {until}: its audit events cannot be pruned before then (latchkey audit hold).")]
    AuditHold { app_id: String, until: String },
    /// Pruning would remove events that sinks have not delivered yet.
    #[error("Not pruned: sink(s) {} have not delivered events up to {through} yet (pause them, let them catch up, or prune with --force).", .sinks.join(", "))]
    SinksOwe { sinks: Vec<String>, through: i64 },
}

/// The refusals of the client use cases (`service::clients`: create, change, delete, rotate a
/// secret), besides what any use case may answer: the feature rules of spec §1 about who may
/// do what, a taken name and a stale `If-Match`. The Config API, the Registration API's
/// `clients/*` calls and the console's client pages receive them; reads of clients answer
/// only `ServiceError`.
#[derive(Debug, thiserror::Error)]
pub enum ClientsError {
    /// What every use case may answer (forbidden, not found, a bad value, the database…).
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// Adding `metadata` is for the operator only.
    #[error("The metadata feature can only be applied to a client by {operator}.")]
    MetadataOperatorOnly { operator: Arc<str> },
    /// Changing a client that has `metadata` is for the operator only.
    #[error("Clients with the metadata feature can only be updated by {operator}.")]
    MetadataClientOperatorOnly { operator: Arc<str> },
    #[error("Owner feature cannot be removed from the client making the call.")]
    OwnerSelfRemoval,
    /// Removing `owner` from another client (only the operator may).
    #[error("Owner feature can only be removed by {operator}.")]
    OwnerRemovalOperatorOnly { operator: Arc<str> },
    #[error("Clients with the owner feature cannot be deleted.")]
    OwnerUndeletable,
    #[error(transparent)]
    DuplicateName(#[from] DuplicateClientName),
    /// `If-Match` names another version than the client's (the Config API and the console
    /// send one; the Registration API never does).
    #[error("Precondition failed.")]
    PreconditionFailed,
}

/// The refusals of the settings use cases (`service::settings`), besides what any use case may
/// answer: a key or value that breaks the rules of `domain::settings`. The Config API's
/// `…/settings`, the Registration API's `settings/*` calls and the console's settings forms
/// receive them; `settings().all` (which takes no key) answers only `ServiceError`.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// What every use case may answer (forbidden, not found, the database…).
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Invalid(#[from] crate::domain::settings::SettingError),
}

/// The refusal of reading or deleting one access schema as a resource (the Config API's
/// `GET`/`DELETE …/accessSchemas/{typeName}/{accessType}`, the console's access page): there is
/// none for that access type. The Registration API never receives it: `entityType.getAccessSchema`
/// answers the whole type when no schema is set, and it deletes none.
#[derive(Debug, thiserror::Error)]
pub enum AccessSchemaError {
    /// What every use case may answer (forbidden, not found, the database…).
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("Access schema not found.")]
    NotFound,
}

/// The refusals of changing entity types (`service.entity_types()`: create, replace, delete,
/// remove an attribute), besides what any use case may answer: a taken name, and a change an
/// access schema still depends on. The Config API's `/entityTypes` and the Registration API's
/// `entityType.*` calls receive them; the console only lists types.
#[derive(Debug, thiserror::Error)]
pub enum EntityTypesError {
    /// What every use case may answer (forbidden, not found, a bad definition, the database…).
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("Entity type {name} already exists.")]
    Exists { name: String },
    /// A change of a type would leave these access schema paths naming nothing.
    #[error("{}", super::entity_types::attribute_in_use(.paths, .clients))]
    AttributeInUse {
        paths: Vec<String>,
        clients: Vec<String>,
    },
    #[error("Entity type {name} is used by the access schemas of clients: {}.", .clients.join(", "))]
    InUse { name: String, clients: Vec<String> },
}

/// A client name already taken in its application: creating or renaming a client
/// ([`ClientsError`]) or applying a fixture ([`StagingError`]).
#[derive(Debug, thiserror::Error)]
#[error("API client {name} already exists.")]
pub struct DuplicateClientName {
    pub name: String,
}

/// The refusals of creating an application (`apps().create`), besides what any use case
/// may answer. Only the operator creates applications (`POST /apps`, the console's
/// applications page, `latchkey apps create`), so the Registration API never receives these.
#[derive(Debug, thiserror::Error)]
pub enum AppsError {
    /// What every use case may answer (forbidden, a bad name or region, the database…).
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("Application {name} already exists.")]
    DuplicateName { name: String },
    /// A pinned application id (`apps create --app-id`, `"app_id"`) that is taken.
    #[error("Application ID {app_id} already exists.")]
    DuplicateId { app_id: String },
    #[error("Not a valid application id (26 characters of a-z and 0-9).")]
    InvalidId,
}

/// The refusals of the staging toolkit's use cases (fixtures, snapshots, imports from the
/// vendor: `service::{fixtures, app_snapshots, migration}`), besides what any use case may
/// answer. Only the operator's `/apps/{appId}/…` routes and the command line call them, so only
/// the Config API maps this enum; the Registration API and the console never receive it.
#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    /// What every use case may answer (forbidden, not found, a rule of clients or entity types,
    /// the database…), mapped as the surface maps it anywhere.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A fixture document (`latchkey apply`) with a bad value, named by its path.
    #[error(transparent)]
    Fixture(#[from] crate::domain::fixture::FixtureError),
    #[error(transparent)]
    InvalidSnapshotName(#[from] crate::domain::fixture::InvalidSnapshotName),
    /// The document gives a client a name another client of the application has.
    #[error(transparent)]
    DuplicateClientName(#[from] DuplicateClientName),
    #[error("Snapshot not found.")]
    SnapshotNotFound,
}

/// The refusals of the sink use cases (`service::sinks`, docs/streaming.md), besides what any
/// use case may answer. Only the operator's `/sinks` routes and `latchkey sinks` call them, so
/// only the Config API maps this enum.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// What every use case may answer (forbidden, the database…).
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Config(#[from] crate::domain::sink::SinkConfigError),
    #[error("Sink not found.")]
    NotFound,
    #[error("Sink {name} already exists.")]
    Duplicate { name: String },
    #[error("Unknown application in the sink's filter: {app_id}.")]
    UnknownApp { app_id: String },
    #[error("The sink does not cover this application.")]
    AppNotCovered,
    #[error("Cannot use the CA file {path}: {reason}.")]
    CaFile { path: String, reason: String },
    #[error("Only webhook sinks have a secret to rotate.")]
    NoSecretToRotate,
    #[error("A revision belongs to one application: give the application too.")]
    RewindNeedsApp,
    #[error("Not a valid revision: an integer from 1.")]
    BadRevision,
    #[error("Give either a revision or a time to rewind to.")]
    RewindTarget,
    #[error("Sinks with a secret need a sealing key: set LATCHKEY_SEALING_KEY or LATCHKEY_SEALING_KEY_FILE.")]
    SealingKeyMissing,
}

/// What the layers below answer reaches a staging or sink use case as it reaches any other.
macro_rules! through_service_error {
    ($area:ty: $($from:ty),*) => {$(
        impl From<$from> for $area {
            fn from(e: $from) -> Self {
                ServiceError::from(e).into()
            }
        }
    )*};
}

through_service_error!(ClientsError: StoreError, sqlx::Error, ValidationError, HashError);
through_service_error!(SettingsError: StoreError, sqlx::Error, ValidationError);
through_service_error!(AccessSchemaError: StoreError, sqlx::Error, SchemaError);
through_service_error!(EntityTypesError: StoreError, sqlx::Error, SchemaError);
through_service_error!(AppsError: StoreError, sqlx::Error, ValidationError, HashError);
through_service_error!(StagingError: StoreError, sqlx::Error, ValidationError, HashError);
through_service_error!(SinkError: StoreError, sqlx::Error, ValidationError, HashError);
through_service_error!(SinkError: crate::domain::audit_query::AuditInputError);

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                ServiceError::Unavailable
            }
            StoreError::UnstorableText(e) => {
                tracing::warn!(error = %e, "text with U+0000 reached the database");
                ServiceError::Invalid(ValidationError::NotAString { field: Field::Text })
            }
            other => {
                tracing::error!(error = %other, "database error");
                ServiceError::Internal(other.to_string())
            }
        }
    }
}

impl From<sqlx::Error> for ServiceError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::from(e).into()
    }
}

impl From<HashError> for ServiceError {
    fn from(e: HashError) -> Self {
        tracing::error!(error = %e, "secret hashing failed");
        ServiceError::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_name_is_in_the_messages() {
        assert_eq!(
            ClientsError::MetadataOperatorOnly {
                operator: "Akamai".into()
            }
            .to_string(),
            "The metadata feature can only be applied to a client by Akamai."
        );
        assert_eq!(
            ClientsError::MetadataClientOperatorOnly {
                operator: "ACME Ops".into()
            }
            .to_string(),
            "Clients with the metadata feature can only be updated by ACME Ops."
        );
        assert_eq!(
            ClientsError::from(DuplicateClientName { name: "x y".into() }).to_string(),
            "API client x y already exists."
        );
    }
}

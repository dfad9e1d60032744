//! The Config API's one error mapping: every failure becomes `{"errors": "<message>"}` with a
//! real status code.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::ValidationError;
use crate::service::{
    AccessSchemaError, AppsError, AuthError, ClientsError, EntityTypesError, ServiceError,
    SettingsError, SinkError, StagingError,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The client use cases' own refusals (their shared ones arrive as `Service`).
    #[error(transparent)]
    Clients(ClientsError),
    /// The settings use cases' own refusals (their shared ones arrive as `Service`).
    #[error(transparent)]
    Settings(SettingsError),
    /// No access schema where one was read or deleted as a resource.
    #[error(transparent)]
    AccessSchema(AccessSchemaError),
    /// The entity type changes' own refusals.
    #[error(transparent)]
    EntityTypes(EntityTypesError),
    /// Creating an application's own refusals (its shared ones arrive as `Service`).
    #[error(transparent)]
    Apps(AppsError),
    /// The staging toolkit's own refusals (its shared ones arrive as `Service`).
    #[error(transparent)]
    Staging(StagingError),
    /// The sinks' own refusals (their shared ones arrive as `Service`).
    #[error(transparent)]
    Sink(SinkError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("Invalid JSON body.")]
    InvalidJson,
    #[error("Request body too large.")]
    BodyTooLarge,
    #[error("Request body not received in time.")]
    BodyTimeout,
}

impl ConfigError {
    fn message(&self) -> String {
        match self {
            ConfigError::Auth(e) => auth_answer(e).1.into(),
            other => other.to_string(),
        }
    }
}

/// The status and message of a failed authentication: one table for both.
fn auth_answer(e: &AuthError) -> (StatusCode, &'static str) {
    match e {
        AuthError::BadCredentials => (StatusCode::UNAUTHORIZED, "Authentication required."),
        AuthError::IpNotAllowed => (StatusCode::FORBIDDEN, "Forbidden"),
        AuthError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "Service unavailable."),
        AuthError::RateLimited { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed authentication attempts.",
        ),
        AuthError::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Unexpected internal error.",
        ),
    }
}

/// A JSON type error of a body field is the service's `Invalid` (400 with the seed's message).
impl From<ValidationError> for ConfigError {
    fn from(e: ValidationError) -> Self {
        ConfigError::Service(ServiceError::from(e))
    }
}

// Shared refusals are mapped in one place, `status_of`.
crate::http::from_area_error!(ConfigError:
    ClientsError => Clients,
    SettingsError => Settings,
    AccessSchemaError => AccessSchema,
    EntityTypesError => EntityTypes,
    AppsError => Apps,
    StagingError => Staging,
    SinkError => Sink,
);

/// The client rules: adding `metadata` is a bad request (seed 004 lists it with the 400s), the
/// other rules about who may change what are forbidden, a taken name a conflict.
pub fn clients_status(e: &ClientsError) -> StatusCode {
    match e {
        ClientsError::Service(e) => status_of(e),
        ClientsError::MetadataOperatorOnly { .. } => StatusCode::BAD_REQUEST,
        ClientsError::MetadataClientOperatorOnly { .. }
        | ClientsError::OwnerSelfRemoval
        | ClientsError::OwnerRemovalOperatorOnly { .. }
        | ClientsError::OwnerUndeletable => StatusCode::FORBIDDEN,
        ClientsError::DuplicateName(_) => StatusCode::CONFLICT,
        ClientsError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
    }
}

/// A bad setting key or value is the caller's mistake.
pub fn settings_status(e: &SettingsError) -> StatusCode {
    match e {
        SettingsError::Service(e) => status_of(e),
        SettingsError::Invalid(_) => StatusCode::BAD_REQUEST,
    }
}

/// An access schema that is not there is absent.
pub fn access_schema_status(e: &AccessSchemaError) -> StatusCode {
    match e {
        AccessSchemaError::Service(e) => status_of(e),
        AccessSchemaError::NotFound => StatusCode::NOT_FOUND,
    }
}

/// A taken type name, or a change an access schema still depends on: conflicts with the
/// current state.
fn entity_types_status(e: &EntityTypesError) -> StatusCode {
    match e {
        EntityTypesError::Service(e) => status_of(e),
        EntityTypesError::Exists { .. }
        | EntityTypesError::AttributeInUse { .. }
        | EntityTypesError::InUse { .. } => StatusCode::CONFLICT,
    }
}

/// Creating an application: a malformed pinned id is the caller's mistake, a name or id that is
/// taken a conflict.
pub fn apps_status(e: &AppsError) -> StatusCode {
    match e {
        AppsError::Service(e) => status_of(e),
        AppsError::InvalidId => StatusCode::BAD_REQUEST,
        AppsError::DuplicateName { .. } | AppsError::DuplicateId { .. } => StatusCode::CONFLICT,
    }
}

/// The staging toolkit's refusals: a bad document or snapshot name is the caller's mistake, a
/// snapshot that is not there is absent.
fn staging_status(e: &StagingError) -> StatusCode {
    match e {
        StagingError::Service(e) => status_of(e),
        StagingError::Fixture(_) | StagingError::InvalidSnapshotName(_) => StatusCode::BAD_REQUEST,
        StagingError::SnapshotNotFound => StatusCode::NOT_FOUND,
        StagingError::DuplicateClientName(_) => StatusCode::CONFLICT,
    }
}

/// A sink's refusals: a bad configuration or target is the caller's mistake, a sink that is not
/// there is absent, a name that is taken a conflict.
fn sink_status(e: &SinkError) -> StatusCode {
    match e {
        SinkError::Service(e) => status_of(e),
        SinkError::NotFound => StatusCode::NOT_FOUND,
        SinkError::Duplicate { .. } => StatusCode::CONFLICT,
        SinkError::Config(_)
        | SinkError::UnknownApp { .. }
        | SinkError::AppNotCovered
        | SinkError::CaFile { .. }
        | SinkError::NoSecretToRotate
        | SinkError::RewindNeedsApp
        | SinkError::BadRevision
        | SinkError::RewindTarget
        | SinkError::SealingKeyMissing => StatusCode::BAD_REQUEST,
    }
}

pub fn status_of(e: &ServiceError) -> StatusCode {
    use ServiceError::*;
    match e {
        Invalid(_) => StatusCode::BAD_REQUEST,
        Forbidden => StatusCode::FORBIDDEN,
        ClientNotFound | AppNotFound => StatusCode::NOT_FOUND,
        Unauthenticated => StatusCode::UNAUTHORIZED,
        Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        Schema(_) => StatusCode::BAD_REQUEST,
        EntityTypeNotFound { .. } => StatusCode::NOT_FOUND,
        // Asked for what this server is not configured for: the request, as sent, cannot
        // succeed here (the operator learns which setting is missing).
        AuditInput(_) | SealingKeyMissing => StatusCode::BAD_REQUEST,
        // This server's configuration is at fault, not the request.
        AuditChainDamaged { .. } | SealingKeyUnavailable => StatusCode::INTERNAL_SERVER_ERROR,
        ProofInput(_) => StatusCode::BAD_REQUEST,
        AuditTreeIncomplete | AuditHold { .. } => StatusCode::CONFLICT,
        NoCheckpointYet => StatusCode::NOT_FOUND,
        CheckpointKeyMissing => StatusCode::SERVICE_UNAVAILABLE,
        SinksOwe { .. } => StatusCode::CONFLICT,
    }
}

impl ResponseError for ConfigError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConfigError::Service(e) => status_of(e),
            ConfigError::Clients(e) => clients_status(e),
            ConfigError::Settings(e) => settings_status(e),
            ConfigError::AccessSchema(e) => access_schema_status(e),
            ConfigError::EntityTypes(e) => entity_types_status(e),
            ConfigError::Apps(e) => apps_status(e),
            ConfigError::Staging(e) => staging_status(e),
            ConfigError::Sink(e) => sink_status(e),
            ConfigError::Auth(e) => auth_answer(e).0,
            ConfigError::InvalidJson => StatusCode::BAD_REQUEST,
            ConfigError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ConfigError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = error_body(self.status_code(), &self.message());
        if self.status_code() == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"latchkey\""),
            );
        }
        if self.status_code() == StatusCode::SERVICE_UNAVAILABLE {
            crate::http::retry_after(&mut res);
        }
        if let ConfigError::Auth(AuthError::RateLimited { retry_after_secs }) = self {
            res.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(*retry_after_secs),
            );
        }
        res
    }
}

/// `{"errors": "<message>"}`: every Config API and operator failure.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody<'a> {
    #[schema(example = "Authentication required.")]
    pub errors: &'a str,
}

pub fn error_body(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(ErrorBody { errors: message })
}

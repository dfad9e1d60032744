//! OAuth 2.0 client credentials (docs/oauth.md): a service of its own over the core one. It
//! issues RFC 9068 access tokens to the API clients of an application (features as scopes),
//! publishes the application's keys, introspects and revokes tokens, and keeps the signing keys
//! and the clients' registered keys.
//!
//! Client authentication reuses the core's: a secret goes through [`Latchkey::authenticate`]
//! (Argon2, the verified-credential cache, rotation grace periods, the failure limiter, the
//! allow list); a private_key_jwt assertion is checked here against the client's registered keys
//! and then meets the same limiter and allow list.

mod keys;
mod tokens;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub use keys::{KeyInfo, OAuthSettings, Overview, RotationReport};
pub use tokens::{ClientAuth, Introspection, IssuedToken, TokenRequest};

use super::{AuthError, Latchkey, ServiceError};
use crate::auth::jose::JoseError;
use crate::domain::oauth::{AssertionError, ScopeError};
use crate::store::StoreError;

/// Why an OAuth call failed, in RFC 6749 §5.2's terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(String),
    /// Client authentication failed: unknown client, wrong secret, bad assertion (the reason is
    /// for the log, never for the caller).
    #[error("client authentication failed")]
    InvalidClient { reason: String },
    #[error("{0}")]
    UnauthorizedClient(String),
    #[error("only grant_type=client_credentials is supported")]
    UnsupportedGrantType,
    #[error("{0}")]
    InvalidScope(String),
    #[error("{0}")]
    InvalidTarget(String),
    #[error("too many failed authentications")]
    RateLimited { retry_after_secs: u64 },
    #[error("application not found")]
    AppNotFound,
    /// The server has no sealing key, so it cannot keep signing keys.
    #[error("OAuth needs a sealing key (LATCHKEY_SEALING_KEY or LATCHKEY_SEALING_KEY_FILE)")]
    NoSealingKey,
    #[error("service unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl OAuthError {
    /// Whether the client was authenticated before the call failed (metrics label the
    /// application only then, so unauthenticated traffic cannot grow the label set).
    pub fn after_authentication(&self) -> bool {
        matches!(
            self,
            OAuthError::UnauthorizedClient(_)
                | OAuthError::InvalidScope(_)
                | OAuthError::InvalidTarget(_)
        )
    }

    /// The RFC 6749 error code.
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient { .. } => "invalid_client",
            OAuthError::UnauthorizedClient(_) => "unauthorized_client",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::InvalidTarget(_) => "invalid_target",
            OAuthError::RateLimited { .. } | OAuthError::Unavailable | OAuthError::NoSealingKey => {
                "temporarily_unavailable"
            }
            OAuthError::AppNotFound => "not_found",
            OAuthError::Internal => "server_error",
        }
    }
}

impl From<AuthError> for OAuthError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::BadCredentials => OAuthError::InvalidClient {
                reason: "bad credentials".into(),
            },
            AuthError::IpNotAllowed => {
                OAuthError::UnauthorizedClient("the client may not call from this address".into())
            }
            AuthError::RateLimited { retry_after_secs } => {
                OAuthError::RateLimited { retry_after_secs }
            }
            AuthError::Unavailable => OAuthError::Unavailable,
            AuthError::Internal => OAuthError::Internal,
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        AuthError::from(e).into()
    }
}

impl From<sqlx::Error> for OAuthError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::from(e).into()
    }
}

impl From<ScopeError> for OAuthError {
    fn from(e: ScopeError) -> Self {
        match e {
            ScopeError::Invalid { .. } => OAuthError::InvalidScope(e.to_string()),
            ScopeError::Unauthorized(m) => OAuthError::UnauthorizedClient(m.into()),
        }
    }
}

impl From<AssertionError> for OAuthError {
    fn from(e: AssertionError) -> Self {
        OAuthError::InvalidClient {
            reason: e.to_string(),
        }
    }
}

impl From<JoseError> for OAuthError {
    fn from(e: JoseError) -> Self {
        tracing::error!(error = %e, "OAuth key failure");
        OAuthError::Internal
    }
}

impl From<OAuthError> for ServiceError {
    fn from(e: OAuthError) -> Self {
        match e {
            OAuthError::AppNotFound => ServiceError::AppNotFound,
            OAuthError::NoSealingKey => ServiceError::SealingKeyMissing,
            OAuthError::Unavailable | OAuthError::RateLimited { .. } => ServiceError::Unavailable,
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

/// Settings of the OAuth service.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// How clients reach this server (`LATCHKEY_PUBLIC_URL`), without a trailing slash.
    pub public_url: String,
    /// The JWKS `Cache-Control: max-age`; a new key signs only this long after it is published.
    pub jwks_max_age: Duration,
}

/// The OAuth service: the core service plus a per-instance cache of opened key sets.
#[derive(Clone)]
pub struct OAuth {
    core: Latchkey,
    config: Arc<OAuthConfig>,
    keysets: moka::sync::Cache<String, Arc<keys::Cached>>,
}

impl OAuth {
    pub fn new(core: Latchkey, config: OAuthConfig) -> Self {
        Self {
            core,
            config: Arc::new(OAuthConfig {
                public_url: config.public_url.trim_end_matches('/').to_owned(),
                jwks_max_age: config.jwks_max_age,
            }),
            keysets: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
        }
    }

    pub fn core(&self) -> &Latchkey {
        &self.core
    }

    pub fn jwks_max_age(&self) -> Duration {
        self.config.jwks_max_age
    }

    /// The issuer of an application's tokens.
    pub fn issuer(&self, app_id: &str) -> String {
        crate::domain::oauth::issuer(&self.config.public_url, app_id)
    }

    /// The token endpoint of an application (an accepted assertion audience besides the issuer).
    pub fn token_endpoint(&self, app_id: &str) -> String {
        format!("{}/token", self.issuer(app_id))
    }
}

/// Where an application's endpoints are (RFC 8414 metadata).
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub issuer: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
}

impl OAuth {
    /// The endpoints of an existing application.
    pub async fn endpoints(
        &self,
        app_id: &crate::domain::ids::Named<crate::domain::ids::AppId>,
    ) -> Result<Endpoints, OAuthError> {
        if !crate::domain::is_storable_text(app_id.as_str())
            || crate::store::apps::get(&self.core.pool, app_id.as_str())
                .await?
                .is_none()
        {
            return Err(OAuthError::AppNotFound);
        }
        let issuer = self.issuer(app_id.as_str());
        Ok(Endpoints {
            token_endpoint: format!("{issuer}/token"),
            jwks_uri: format!("{issuer}/jwks"),
            introspection_endpoint: format!("{issuer}/introspect"),
            revocation_endpoint: format!("{issuer}/revoke"),
            issuer,
        })
    }
}

/// The source address a call came from, for the limiter and the allow list.
pub type Source = IpAddr;

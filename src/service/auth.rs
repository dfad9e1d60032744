//! Authentication: who is calling, checked once per request.

use std::net::IpAddr;

use super::snapshots::FoundClient;
use super::{Caller, Latchkey};
use crate::auth::secrets::Presented;
use crate::auth::{Credentials, Verification};
use crate::domain::ids::{is_token, AppId, ClientId, CLIENT_ID_LEN};
use crate::domain::{is_storable_text, AllowList, FeatureSet};
use crate::store::{self, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Missing, malformed or wrong credentials, or an unknown client: deliberately one case.
    #[error("bad credentials")]
    BadCredentials,
    /// The credentials are right but the source address is outside the client's allow list.
    #[error("source address not allowed")]
    IpNotAllowed,
    /// Too many fresh failed guesses from this source (docs/limits.md).
    #[error("too many failed authentications")]
    RateLimited { retry_after_secs: u64 },
    #[error("service unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => AuthError::Unavailable,
            // An id PostgreSQL cannot even hold names no client.
            StoreError::UnstorableText(_) => AuthError::BadCredentials,
            other => {
                tracing::error!(error = %other, "database error during authentication");
                AuthError::Internal
            }
        }
    }
}

/// How a client's secret check ended, when it did not prove the caller.
enum ClientCheck {
    /// Argon2 ran and the secret did not match: a guess, counted against its source.
    FreshFailure,
    /// This secret already failed against the same live hashes: answered from memory.
    RememberedFailure,
    Other(AuthError),
}

impl From<AuthError> for ClientCheck {
    fn from(e: AuthError) -> Self {
        ClientCheck::Other(e)
    }
}

impl Latchkey {
    /// Authenticates a request. `app_id` is the application named by the URL (Config API);
    /// `None` finds the application from the client id (Registration API). The operator token
    /// is accepted for any application.
    ///
    /// Lock-out and timing rules (docs/limits.md), kept in this function and
    /// [`crate::auth::SecretHasher::verify`]: only a *fresh guess* — a credential that needs an
    /// Argon2 run and fails it, or a wrong operator token — counts against its source; a source
    /// over its limit gets 429 for new guesses only. A credential already verified is no guess
    /// and is never refused for its source; a replayed wrong secret is answered 401 from memory.
    /// Nothing is counted per client id, so no one can lock an id's owner out.
    pub async fn authenticate(
        &self,
        app_id: Option<&str>,
        credentials: Option<Credentials>,
        source_ip: IpAddr,
    ) -> Result<Caller, AuthError> {
        let rate_limited = |wait: std::time::Duration| AuthError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        };
        match credentials {
            // Nothing presented: nothing guessed, nothing to count.
            None => Err(AuthError::BadCredentials),
            Some(Credentials::Bearer(token)) => {
                if let Some(wait) = self.limiter.blocked(source_ip) {
                    return Err(rate_limited(wait));
                }
                if self.operator_token.matches(&token) {
                    Ok(Caller::Operator)
                } else {
                    self.limiter.record_failure(source_ip);
                    Err(AuthError::BadCredentials)
                }
            }
            Some(Credentials::Client { client_id, secret }) => {
                // Checked before any query, so a blocked source costs nothing but this lookup.
                let presented = self.hasher.presented(&client_id, &secret);
                if !self.hasher.was_verified(&presented) {
                    if let Some(wait) = self.limiter.blocked(source_ip) {
                        return Err(rate_limited(wait));
                    }
                }
                let result = self
                    .check_client_secret(app_id, &presented, &client_id, &secret, source_ip)
                    .await;
                if matches!(result, Err(ClientCheck::FreshFailure)) {
                    self.limiter.record_failure(source_ip);
                }
                result.map_err(|e| match e {
                    ClientCheck::FreshFailure | ClientCheck::RememberedFailure => {
                        AuthError::BadCredentials
                    }
                    ClientCheck::Other(e) => e,
                })
            }
        }
    }

    async fn check_client_secret(
        &self,
        app_id: Option<&str>,
        presented: &Presented,
        client_id: &str,
        secret: &str,
        source_ip: IpAddr,
    ) -> Result<Caller, ClientCheck> {
        let found = self.load_credentials(app_id, client_id).await?;
        let verification = self
            .hasher
            .verify_presented(
                presented,
                client_id,
                secret,
                found.as_ref().map(|c| c.live_phcs()).as_deref(),
            )
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "secret verification failed");
                AuthError::Internal
            })?;
        let (found, phc, rehashed, cache_hit) = match (found, verification) {
            (
                Some(found),
                Verification::Verified {
                    phc,
                    rehashed,
                    cache_hit,
                },
            ) => (found, phc, rehashed, cache_hit),
            (_, Verification::Failed { fresh: false }) => {
                return Err(ClientCheck::RememberedFailure)
            }
            _ => return Err(ClientCheck::FreshFailure),
        };
        self.seal_on_use(&found, &phc, secret).await;
        let client = found.client();
        if !cache_hit {
            self.record_verified_secret(&client.app_id, &client.client_id, &phc, rehashed)
                .await;
        }
        if !AllowList::permits_among(&client.ip_whitelist, source_ip) {
            return Err(AuthError::IpNotAllowed.into());
        }
        Ok(Caller::Client {
            features: FeatureSet::from_stored(&client.features),
            // As stored: every stored id was parsed or drawn.
            app_id: AppId::from_trusted(client.app_id.clone()),
            client_id: ClientId::from_trusted(client.client_id.clone()),
        })
    }

    async fn load_credentials(
        &self,
        app_id: Option<&str>,
        client_id: &str,
    ) -> Result<Option<FoundClient>, AuthError> {
        // A malformed id (or an application id PostgreSQL cannot hold) cannot exist; skip the
        // queries but not the Argon2 run that follows.
        if !is_token(client_id, CLIENT_ID_LEN) || !app_id.is_none_or(is_storable_text) {
            return Ok(None);
        }
        // From this instance's snapshot, or the database (strict mode, lost listener).
        Ok(self.find_credentials(app_id, client_id).await?)
    }

    /// After a full Argon2 check: store a re-hash made with the current parameters, or note the
    /// use. Best effort: failing to record it must not fail the request.
    async fn record_verified_secret(
        &self,
        app_id: &str,
        client_id: &str,
        phc: &str,
        rehashed: Option<String>,
    ) {
        let result = match rehashed {
            Some(new_phc) => {
                store::secrets::replace_phc(&self.pool, app_id, client_id, phc, &new_phc).await
            }
            None => store::secrets::touch(&self.pool, app_id, client_id, phc).await,
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not record secret use");
        }
    }

    /// Checks a secret presented on someone else's behalf (the access decision) exactly as
    /// [`Latchkey::authenticate`] checks a caller's: same cache, Argon2 off the async threads,
    /// re-hash of old parameters. `phcs`: the client's live hashes, `None` for no such client
    /// (which still costs one Argon2 run, so it cannot be told from a wrong secret).
    pub(crate) async fn verify_client_secret(
        &self,
        app_id: &str,
        client_id: &str,
        secret: &str,
        phcs: Option<&[String]>,
    ) -> Result<bool, AuthError> {
        let verification = self
            .hasher
            .verify(client_id, secret, phcs)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "secret verification failed");
                AuthError::Internal
            })?;
        match verification {
            Verification::Verified {
                phc,
                rehashed,
                cache_hit,
            } => {
                if !cache_hit {
                    self.record_verified_secret(app_id, client_id, &phc, rehashed)
                        .await;
                }
                Ok(true)
            }
            Verification::Failed { .. } => Ok(false),
        }
    }
}

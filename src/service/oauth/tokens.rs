//! The token endpoint (client_credentials), introspection (RFC 7662), revocation (RFC 7009)
//! and the clients' registered keys for private_key_jwt (RFC 7523).

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{OAuth, OAuthError, Source};
use crate::auth::jose::{self, VerifyError};
use crate::auth::random::random_token;
use crate::auth::Credentials;
use crate::domain::audit_action::AuditAction;
use crate::domain::audit_changes::{self as changes_of, Payload};
use crate::domain::ids::{is_token, AppId, ClientId, Named, CLIENT_ID_LEN};
use crate::domain::oauth::{
    check_assertion, check_resource, granted_scope, parse_scope, AccessClaims, AssertionClaims,
    AssertionError, Audience, CLIENT_CREDENTIALS,
};
use crate::domain::{AllowList, Feature, FeatureSet};
use crate::service::{commit, commit_audited, Caller, Committed, RequestContext, ServiceError};
use crate::store::{self, WriteTx};

/// How a client authenticates at the OAuth endpoints.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic` (HTTP Basic) or `client_secret_post` (form parameters).
    Secret { client_id: String, secret: String },
    /// `private_key_jwt`: a JWT signed with a key registered for the client.
    Assertion {
        /// The `client_id` parameter, when sent (it must then be the assertion's subject).
        client_id: Option<String>,
        assertion: String,
    },
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAuth::Secret { client_id, .. } => f
                .debug_struct("Secret")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            ClientAuth::Assertion { client_id, .. } => f
                .debug_struct("Assertion")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
        }
    }
}

/// A token request as the adapter read it.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub grant_type: String,
    pub scope: Option<String>,
    /// `resource` parameters (RFC 8707), in order.
    pub resources: Vec<String>,
}

/// A token issued.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
    pub scope: String,
    pub client_id: String,
}

/// What introspection tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Introspection {
    Inactive,
    Active(AccessClaims),
}

/// A client proven at an OAuth endpoint.
#[derive(Debug, Clone)]
struct Authenticated {
    /// The application the client was found in (the one the path names).
    app_id: AppId,
    client_id: String,
    features: FeatureSet,
}

impl OAuth {
    /// Client authentication for the token, introspection and revocation endpoints.
    async fn authenticate_client(
        &self,
        app_id: &Named<AppId>,
        auth: ClientAuth,
        source: Source,
    ) -> Result<Authenticated, OAuthError> {
        match auth {
            ClientAuth::Secret { client_id, secret } => {
                let caller = self
                    .core
                    .authenticate(
                        Some(app_id.as_str()),
                        Some(Credentials::Client { client_id, secret }),
                        source,
                    )
                    .await?;
                match caller {
                    Caller::Client {
                        app_id,
                        client_id,
                        features,
                    } => Ok(Authenticated {
                        app_id,
                        client_id: client_id.into_string(),
                        features,
                    }),
                    Caller::Operator => Err(OAuthError::InvalidClient {
                        reason: "the operator is not a client".into(),
                    }),
                }
            }
            ClientAuth::Assertion {
                client_id,
                assertion,
            } => {
                if let Some(wait) = self.core.limiter.blocked(source) {
                    return Err(OAuthError::RateLimited {
                        retry_after_secs: wait.as_secs().max(1),
                    });
                }
                let result = self
                    .check_assertion(app_id, client_id.as_deref(), &assertion, source)
                    .await;
                if matches!(result, Err(OAuthError::InvalidClient { .. })) {
                    self.core.limiter.record_failure(source);
                }
                result
            }
        }
    }

    /// private_key_jwt: the assertion's subject is a client of the application with registered
    /// keys, one of which signed it; its claims pass [`check_assertion`]; its `jti` was never
    /// accepted before (on any server); then the client's allow list.
    async fn check_assertion(
        &self,
        app_id: &Named<AppId>,
        client_param: Option<&str>,
        assertion: &str,
        source: Source,
    ) -> Result<Authenticated, OAuthError> {
        // The subject, read before the signature is checked, only to find the keys.
        let unverified: AssertionClaims = jsonwebtoken::dangerous::insecure_decode(assertion)
            .map(|d| d.claims)
            .map_err(|_| AssertionError::Signature)?;
        let client_id = unverified.sub.clone().unwrap_or_default();
        if client_param.is_some_and(|c| c != client_id) || !is_token(&client_id, CLIENT_ID_LEN) {
            return Err(AssertionError::Subject.into());
        }
        let found = self
            .core
            .find_credentials(Some(app_id.as_str()), &client_id)
            .await?
            .ok_or(AssertionError::Signature)?;
        let jwks = store::oauth::client_jwks(&self.core.pool, app_id.as_str(), &client_id)
            .await?
            .and_then(|v| serde_json::from_value::<JwkSet>(v).ok())
            .ok_or(AssertionError::Signature)?;
        let claims: AssertionClaims =
            jose::verify(assertion, &jwks, false).map_err(|e| match e {
                VerifyError::Expired => AssertionError::Expired,
                _ => AssertionError::Signature,
            })?;
        let (issuer, token_endpoint) = (
            self.issuer(app_id.as_str()),
            self.token_endpoint(app_id.as_str()),
        );
        let now = Utc::now().timestamp();
        check_assertion(
            &claims,
            &client_id,
            &[token_endpoint.as_str(), issuer.as_str()],
            now,
        )?;
        let jti = claims.jti.as_deref().unwrap_or_default();
        let hash = Sha256::new()
            .chain_update(client_id.as_bytes())
            .chain_update([0])
            .chain_update(jti.as_bytes())
            .finalize();
        let expires_at = DateTime::from_timestamp(claims.exp.unwrap_or(now), 0)
            .unwrap_or_else(Utc::now)
            + chrono::Duration::seconds(crate::domain::oauth::ASSERTION_LEEWAY_SECS);
        let log = store::replays::ReplayLog::OAuthAssertions;
        if !store::replays::record(&self.core.pool, log, app_id.as_str(), &hash, expires_at).await?
        {
            return Err(AssertionError::Replayed.into());
        }
        if rand::random::<u8>() < 4 {
            if let Err(e) = store::oauth::purge_expired(&self.core.pool, app_id.as_str()).await {
                tracing::warn!(error = %e, "could not remove expired OAuth records");
            }
        }
        let client = found.client();
        if !AllowList::permits_among(&client.ip_whitelist, source) {
            return Err(crate::service::AuthError::IpNotAllowed.into());
        }
        Ok(Authenticated {
            app_id: AppId::from_trusted(client.app_id.clone()),
            client_id: client.client_id.clone(),
            features: FeatureSet::from_stored(&client.features),
        })
    }

    /// `POST /oauth/{appId}/token`: the client_credentials grant.
    pub async fn issue_token(
        &self,
        app_id: &Named<AppId>,
        auth: ClientAuth,
        request: TokenRequest,
        source: Source,
    ) -> Result<IssuedToken, OAuthError> {
        if request.grant_type != CLIENT_CREDENTIALS {
            return Err(OAuthError::UnsupportedGrantType);
        }
        let client = self.authenticate_client(app_id, auth, source).await?;
        let scope = granted_scope(&client.features, request.scope.as_deref())?;
        for resource in &request.resources {
            check_resource(resource).map_err(|e| OAuthError::InvalidTarget(e.to_string()))?;
        }
        let set = self.key_set(app_id.as_str()).await?;
        let now = Utc::now();
        let key = set.signing(now).ok_or(OAuthError::Internal)?;
        let issuer = self.issuer(app_id.as_str());
        let lifetime = set.settings.token_lifetime_secs;
        let claims = AccessClaims::new(
            &issuer,
            &client.client_id,
            Audience::of(request.resources, &issuer),
            &scope,
            now.timestamp(),
            lifetime,
            random_token(24),
        );
        let access_token = key.signer.sign_access_token(&claims)?;
        Ok(IssuedToken {
            access_token,
            expires_in: lifetime,
            scope: claims.scope,
            client_id: client.client_id,
        })
    }

    /// Verifies a token of this application (signature with a published key, issuer; expiry
    /// when `check_exp`). `None`: not a token of this application.
    async fn verified(
        &self,
        app_id: &Named<AppId>,
        token: &str,
        check_exp: bool,
    ) -> Result<Option<AccessClaims>, OAuthError> {
        if jose::header_typ(token).is_none_or(|t| !t.eq_ignore_ascii_case("at+jwt")) {
            return Ok(None);
        }
        let set = self.key_set(app_id.as_str()).await?;
        let claims: AccessClaims = match jose::verify(token, &set.jwks(), check_exp) {
            Ok(c) => c,
            Err(_) => return Ok(None),
        };
        Ok((claims.iss == self.issuer(app_id.as_str())).then_some(claims))
    }

    /// `POST /oauth/{appId}/introspect`. The caller is a client of the application with `owner`
    /// or `access_issuer` (any token), or the token's own client; for anyone else every token
    /// is inactive. A token is active when it verifies, has not expired, was not revoked, and
    /// its client still exists with every feature of its scope (from this instance's snapshot,
    /// kept fresh by the change notifications).
    pub async fn introspect(
        &self,
        app_id: &Named<AppId>,
        auth: ClientAuth,
        token: &str,
        source: Source,
    ) -> Result<Introspection, OAuthError> {
        let caller = self.authenticate_client(app_id, auth, source).await?;
        let Some(claims) = self.verified(app_id, token, true).await? else {
            return Ok(Introspection::Inactive);
        };
        let privileged = caller.features.contains(Feature::Owner)
            || caller.features.contains(Feature::AccessIssuer);
        if !privileged && caller.client_id != claims.client_id {
            return Ok(Introspection::Inactive);
        }
        if store::oauth::is_revoked(&self.core.pool, app_id.as_str(), &claims.jti).await? {
            return Ok(Introspection::Inactive);
        }
        let Some(client) = self
            .core
            .find_credentials(Some(app_id.as_str()), &claims.client_id)
            .await?
        else {
            return Ok(Introspection::Inactive);
        };
        let has = FeatureSet::from_stored(&client.client().features);
        let still =
            parse_scope(&claims.scope).is_some_and(|scope| scope.iter().all(|f| has.contains(f)));
        Ok(if still {
            Introspection::Active(claims)
        } else {
            Introspection::Inactive
        })
    }

    /// `POST /oauth/{appId}/revoke`: the token's own client or an owner revokes it until it
    /// expires. Unknown, foreign or expired tokens: nothing to do (200). Audited as
    /// `oauth.token_revoke` (once per token).
    pub async fn revoke(
        &self,
        app_id: &Named<AppId>,
        auth: ClientAuth,
        token: &str,
        request_id: &str,
        source: Source,
    ) -> Result<Committed<()>, OAuthError> {
        let caller = self.authenticate_client(app_id, auth, source).await?;
        let Some(claims) = self.verified(app_id, token, false).await? else {
            return Ok(Committed::unchanged(()));
        };
        if caller.client_id != claims.client_id && !caller.features.contains(Feature::Owner) {
            return Err(OAuthError::UnauthorizedClient(
                "only the token's own client or an owner may revoke it".into(),
            ));
        }
        let Some(expires_at) = DateTime::from_timestamp(claims.exp, 0) else {
            return Ok(Committed::unchanged(()));
        };
        if expires_at <= Utc::now() {
            return Ok(Committed::unchanged(()));
        }
        let mut tx = WriteTx::begin(&self.core.pool).await?;
        if store::oauth::revoke(
            &mut tx,
            app_id.as_str(),
            &claims.jti,
            &claims.client_id,
            expires_at,
        )
        .await?
        {
            let ctx = RequestContext {
                request_id: request_id.to_owned(),
                source_ip: Some(source),
                caller: Caller::Client {
                    app_id: caller.app_id,
                    client_id: ClientId::from_trusted(caller.client_id),
                    features: caller.features,
                },
                read_at_least: None,
                clock: self.core.clock().clone(),
            };
            let mut event = ctx.audit_event(app_id.as_str(), AuditAction::OAuthTokenRevoke);
            event.target_client_id = Some(claims.client_id.clone());
            event.changes = changes_of::TokenRevoked::new(&claims.jti, &expires_at).into_changes();
            store::audit::append(&mut tx, event).await?;
        }
        commit(tx, ()).await.map_err(|e| {
            tracing::error!(error = %e, "revocation failed");
            OAuthError::Unavailable
        })
    }

    /// The client's registered public keys (owner only). `None`: none registered.
    pub async fn client_jwks(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        client_id: &Named<ClientId>,
    ) -> Result<Option<Value>, ServiceError> {
        ctx.owner()?;
        self.require_client(app_id, client_id).await?;
        Ok(store::oauth::client_jwks(&self.core.pool, app_id.as_str(), client_id.as_str()).await?)
    }

    /// Replaces the client's registered keys (owner only); audited as `client.jwks_set`.
    pub async fn set_client_jwks(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        client_id: &Named<ClientId>,
        jwks: &Value,
    ) -> Result<Committed<Result<Value, String>>, ServiceError> {
        ctx.owner()?;
        if let Err(e) = jose::parse_client_jwks(jwks) {
            return Ok(Committed::unchanged(Err(e)));
        }
        let mut tx = WriteTx::begin(&self.core.pool).await?;
        self.require_client_in(&mut tx, app_id, client_id).await?;
        let before =
            store::oauth::put_client_jwks(&mut tx, app_id.as_str(), client_id.as_str(), jwks)
                .await?;
        if before.as_ref() != Some(jwks) {
            let mut event = ctx.audit_event(app_id.as_str(), AuditAction::ClientJwksSet);
            event.target_client_id = Some(client_id.to_string());
            event.changes =
                changes_of::ClientKeysChanged::set(before.as_ref(), jwks).into_changes();
            store::audit::append(&mut tx, event).await?;
        }
        commit(tx, Ok(jwks.clone())).await
    }

    /// Removes the client's registered keys (owner only); audited as `client.jwks_delete`.
    /// False: it had none.
    pub async fn delete_client_jwks(
        &self,
        ctx: &RequestContext,
        app_id: &Named<AppId>,
        client_id: &Named<ClientId>,
    ) -> Result<Committed<bool>, ServiceError> {
        ctx.owner()?;
        let mut tx = WriteTx::begin(&self.core.pool).await?;
        self.require_client_in(&mut tx, app_id, client_id).await?;
        let Some(before) =
            store::oauth::delete_client_jwks(&mut tx, app_id.as_str(), client_id.as_str()).await?
        else {
            return Ok(Committed::unchanged(false));
        };
        let mut event = ctx.audit_event(app_id.as_str(), AuditAction::ClientJwksDelete);
        event.target_client_id = Some(client_id.to_string());
        event.changes = changes_of::ClientKeysChanged::deleted(&before).into_changes();
        commit_audited(tx, event, true).await
    }

    async fn require_client(
        &self,
        app_id: &Named<AppId>,
        client_id: &Named<ClientId>,
    ) -> Result<(), ServiceError> {
        let mut conn = self.core.pool.acquire().await?;
        self.require_client_in(&mut conn, app_id, client_id).await
    }

    async fn require_client_in(
        &self,
        conn: &mut sqlx::PgConnection,
        app_id: &Named<AppId>,
        client_id: &Named<ClientId>,
    ) -> Result<(), ServiceError> {
        store::clients::get(&mut *conn, app_id.as_str(), client_id.as_str())
            .await?
            .map(|_| ())
            .ok_or(ServiceError::ClientNotFound)
    }
}

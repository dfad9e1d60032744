//! Authentication of `janrain-signed` Registration API requests (the scheme itself is in
//! `crate::auth::signature`). Kept apart from Basic authentication (`auth.rs`): it shares the
//! failure limiter, the allow list and the caller it produces, nothing else.
//!
//! Order of the checks, and what each answer can tell a caller:
//! 1. a malformed header: bad credentials;
//! 2. the client, looked up by id (one query whether it exists or not);
//! 3. an application without signed requests: the 205 refusal it always gave;
//! 4. the Date: present, well-formed and within the window (no secret involved yet);
//! 5. the signature against every live sealed secret (grace periods included), in constant
//!    time; an unknown client, a wrong signature and an expired secret are one answer, and an
//!    unknown client costs the same AES-GCM and HMAC work as a known one;
//! 6. for a write, the signature not seen before (in PostgreSQL, so every server agrees); a
//!    read may be repeated inside the window ([`Operation`]);
//! 7. the allow list.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{AuthError, Caller, Latchkey};
use crate::auth::sealing::Sealed;
use crate::auth::signature::{self, SignatureHeader};
use crate::domain::ids::{is_token, AppId, ClientId, CLIENT_ID_LEN};
use crate::domain::{AllowList, FeatureSet};
use crate::store::{self, signed::SigningCredentials};

/// A signed request as the adapter read it.
pub struct SignedRequest<'a> {
    /// The `Authorization` header value (`Signature id:mac`).
    pub authorization: &'a str,
    /// The `Date` header value, if any.
    pub date: Option<&'a str>,
    /// The root-anchored path that was called (`/clients/list`).
    pub path: &'a str,
    /// Every parameter as sent (query string and form body).
    pub params: Vec<(&'a str, &'a str)>,
    /// Whether the operation called changes state; the adapter knows it from its route table.
    pub operation: Operation,
}

/// What the called operation does, which decides whether an identical signed request may be
/// answered again inside its `Date` window. The vendor's libraries sign with a one-second `Date`
/// and no nonce, so two identical calls in one second carry the same signature: a repeated read
/// changes nothing (and whoever can replay it could read the first answer), so it is answered;
/// a repeated write is refused as a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Read,
    Write,
}

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// As for Basic: bad credentials, allow list, rate limit, database trouble.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The client's application does not take signed requests.
    #[error("signed requests are not enabled for this application")]
    NotEnabled,
    #[error("the Date header is missing")]
    MissingDate,
    #[error("the Date header is not of the form YYYY-MM-DD HH:MM:SS")]
    BadDate,
    /// The Date is further from the server's clock than the window allows.
    #[error("the Date header is {skew_secs} seconds from the server's clock")]
    Stale { skew_secs: i64, window_secs: u64 },
    /// The same signature of a write was already accepted within its window.
    #[error("this signature was already used")]
    Replayed,
    /// No sealed secret matched, and the client has a secret minted before its application
    /// took signed requests: it cannot be checked until it is sealed.
    #[error("the client's secret is not sealed yet")]
    Unsealed,
}

impl Latchkey {
    /// Authenticates a signed Registration API request. Failed signatures count in the failure
    /// limit of their source exactly like failed Basic guesses (docs/limits.md); nothing is
    /// counted per client id.
    pub async fn authenticate_signed(
        &self,
        request: SignedRequest<'_>,
        source_ip: IpAddr,
    ) -> Result<Caller, SignatureError> {
        let header = signature::parse_header(request.authorization);
        if let Some(wait) = self.limiter.blocked(source_ip) {
            return Err(AuthError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            }
            .into());
        }
        let result = self
            .check_signed(header.as_ref(), &request, source_ip)
            .await;
        if matches!(
            result,
            Err(SignatureError::Auth(AuthError::BadCredentials) | SignatureError::Unsealed)
        ) {
            self.limiter.record_failure(source_ip);
        }
        result
    }

    async fn check_signed(
        &self,
        header: Option<&SignatureHeader>,
        request: &SignedRequest<'_>,
        source_ip: IpAddr,
    ) -> Result<Caller, SignatureError> {
        let header = header.ok_or(AuthError::BadCredentials)?;
        let rows = if is_token(&header.client_id, CLIENT_ID_LEN) {
            store::signed::signing_credentials(&self.pool, &header.client_id)
                .await
                .map_err(AuthError::from)?
        } else {
            Vec::new()
        };
        let found = match rows.as_slice() {
            [one] => Some(one),
            _ => None,
        };
        if found.is_some_and(|f| !f.signed_requests) {
            return Err(SignatureError::NotEnabled);
        }
        let date_text = request.date.ok_or(SignatureError::MissingDate)?;
        let date = signature::parse_date(date_text).ok_or(SignatureError::BadDate)?;
        let window = self.signature_window;
        let skew_secs = (Utc::now() - date).num_seconds();
        if skew_secs.unsigned_abs() > window.as_secs() {
            return Err(SignatureError::Stale {
                skew_secs,
                window_secs: window.as_secs(),
            });
        }
        let message =
            signature::string_to_sign(request.path, date_text, request.params.iter().copied());
        let no_params = !request
            .params
            .iter()
            .any(|(k, _)| signature::is_signed_param(k));
        let Some(found) = found else {
            self.match_nothing(&message);
            return Err(AuthError::BadCredentials.into());
        };
        self.match_signature(found, &message, no_params, &header.mac)?;
        if request.operation == Operation::Write {
            self.refuse_replay(found, header, date).await?;
        }
        let client = &found.client;
        if !AllowList::from_nets(client.ip_whitelist.clone()).permits(source_ip) {
            return Err(AuthError::IpNotAllowed.into());
        }
        Ok(Caller::Client {
            features: FeatureSet::from_stored(&client.features),
            app_id: AppId::from_trusted(client.app_id.clone()),
            client_id: ClientId::from_trusted(client.client_id.clone()),
        })
    }

    /// Checks the signature against each live secret (newest first; two during a rotation's
    /// grace period), all of them, whatever matched.
    fn match_signature(
        &self,
        found: &SigningCredentials,
        message: &str,
        no_params: bool,
        mac: &[u8; signature::MAC_LEN],
    ) -> Result<(), SignatureError> {
        let Some(ring) = self.sealer.as_deref() else {
            // Refused at start (check_sealing_ready); kept total.
            tracing::error!("a signed-requests application, but no sealing key");
            return Err(AuthError::Internal.into());
        };
        let client = &found.client;
        let mut matched = false;
        let mut unsealed = false;
        let mut opened = 0;
        for (blob, key_id) in found.sealed.iter().zip(&found.sealing_key_ids) {
            let (Some(blob), Some(key_id)) = (blob, key_id) else {
                unsealed = true;
                continue;
            };
            let sealed = Sealed {
                key_id: key_id.clone(),
                blob: blob.clone(),
            };
            match ring.open(&client.app_id, &client.client_id, &sealed) {
                Ok(secret) => {
                    opened += 1;
                    matched |= signature::verify(&secret, message, no_params, mac);
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    client_id = client.client_id,
                    "cannot open a sealed secret"
                ),
            }
        }
        if opened == 0 {
            self.match_nothing(message);
        }
        match (matched, unsealed) {
            (true, _) => Ok(()),
            (false, true) => Err(SignatureError::Unsealed),
            (false, false) => Err(AuthError::BadCredentials.into()),
        }
    }

    /// The work of one check with nothing to check against: an unknown client (or one with no
    /// sealed secret) costs what a known one costs.
    fn match_nothing(&self, message: &str) {
        if let Some(ring) = self.sealer.as_deref() {
            ring.open_nothing();
        }
        let _ = signature::verify("", message, true, &[0; signature::MAC_LEN]);
    }

    /// Records the accepted signature; refuses it when it was already recorded inside its
    /// window. The record lasts until the Date's window closes: after that the Date check
    /// refuses the request anyway.
    async fn refuse_replay(
        &self,
        found: &SigningCredentials,
        header: &SignatureHeader,
        date: DateTime<Utc>,
    ) -> Result<(), SignatureError> {
        let app_id = &found.client.app_id;
        let hash = Sha256::new()
            .chain_update(header.client_id.as_bytes())
            .chain_update([0])
            .chain_update(header.mac)
            .finalize();
        let window = chrono::Duration::from_std(self.signature_window)
            .unwrap_or_else(|_| chrono::Duration::seconds(300));
        let log = store::replays::ReplayLog::SignedRequests;
        let fresh = store::replays::record(&self.pool, log, app_id, &hash, date + window)
            .await
            .map_err(AuthError::from)?;
        if !fresh {
            return Err(SignatureError::Replayed);
        }
        // Expired records are swept now and then (about one request in 64), per application.
        if rand::random::<u8>() < 4 {
            if let Err(e) = store::replays::purge_expired(&self.pool, log, app_id).await {
                tracing::warn!(error = %e, "could not remove expired signature records");
            }
        }
        Ok(())
    }
}
